"""The eCB1's meter over HTTP: ``GET <url>/api/v1/meters/<id>`` into point values.

The controller answers ``{"meter": {"id": 1, "name": ..., "data": {"<OBIS>": number, ...}}}``.
It reports import and export as separate non-negative values (``1-0:1.4.0`` active power+ and
``1-0:2.4.0`` active power-, both W; ``1-0:1.8.0`` / ``1-0:2.8.0`` energies in kWh); the profile
says which keys make which point and how they combine (``minus``: import minus export gives the
model's signed grid power, + = import).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import aiohttp
from ampacity.assets import AssetKind, PointValue, Quality
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.runtime import DeviceError, PointKey, Sample
from pydantic import BaseModel, ConfigDict, Field


class ObisPoint(BaseModel):
    """One model point from the meter's ``data`` object.

    Attributes:
        obis: the key whose number is the value (e.g. ``1-0:1.4.0``).
        minus: a key whose number is subtracted (export from import: signed power).
        scale: model unit per device unit (kWh -> Wh: 1000).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    obis: str = Field(min_length=1)
    minus: str | None = None
    scale: float = 1.0


class Ecb1Meter(BaseModel):
    """The meter asset: its model points and where each one is in ``data``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = "meter"
    kind: AssetKind = AssetKind.ELECTRICITY_METER
    points: dict[str, ObisPoint] = Field(min_length=1)


class Ecb1Profile(ProfileHeader):
    """A ``driver: hardybarth_ecb1`` profile.

    Attributes:
        api_path: the API's base path below the controller's URL.
        timeout_s: how long one request may take.
        meter: the meter asset.
    """

    driver: str = "hardybarth_ecb1"
    api_path: str = Field("/api/v1", pattern=r"^/")
    timeout_s: float = Field(3.0, gt=0, le=30)
    meter: Ecb1Meter

    def asset_kinds(self) -> tuple[tuple[str, AssetKind], ...]:
        return ((self.meter.key, self.meter.kind),)


class Ecb1Link:
    """Reads one meter of one eCB1 controller."""

    def __init__(self, url: str, meter_id: int, profile: Ecb1Profile) -> None:
        self.base = url.rstrip("/") + profile.api_path.rstrip("/")
        self.meter_id = meter_id
        self.profile = profile
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.base}/meters/{self.meter_id}"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        """The meter's point values.

        Raises:
            OSError: the controller cannot be reached.
            DeviceError: it answered, but not with this meter's data.
        """
        body = await self._get()
        meter = body.get("meter")
        if not isinstance(meter, dict):
            raise DeviceError(f"{self.endpoint}: the answer has no 'meter' object")
        data = meter.get("data")
        if not isinstance(data, dict):
            raise DeviceError(f"{self.endpoint}: meter {self.meter_id} has no 'data' object")
        return decode(self.profile.meter, meter, data, self.endpoint)

    async def _get(self) -> dict[str, Any]:
        try:
            async with self._http().get(self.endpoint) as response:
                if response.status == 404:
                    raise DeviceError(
                        f"{self.endpoint}: no meter {self.meter_id} on this controller (HTTP 404)"
                    )
                if response.status != 200:
                    raise DeviceError(f"{self.endpoint} answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except aiohttp.ClientConnectionError as exc:
            raise OSError(f"cannot reach {self.endpoint}: {exc}") from exc
        except aiohttp.ContentTypeError as exc:  # pragma: no cover - content_type=None
            raise DeviceError(f"{self.endpoint}: the answer is not JSON") from exc
        except ValueError as exc:
            raise DeviceError(f"{self.endpoint}: the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise DeviceError(f"{self.endpoint}: the answer is not a JSON object")
        return body

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        raise DeviceError(f"{point[0]}.{point[1]}: the eCB1 meter has no setpoints")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def decode(
    asset: Ecb1Meter, meter: Mapping[str, Any], data: Mapping[str, Any], where: str
) -> dict[PointKey, PointValue | Sample]:
    """Point values from one meter object; a key the meter does not send gives BadOutOfRange.

    Raises:
        DeviceError: none of the profile's keys is in ``data`` (another device's answer).
    """
    out: dict[PointKey, PointValue | Sample] = {}
    found = 0
    for name, point in asset.points.items():
        value = _number(data, point.obis)
        minus = _number(data, point.minus) if point.minus is not None else 0.0
        if value is None or minus is None:
            out[(asset.key, name)] = Sample(None, Quality.BAD_OUT_OF_RANGE)
            continue
        found += 1
        out[(asset.key, name)] = round((value - minus) * point.scale, 9)
    if not found:
        keys = ", ".join(sorted(str(k) for k in data)[:8]) or "none"
        raise DeviceError(f"{where}: none of the expected OBIS keys in 'data' (it has: {keys})")
    for field, ident in (("name", "Model"), ("serial", "SerialNumber"), ("vendor", "Manufacturer")):
        text = meter.get(field)
        if isinstance(text, str | int) and not isinstance(text, bool) and str(text).strip():
            out[(asset.key, f"Identification.{ident}")] = str(text).strip()
    return out


def _number(data: Mapping[str, Any], key: str) -> float | None:
    raw = data.get(key)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
