"""Price slots and the end-customer price.

A ``PriceSlot`` is one market time unit of a tariff: ``[start, end)`` in UTC and a price per kWh.
Sources give 15-min slots (the EPEX/SDAC day-ahead market since delivery day 1 Oct 2025) or 60-min
slots (older data, sources that stayed hourly); slots keep the length the source gives.

Price composition (wholesale sources: aWATTar, Energy-Charts, ENTSO-E)::

    wholesale EUR/MWh / 1000                          -> wholesale EUR/kWh
    + grid_fee_per_kwh + levies_per_kwh + margin_per_kwh
    * (1 + vat_pct / 100)                             -> end-customer price per kWh

Negative wholesale prices pass through (no clamping at 0): a tariff that passes a negative spot
price on gives a cheaper end-customer price, and the planner must see that.

Tibber delivers the end-customer price itself (``total`` = energy + tax, VAT included), so no
component is added to it unless the configuration names components explicitly.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field

MWH_PER_KWH = 1.0 / 1000.0


class TariffError(Exception):
    """A price source failed; the message says which source and why."""


class TariffFormatError(TariffError):
    """A provider's answer does not have the documented shape.

    The message is located: ``<provider>: <path>: <problem>``, e.g.
    ``awattar: data[3].marketprice: not a number ('abc')``.
    """


class TariffSourceError(TariffError):
    """The provider answered with an error (HTTP status, GraphQL errors, an acknowledgement)."""


@dataclass(frozen=True, slots=True)
class PriceSlot:
    """One slot of a tariff.

    Attributes:
        start: first instant of the slot, timezone-aware UTC.
        end: first instant after the slot, timezone-aware UTC (``end > start``).
        price_per_kwh: price in the tariff's currency per kWh (wholesale after parsing a wholesale
            source; end-customer after ``PriceComponents.apply``).
    """

    start: datetime
    end: datetime
    price_per_kwh: float

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("PriceSlot times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"PriceSlot end {self.end} not after start {self.start}")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def covers(self, when: datetime) -> bool:
        """``when`` lies in ``[start, end)``."""
        return self.start <= when < self.end


class ParsedSlots(list[PriceSlot]):
    """What a parse function returns: the good slots, sorted by start, no overlaps.

    Attributes:
        skipped: one located message per entry left out (null price, duplicate, overlap, gap).
    """

    def __init__(self, slots: Iterable[PriceSlot] = (), skipped: Iterable[str] = ()) -> None:
        super().__init__(slots)
        self.skipped: list[str] = list(skipped)


@dataclass(frozen=True, slots=True)
class EndCustomerPrice:
    """The end-customer price of one kWh and what it is made of (currency per kWh).

    ``total = (wholesale + grid_fee + levies + margin) * (1 + vat_pct / 100)``; ``vat`` is the VAT
    amount in that total.
    """

    wholesale: float
    grid_fee: float
    levies: float
    margin: float
    vat: float
    total: float


class PriceComponents(BaseModel):
    """What is added to a wholesale price to get the end-customer price.

    Attributes:
        grid_fee_per_kwh: grid fee (Netzentgelt), currency/kWh, net of VAT.
        levies_per_kwh: levies and taxes per kWh (electricity tax, concession fee, surcharges),
            currency/kWh, net of VAT.
        margin_per_kwh: the supplier's margin per kWh, currency/kWh, net of VAT.
        vat_pct: VAT on the sum, % (19 in Germany, 20 in Austria).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    grid_fee_per_kwh: float = Field(0.0, ge=-10, le=10)
    levies_per_kwh: float = Field(0.0, ge=-10, le=10)
    margin_per_kwh: float = Field(0.0, ge=-10, le=10)
    vat_pct: float = Field(0.0, ge=0, le=100)

    @property
    def is_zero(self) -> bool:
        """Nothing is added: the price stays what the source gives."""
        return (
            self.grid_fee_per_kwh == 0
            and self.levies_per_kwh == 0
            and self.margin_per_kwh == 0
            and self.vat_pct == 0
        )

    def compose(self, wholesale_per_kwh: float) -> EndCustomerPrice:
        """The end-customer price of one kWh bought at ``wholesale_per_kwh``."""
        net = wholesale_per_kwh + self.grid_fee_per_kwh + self.levies_per_kwh + self.margin_per_kwh
        total = net * (1.0 + self.vat_pct / 100.0)
        return EndCustomerPrice(
            wholesale_per_kwh,
            self.grid_fee_per_kwh,
            self.levies_per_kwh,
            self.margin_per_kwh,
            total - net,
            total,
        )

    def end_customer(self, wholesale_per_kwh: float) -> float:
        """The end-customer price per kWh (currency/kWh)."""
        return self.compose(wholesale_per_kwh).total

    def apply(self, slots: Iterable[PriceSlot]) -> list[PriceSlot]:
        """The slots with end-customer prices."""
        if self.is_zero:
            return list(slots)
        return [replace(s, price_per_kwh=self.end_customer(s.price_per_kwh)) for s in slots]


def per_mwh_to_per_kwh(price_per_mwh: float) -> float:
    """Currency/MWh to currency/kWh."""
    return price_per_mwh * MWH_PER_KWH


def utc(when: datetime) -> datetime:
    """``when`` in UTC (naive times are taken as UTC)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def normalise(provider: str, slots: Iterable[PriceSlot], skipped: list[str]) -> ParsedSlots:
    """Sort by start and drop what would make the series ambiguous.

    Slots are taken in the order given (the parser puts the preferred ones first); a slot with
    the same ``[start, end)`` as a kept one is a duplicate, one that overlaps a kept one is left
    out. Each drop is reported in ``skipped``. Gaps between kept slots are reported too (the
    series stays as it is: no price is invented for a gap).
    """
    kept: list[PriceSlot] = []  # sorted by start, no overlaps
    starts: list[datetime] = []
    for slot in slots:
        i = bisect_left(starts, slot.start)
        clash = None
        if i > 0 and kept[i - 1].end > slot.start:
            clash = kept[i - 1]
        elif i < len(kept) and kept[i].start < slot.end:
            clash = kept[i]
        if clash is None:
            kept.insert(i, slot)
            starts.insert(i, slot.start)
        elif clash.start == slot.start and clash.end == slot.end:
            if clash.price_per_kwh != slot.price_per_kwh:
                skipped.append(
                    f"{provider}: slot {_iso(slot.start)}: duplicate with another price "
                    f"({slot.price_per_kwh} vs {clash.price_per_kwh}); first kept"
                )
        else:
            skipped.append(
                f"{provider}: slot {_iso(slot.start)}..{_iso(slot.end)} overlaps "
                f"{_iso(clash.start)}..{_iso(clash.end)}; left out"
            )
    for before, after in pairwise(kept):
        if after.start > before.end:
            skipped.append(f"{provider}: no price for {_iso(before.end)}..{_iso(after.start)}")
    return ParsedSlots(kept, skipped)


def _iso(when: datetime) -> str:
    return utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc(when: datetime) -> str:
    """ISO 8601 UTC with a ``Z``: ``2026-11-23T23:00:00Z``."""
    return _iso(when)
