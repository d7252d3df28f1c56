"""One HTTP request to a price source, and fetching it with aiohttp (bounded time and size)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import aiohttp

from .model import TariffFormatError, TariffSourceError

MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest answer read (a week of 15-min ENTSO-E XML is ~200 kB)."""
USER_AGENT = "Ampacity/0.1 (tariff driver)"


@dataclass(frozen=True, slots=True)
class TariffRequest:
    """What to send.

    Attributes:
        method: ``GET`` or ``POST``.
        url: the full URL without query.
        params: query parameters.
        headers: extra headers (``Authorization`` for Tibber).
        json_body: the JSON body of a POST (Tibber's GraphQL query).
    """

    method: Literal["GET", "POST"]
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None

    def redacted(self) -> str:
        """``METHOD url`` for messages, without tokens."""
        return f"{self.method} {self.url}"


async def fetch(
    session: aiohttp.ClientSession,
    request: TariffRequest,
    provider: str,
    timeout_s: float,
    max_bytes: int = MAX_BODY_BYTES,
) -> bytes:
    """Send ``request`` and return the body of a 2xx answer.

    Raises:
        TariffSourceError: no answer in time, connection failed, a non-2xx status (with the
            start of the body), or a body larger than ``max_bytes``.
    """
    headers = {"User-Agent": USER_AGENT, **request.headers}
    try:
        async with session.request(
            request.method,
            request.url,
            params=dict(request.params),
            headers=headers,
            json=request.json_body,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            body = await response.content.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise TariffSourceError(
                    f"{provider}: {request.redacted()}: answer larger than {max_bytes} bytes"
                )
            if not 200 <= response.status < 300:
                excerpt = body[:200].decode("utf-8", "replace").strip()
                raise TariffSourceError(
                    f"{provider}: {request.redacted()}: HTTP {response.status} {response.reason}"
                    + (f": {excerpt}" if excerpt else "")
                )
            return body
    except TimeoutError:
        raise TariffSourceError(
            f"{provider}: {request.redacted()}: no answer within {timeout_s:g} s"
        ) from None
    except aiohttp.ClientError as exc:
        raise TariffSourceError(f"{provider}: {request.redacted()}: {exc}") from exc


def load_json(provider: str, body: bytes | bytearray) -> Any:
    """Decode a JSON body.

    Raises:
        TariffFormatError: not UTF-8 JSON (the message says where it broke).
    """
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TariffFormatError(f"{provider}: body: not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise TariffFormatError(
            f"{provider}: body: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None


def request_window(now: datetime, zone: ZoneInfo, days: int = 2) -> tuple[datetime, datetime]:
    """``[start of today, start of today + days)`` in ``zone``, as UTC times.

    Day starts are computed in the local zone, so a DST day spans 23 or 25 hours.
    """
    local_today = now.astimezone(zone).date()
    start = datetime.combine(local_today, time(0), tzinfo=zone)
    end = datetime.combine(local_today + timedelta(days=days), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
