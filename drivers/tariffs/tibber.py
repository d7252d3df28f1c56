"""Tibber: the customer's own end-customer prices through Tibber's GraphQL API (token).

Provider documentation: Tibber developer API, https://developer.tibber.com/docs/guides/calling-api
and the API reference (``PriceInfo``, ``Price``, ``PriceLevel``),
https://developer.tibber.com/docs/reference -- ``POST https://api.tibber.com/v1-beta/gql`` with
header ``Authorization: Bearer <token>`` and body ``{"query": ...}``. The query used::

    { viewer { homes { id currentSubscription { status
        priceInfo(resolution: QUARTER_HOURLY) {
          current  { total energy tax startsAt currency level }
          today    { total energy tax startsAt currency level }
          tomorrow { total energy tax startsAt currency level } } } } } }

Answer: ``{"data": {"viewer": {"homes": [{"currentSubscription": {"priceInfo": {...}}}]}}}``
(``viewer.home`` instead of ``viewer.homes`` for a query by home id is read too), or
``{"errors": [{"message": ...}], "data": null}``. ``total`` = ``energy`` + ``tax`` is the
end-customer price (VAT included) in ``currency`` per kWh; ``startsAt`` is ISO 8601 with the
home's offset. ``tomorrow`` stays empty until the day-ahead results are out (~13:00 CET).
Without ``resolution: QUARTER_HOURLY`` the API returns hourly prices. Slots carry a start only;
a slot ends where the next starts (see ``parsing.slot_ends``).

Monthly product (price per month, no smart meter): Tibber's API has no contract-price field.
The driver uses ``monthly_price_per_kwh`` from the configuration when given (the price on the
contract or invoice); otherwise the ``current.total`` of the same query, held flat.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .config import TariffConfig
from .http import TariffRequest, load_json
from .model import ParsedSlots, PriceSlot, TariffSourceError, normalise
from .parsing import HOUR, QUARTER_HOUR, fail, iso_time, number_or_none, show, slot_ends

PROVIDER = "tibber"
HOST = "https://api.tibber.com"
PATH = "/v1-beta/gql"
_FIELDS = "total energy tax startsAt currency level"


def price_query(resolution: str = "QUARTER_HOURLY") -> str:
    """The GraphQL query for current, today's and tomorrow's prices of every home."""
    return (
        "{ viewer { homes { id currentSubscription { status "
        f"priceInfo(resolution: {resolution}) {{ current {{ {_FIELDS} }} "
        f"today {{ {_FIELDS} }} tomorrow {{ {_FIELDS} }} }} }} }} }} }}"
    )


def build_request(config: TariffConfig, now: datetime) -> TariffRequest:
    """The price query, authorised with the configured token."""
    resolution = "HOURLY" if config.product == "hourly" else "QUARTER_HOURLY"
    return TariffRequest(
        "POST",
        (config.base_url or HOST).rstrip("/") + PATH,
        headers={
            "Authorization": f"Bearer {config.secret()}",
            "Content-Type": "application/json",
        },
        json_body={"query": price_query(resolution)},
    )


def _price_info(payload: Any, home_id: str | None) -> tuple[dict[str, Any], str, list[str]]:
    """The ``priceInfo`` object of the chosen home, its path, and GraphQL error messages."""
    if isinstance(payload, str | bytes | bytearray):
        payload = load_json(
            PROVIDER, bytes(payload, "utf-8") if isinstance(payload, str) else payload
        )
    if not isinstance(payload, dict):
        raise fail(PROVIDER, "body", "not a JSON object")
    errors = payload.get("errors")
    messages: list[str] = []
    if isinstance(errors, list):
        for e in errors:
            text = e.get("message") if isinstance(e, dict) else e
            messages.append(str(text)[:200])
    data = payload.get("data")
    if data is None and messages:
        raise TariffSourceError(f"{PROVIDER}: API error: {'; '.join(messages)}")
    if not isinstance(data, dict):
        raise fail(PROVIDER, "data", "missing or not an object")
    viewer = data.get("viewer")
    if not isinstance(viewer, dict):
        raise fail(PROVIDER, "data.viewer", "missing or not an object")
    homes: list[tuple[str, Any]]
    if isinstance(viewer.get("homes"), list):
        homes = [(f"data.viewer.homes[{i}]", h) for i, h in enumerate(viewer["homes"])]
    elif isinstance(viewer.get("home"), dict):
        homes = [("data.viewer.home", viewer["home"])]
    else:
        raise fail(PROVIDER, "data.viewer.homes", "missing or not a list")
    if home_id is not None:
        homes = [(p, h) for p, h in homes if isinstance(h, dict) and h.get("id") in (home_id, None)]
        if not homes:
            raise TariffSourceError(f"{PROVIDER}: no home with id {home_id!r} for this token")
    for path, home in homes:
        if not isinstance(home, dict):
            raise fail(PROVIDER, path, "not an object")
        subscription = home.get("currentSubscription")
        if subscription is None:
            continue  # a home without an active contract
        if not isinstance(subscription, dict):
            raise fail(PROVIDER, f"{path}.currentSubscription", "not an object")
        info = subscription.get("priceInfo")
        where = f"{path}.currentSubscription.priceInfo"
        if not isinstance(info, dict):
            raise fail(PROVIDER, where, "missing or not an object")
        return info, where, messages
    raise TariffSourceError(
        f"{PROVIDER}: no home with a current subscription"
        + (f" ({'; '.join(messages)})" if messages else "")
    )


def _entry(
    where: str, entry: Any, currency: str | None, skipped: list[str]
) -> tuple[datetime, float | None]:
    if not isinstance(entry, dict):
        raise fail(PROVIDER, where, "not an object")
    start = iso_time(PROVIDER, f"{where}.startsAt", entry.get("startsAt"))
    total = number_or_none(PROVIDER, f"{where}.total", entry.get("total"))
    got = entry.get("currency")
    if currency is not None and got is not None and got != currency:
        raise fail(PROVIDER, f"{where}.currency", f"{show(got)}, configured {currency!r}")
    if total is None:
        skipped.append(f"{PROVIDER}: {where}.total: null; slot left out")
    return start, total


def parse_tibber(
    payload: Any,
    *,
    home_id: str | None = None,
    currency: str | None = None,
    resolution: timedelta = QUARTER_HOUR,
) -> ParsedSlots:
    """Tibber ``priceInfo`` JSON (decoded, or its text) -> end-customer slots in currency/kWh.

    ``today`` and ``tomorrow`` give the slots (``current`` is one of them and is used when
    ``today`` lacks it; a ``range`` connection, ``nodes`` or ``edges``, is read too). An empty
    or null ``tomorrow`` is normal before ~13:00 CET. A null ``total`` skips its slot
    (reported).

    Args:
        payload: the decoded JSON answer.
        home_id: which home (default: the first home with a current subscription).
        currency: expected currency; an entry in another one is an error.
        resolution: slot length to assume for a lone slot (15 min for QUARTER_HOURLY).

    Raises:
        TariffFormatError: not the documented shape (located: ``tibber:
            data.viewer.homes[0].currentSubscription.priceInfo.today[3].total: not a number``).
        TariffSourceError: GraphQL ``errors`` without data, no such home, no subscription.
    """
    info, where, messages = _price_info(payload, home_id)
    skipped = [f"{PROVIDER}: API error: {m}" for m in messages]
    prices: dict[datetime, float | None] = {}
    for day in ("today", "tomorrow"):
        entries = info.get(day)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise fail(PROVIDER, f"{where}.{day}", "not a list")
        for i, raw in enumerate(entries):
            start, total = _entry(f"{where}.{day}[{i}]", raw, currency, skipped)
            if start not in prices:
                prices[start] = total
    for path, raw in _range_entries(info, where):
        start, total = _entry(path, raw, currency, skipped)
        if start not in prices:
            prices[start] = total
    current = info.get("current")
    if current is not None:
        start, total = _entry(f"{where}.current", current, currency, skipped)
        if prices.get(start) is None:
            prices[start] = total
    starts = sorted(prices)
    if not starts:
        return ParsedSlots([], skipped)
    ends = slot_ends(starts, resolution)
    slots = [
        PriceSlot(start, end, total)
        for start, end in zip(starts, ends, strict=True)
        if (total := prices[start]) is not None
    ]
    return normalise(PROVIDER, slots, skipped)


def _range_entries(info: dict[str, Any], where: str) -> list[tuple[str, Any]]:
    """Entries of ``priceInfo.range(...)`` when the query asked for it: ``{nodes: [...]}`` or
    the connection form ``{edges: [{node: ...}]}``."""
    found = info.get("range")
    if found is None:
        return []
    if not isinstance(found, dict):
        raise fail(PROVIDER, f"{where}.range", "not an object")
    if isinstance(found.get("nodes"), list):
        return [(f"{where}.range.nodes[{i}]", n) for i, n in enumerate(found["nodes"])]
    if isinstance(found.get("edges"), list):
        out = []
        for i, edge in enumerate(found["edges"]):
            if not isinstance(edge, dict):
                raise fail(PROVIDER, f"{where}.range.edges[{i}]", "not an object")
            out.append((f"{where}.range.edges[{i}].node", edge.get("node")))
        return out
    raise fail(PROVIDER, f"{where}.range", "neither nodes nor edges")


def tibber_current_price(
    payload: Any, *, home_id: str | None = None, currency: str | None = None
) -> float:
    """``priceInfo.current.total``: the price now, currency/kWh (for the monthly product).

    Raises:
        TariffFormatError: no ``current`` price in the answer, or not the documented shape.
        TariffSourceError: as ``parse_tibber``.
    """
    info, where, _ = _price_info(payload, home_id)
    current = info.get("current")
    if current is None:
        raise fail(PROVIDER, f"{where}.current", "missing")
    _, total = _entry(f"{where}.current", current, currency, [])
    if total is None:
        raise fail(PROVIDER, f"{where}.current.total", "null")
    return total


def slots_from_body(body: bytes, config: TariffConfig) -> ParsedSlots:
    """Decode and parse one answer (dynamic products)."""
    resolution = HOUR if config.product == "hourly" else QUARTER_HOUR
    return parse_tibber(
        load_json(PROVIDER, body),
        home_id=config.home_id,
        currency=config.currency,
        resolution=resolution,
    )
