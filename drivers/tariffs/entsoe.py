"""ENTSO-E Transparency Platform: day-ahead prices (article 12.1.D) per bidding zone (token).

Provider documentation: ENTSO-E Transparency Platform RESTful API implementation guide,
https://transparency.entsoe.eu/content/static_content/Static%20content/web%20api/Guide.html
("4.2.10 Day Ahead Prices [12.1.D]") and the knowledge base,
https://transparencyplatform.zendesk.com/hc/en-us -- ``GET https://web-api.tp.entsoe.eu/api``
with ``securityToken``, ``documentType=A44``, ``in_Domain`` = ``out_Domain`` = the zone's EIC
(DE-LU ``10Y1001A1001A82H``), ``periodStart``/``periodEnd`` as ``yyyyMMddHHmm`` in UTC.

Answer: an XML ``Publication_MarketDocument`` (namespace
``urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:x``) with one ``TimeSeries`` per day and
auction: ``currency_Unit.name`` (EUR), ``price_Measure_Unit.name`` (MWH), ``curveType``,
optionally ``classificationSequence_AttributeInstanceComponent.position`` and ``Period``
elements of ``timeInterval`` (``start``/``end``, UTC, ``2026-02-16T23:00Z``), ``resolution``
(``PT15M``, ``PT60M``) and ``Point`` (``position`` from 1, ``price.amount``). With curve type
``A03`` (variable-sized blocks) a position that is left out repeats the price before it; with
``A01`` a missing position is a gap. No data: HTTP 200/400 with an
``Acknowledgement_MarketDocument`` whose ``Reason/text`` says why.

DE-LU publishes two day-ahead series since 2025: the SDAC auction and EXAA's 10:15 auction,
told apart by the classification sequence position. Series are taken by lowest position first
(or only ``entsoe_sequence`` when configured), then finest resolution first; a slot already
covered is not taken again.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import TariffConfig
from .http import TariffRequest, request_window
from .model import ParsedSlots, PriceSlot, TariffSourceError, normalise
from .parsing import fail, iso_time, per_kwh_factor, show

PROVIDER = "entsoe"
HOST = "https://web-api.tp.entsoe.eu"
PATH = "/api"
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def build_request(config: TariffConfig, now: datetime) -> TariffRequest:
    """Today and tomorrow (in ``config.timezone``) for the configured zone."""
    start, end = request_window(now, config.zone)
    eic = config.entsoe_eic or ""
    return TariffRequest(
        "GET",
        (config.base_url or HOST).rstrip("/") + PATH,
        params={
            "securityToken": config.secret(),
            "documentType": "A44",
            "in_Domain": eic,
            "out_Domain": eic,
            "periodStart": start.strftime("%Y%m%d%H%M"),
            "periodEnd": end.strftime("%Y%m%d%H%M"),
        },
    )


@dataclass(slots=True)
class _Series:
    order: tuple[int, timedelta, int]
    slots: list[PriceSlot]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: ET.Element, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _duration(where: str, text: str | None) -> timedelta:
    match = _DURATION.match(text or "")
    if not match or not any(match.groups()):
        raise fail(PROVIDER, f"{where}.resolution", f"not an ISO 8601 duration ({show(text)})")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    step = timedelta(days=days, hours=hours, minutes=minutes)
    if step <= timedelta(0):
        raise fail(PROVIDER, f"{where}.resolution", f"zero duration ({show(text)})")
    return step


def _integer(where: str, text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise fail(PROVIDER, where, f"not an integer ({show(text)})") from None


def _price(where: str, text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise fail(PROVIDER, where, f"not a number ({show(text)})") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise fail(PROVIDER, where, f"not a finite number ({show(text)})")
    return value


def _acknowledgement(root: ET.Element) -> TariffSourceError:
    reasons = []
    for reason in _children(root, "Reason"):
        code, text = _text(reason, "code"), _text(reason, "text")
        reasons.append(" ".join(x for x in (code, text) if x))
    return TariffSourceError(
        f"{PROVIDER}: acknowledgement instead of prices: {'; '.join(reasons) or 'no reason given'}"
    )


def _period(
    where: str, period: ET.Element, factor: float, curve: str, skipped: list[str]
) -> tuple[timedelta, list[PriceSlot]]:
    interval = _child(period, "timeInterval")
    if interval is None:
        raise fail(PROVIDER, f"{where}.timeInterval", "missing")
    start = iso_time(PROVIDER, f"{where}.timeInterval.start", _text(interval, "start"))
    end = iso_time(PROVIDER, f"{where}.timeInterval.end", _text(interval, "end"))
    if end <= start:
        raise fail(PROVIDER, f"{where}.timeInterval.end", "not after start")
    step = _duration(where, _text(period, "resolution"))
    count = int((end - start) / step)
    given: dict[int, float | None] = {}
    for j, point in enumerate(_children(period, "Point")):
        at = f"{where}.Point[{j}]"
        position = _integer(f"{at}.position", _text(point, "position"))
        price = _price(f"{at}.price.amount", _text(point, "price.amount"))
        if not 1 <= position <= count:
            skipped.append(f"{PROVIDER}: {at}.position: {position} outside 1..{count}; left out")
            continue
        if price is None:
            skipped.append(f"{PROVIDER}: {at}.price.amount: missing; slot left out")
        given.setdefault(position, price)
    slots: list[PriceSlot] = []
    previous: float | None = None
    for position in range(1, count + 1):
        if position in given:
            price = given[position]
            previous = price
        elif curve == "A03" and previous is not None:
            price = previous  # variable-sized block: the price before it continues
        else:
            skipped.append(f"{PROVIDER}: {where}: no Point for position {position}")
            continue
        if price is None:
            continue
        slot_start = start + step * (position - 1)
        slots.append(PriceSlot(slot_start, slot_start + step, price * factor))
    return step, slots


def parse_entsoe(
    payload: bytes | str, *, sequence: int | None = None, currency: str | None = "EUR"
) -> ParsedSlots:
    """ENTSO-E A44 XML -> wholesale slots in currency/kWh.

    Args:
        payload: the XML document.
        sequence: keep only TimeSeries with this classification sequence position.
        currency: expected ``currency_Unit.name``; a series in another one is an error.

    Raises:
        TariffFormatError: not XML or not the documented shape (located:
            ``entsoe: TimeSeries[0].Period[0].Point[3].price.amount: not a number ('x')``).
        TariffSourceError: an ``Acknowledgement_MarketDocument`` (no data, bad request).
    """
    try:
        root = ET.fromstring(payload)
    except ET.ParseError as exc:
        raise fail(PROVIDER, "body", f"not XML ({exc})") from None
    name = _local(root.tag)
    if name == "Acknowledgement_MarketDocument":
        raise _acknowledgement(root)
    if name != "Publication_MarketDocument":
        raise fail(PROVIDER, "body", f"root is {name}, expected Publication_MarketDocument")
    skipped: list[str] = []
    series: list[_Series] = []
    for k, ts in enumerate(_children(root, "TimeSeries")):
        where = f"TimeSeries[{k}]"
        unit_currency = _text(ts, "currency_Unit.name")
        if currency is not None and unit_currency is not None and unit_currency != currency:
            raise fail(PROVIDER, f"{where}.currency_Unit.name", f"{unit_currency}, not {currency}")
        factor = per_kwh_factor(
            PROVIDER,
            f"{where}.price_Measure_Unit.name",
            _text(ts, "price_Measure_Unit.name") or "MWH",
        )
        contract = _text(ts, "contract_MarketAgreement.type")
        if contract not in (None, "A01"):
            skipped.append(
                f"{PROVIDER}: {where}: contract type {contract} (not day-ahead); left out"
            )
            continue
        position_text = _text(ts, "classificationSequence_AttributeInstanceComponent.position")
        position = (
            _integer(
                f"{where}.classificationSequence_AttributeInstanceComponent.position", position_text
            )
            if position_text is not None
            else None
        )
        if sequence is not None and position is not None and position != sequence:
            continue
        curve = _text(ts, "curveType") or "A01"
        for p, period in enumerate(_children(ts, "Period")):
            step, slots = _period(f"{where}.Period[{p}]", period, factor, curve, skipped)
            rank = position if position is not None else 1
            if sequence is not None:
                rank = 0 if position == sequence else 1
            order = (rank, step, k)
            series.append(_Series(order, slots))
    if not series and sequence is not None:
        skipped.append(f"{PROVIDER}: no TimeSeries with classification sequence {sequence}")
    series.sort(key=lambda s: s.order)
    ordered = [slot for s in series for slot in s.slots]
    quiet: list[str] = []  # overlaps between series are expected (other auction, other MTU)
    result = normalise(PROVIDER, ordered, quiet)
    result.skipped = skipped + [m for m in quiet if "no price for" in m]
    return result


def slots_from_body(body: bytes, config: TariffConfig) -> ParsedSlots:
    """Parse one answer."""
    return parse_entsoe(body, sequence=config.entsoe_sequence, currency=config.currency)
