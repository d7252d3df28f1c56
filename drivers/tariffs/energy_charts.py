"""Energy-Charts (Fraunhofer ISE): EPEX day-ahead prices per bidding zone, no token.

Provider documentation: Energy-Charts API, https://api.energy-charts.info/ (OpenAPI page,
operation "Day-Ahead Price", ``GET /price``) -- query ``bzn`` (bidding zone: ``DE-LU``, ``AT``,
``BE``, ``CH``, ``FR``, ``NL``, ``DK1``, ...), ``start`` and ``end`` (``YYYY-MM-DD``). Answer::

    {"license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from ...",
     "unix_seconds": [1727733600, 1727734500, ...],
     "price": [81.2, 79.95, ...],
     "unit": "EUR / MWh",
     "deprecated": false}

``unix_seconds`` are slot starts; ``price`` is aligned with them (EUR/MWh, always EUR, also for
zones with another local currency). The answer carries no slot length: a slot ends where the next
one starts (15 min since the 15-min day-ahead market of 1 Oct 2025, 60 min before), see
``parsing.slot_ends``. A missing day answers HTTP 404 with ``{"detail": ...}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .config import TariffConfig
from .http import TariffRequest, load_json, request_window
from .model import ParsedSlots, PriceSlot, TariffSourceError, normalise
from .parsing import default_step_for, epoch, fail, number_or_none, per_kwh_factor, slot_ends

PROVIDER = "energy-charts"
HOST = "https://api.energy-charts.info"
PATH = "/price"


def build_request(config: TariffConfig, now: datetime) -> TariffRequest:
    """Today and tomorrow (local dates of ``config.timezone``) for ``config.bidding_zone``."""
    start, end = request_window(now, config.zone)
    zone = config.zone
    last_day = (end - timedelta(seconds=1)).astimezone(zone).date()
    return TariffRequest(
        "GET",
        (config.base_url or HOST).rstrip("/") + PATH,
        params={
            "bzn": config.bidding_zone,
            "start": start.astimezone(zone).date().isoformat(),
            "end": last_day.isoformat(),
        },
    )


def parse_energy_charts(payload: Any) -> ParsedSlots:
    """Energy-Charts ``/price`` JSON (decoded, or its text) -> wholesale slots in currency/kWh.

    A null price skips its slot (reported); a gap between starts stays a gap.

    Raises:
        TariffFormatError: not the documented shape (located: ``energy-charts: price[5]: not a
            number ('n/a')``), or ``unix_seconds`` and ``price`` of different lengths.
        TariffSourceError: the answer is an error object (``{"detail": ...}``).
    """
    if isinstance(payload, str | bytes | bytearray):
        payload = load_json(
            PROVIDER, bytes(payload, "utf-8") if isinstance(payload, str) else payload
        )
    if not isinstance(payload, dict):
        raise fail(PROVIDER, "body", "not a JSON object")
    if "unix_seconds" not in payload and "detail" in payload:
        raise TariffSourceError(f"{PROVIDER}: no prices: {str(payload['detail'])[:200]}")
    times = payload.get("unix_seconds")
    prices = payload.get("price")
    if not isinstance(times, list):
        raise fail(PROVIDER, "unix_seconds", "missing or not a list")
    if not isinstance(prices, list):
        raise fail(PROVIDER, "price", "missing or not a list")
    if len(times) != len(prices):
        raise fail(
            PROVIDER, "price", f"{len(prices)} prices for {len(times)} unix_seconds: not aligned"
        )
    factor = per_kwh_factor(PROVIDER, "unit", payload.get("unit", "EUR / MWh"))
    skipped: list[str] = []
    by_start: dict[datetime, float | None] = {}
    index_of: dict[datetime, int] = {}
    for i, (raw_time, raw_price) in enumerate(zip(times, prices, strict=True)):
        start = epoch(PROVIDER, f"unix_seconds[{i}]", raw_time, scale=1.0)
        price = number_or_none(PROVIDER, f"price[{i}]", raw_price)
        if start in by_start:
            if by_start[start] != price:
                skipped.append(f"{PROVIDER}: unix_seconds[{i}]: repeated start; first kept")
            continue
        by_start[start] = price
        index_of[start] = i
    starts = sorted(by_start)
    if not starts:
        return ParsedSlots([], skipped)
    ends = slot_ends(starts, default_step_for(starts[0]))
    slots: list[PriceSlot] = []
    for start, end in zip(starts, ends, strict=True):
        price = by_start[start]
        if price is None:
            skipped.append(f"{PROVIDER}: price[{index_of[start]}]: null; slot left out")
            continue
        slots.append(PriceSlot(start, end, price * factor))
    return normalise(PROVIDER, slots, skipped)


def slots_from_body(body: bytes, config: TariffConfig) -> ParsedSlots:
    """Decode and parse one answer."""
    return parse_energy_charts(load_json(PROVIDER, body))
