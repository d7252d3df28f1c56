"""aWATTar market data (EPEX day-ahead, Germany and Austria), no authentication.

Provider documentation: aWATTar API, https://www.awattar.de/services/api and
https://www.awattar.at/services/api -- ``GET https://api.awattar.de/v1/marketdata`` (Austria:
``api.awattar.at``), optional query ``start`` and ``end`` in Unix milliseconds. Answer::

    {"object": "list",
     "data": [{"start_timestamp": 1698310800000, "end_timestamp": 1698314400000,
               "marketprice": 140, "unit": "Eur/MWh"}, ...],
     "url": "/de/v1/marketdata"}

``marketprice`` is the wholesale price in ``unit`` (EUR/MWh), without grid fees or VAT. Each
entry carries its own start and end, so 15-min and 60-min slots are read as they come.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .config import TariffConfig
from .http import TariffRequest, load_json, request_window
from .model import ParsedSlots, PriceSlot, normalise
from .parsing import epoch, fail, number_or_none, per_kwh_factor

PROVIDER = "awattar"
HOSTS = {"DE": "https://api.awattar.de", "AT": "https://api.awattar.at"}
PATH = "/v1/marketdata"


def build_request(config: TariffConfig, now: datetime) -> TariffRequest:
    """Today and tomorrow (in ``config.timezone``) from the configured market."""
    start, end = request_window(now, config.zone)
    base = config.base_url or HOSTS[config.market]
    return TariffRequest(
        "GET",
        base.rstrip("/") + PATH,
        params={
            "start": str(int(start.timestamp() * 1000)),
            "end": str(int(end.timestamp() * 1000)),
        },
    )


def parse_awattar(payload: Any) -> ParsedSlots:
    """aWATTar ``marketdata`` JSON (decoded, or its text) -> wholesale slots in currency/kWh.

    Entries with a null ``marketprice`` are skipped and reported.

    Raises:
        TariffFormatError: not the documented shape (located: ``awattar: data[3].marketprice:
            not a number ('abc')``).
    """
    if isinstance(payload, str | bytes | bytearray):
        payload = load_json(
            PROVIDER, bytes(payload, "utf-8") if isinstance(payload, str) else payload
        )
    if not isinstance(payload, dict):
        raise fail(PROVIDER, "body", "not a JSON object")
    data = payload.get("data")
    if not isinstance(data, list):
        raise fail(PROVIDER, "data", "missing or not a list")
    slots: list[PriceSlot] = []
    skipped: list[str] = []
    for i, entry in enumerate(data):
        where = f"data[{i}]"
        if not isinstance(entry, dict):
            raise fail(PROVIDER, where, "not an object")
        start = epoch(PROVIDER, f"{where}.start_timestamp", entry.get("start_timestamp"), scale=1e3)
        end = epoch(PROVIDER, f"{where}.end_timestamp", entry.get("end_timestamp"), scale=1e3)
        if end <= start:
            raise fail(PROVIDER, f"{where}.end_timestamp", "not after start_timestamp")
        price = number_or_none(PROVIDER, f"{where}.marketprice", entry.get("marketprice"))
        if price is None:
            skipped.append(f"{PROVIDER}: {where}.marketprice: null; slot left out")
            continue
        unit = entry.get("unit", "Eur/MWh")
        factor = per_kwh_factor(PROVIDER, f"{where}.unit", unit)
        slots.append(PriceSlot(start, end, price * factor))
    return normalise(PROVIDER, slots, skipped)


def slots_from_body(body: bytes, config: TariffConfig) -> ParsedSlots:
    """Decode and parse one answer."""
    return parse_awattar(load_json(PROVIDER, body))
