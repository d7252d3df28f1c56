"""Checks shared by the provider parsers: numbers, timestamps, units, slot ends from start times.

Every check that fails raises ``TariffFormatError`` with ``<provider>: <path>: <problem>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from .model import TariffFormatError

SLOT_LENGTHS = (timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60))
"""Slot lengths of day-ahead sources; another distance between two starts holds a gap."""
QUARTER_HOUR = timedelta(minutes=15)
HOUR = timedelta(minutes=60)
FIFTEEN_MINUTE_MARKET = datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
"""First delivery (1 Oct 2025 00:00 CEST) of the 15-min SDAC/EPEX day-ahead market."""

_EPOCH_MIN_S = 946_684_800  # 2000-01-01
_EPOCH_MAX_S = 4_102_444_800  # 2100-01-01


def fail(provider: str, path: str, problem: str) -> TariffFormatError:
    return TariffFormatError(f"{provider}: {path}: {problem}")


def show(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number_or_none(provider: str, path: str, value: Any) -> float | None:
    """A price: a finite JSON number, or ``None`` for a null (the caller skips the slot).

    Raises:
        TariffFormatError: a string, bool, object, NaN or infinity.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(provider, path, f"not a number ({show(value)})")
    result = float(value)
    if not math.isfinite(result):
        raise fail(provider, path, f"not a finite number ({show(value)})")
    return result


def epoch(provider: str, path: str, value: Any, *, scale: float) -> datetime:
    """A Unix time (``scale`` units per second: 1 for seconds, 1000 for ms) as UTC.

    Raises:
        TariffFormatError: not an integer-valued number, or outside 2000..2100.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(provider, path, f"not a Unix time ({show(value)})")
    seconds = value / scale
    if not math.isfinite(seconds) or not _EPOCH_MIN_S <= seconds <= _EPOCH_MAX_S:
        raise fail(provider, path, f"Unix time out of range ({show(value)})")
    return datetime.fromtimestamp(seconds, UTC)


def iso_time(provider: str, path: str, value: Any) -> datetime:
    """An ISO 8601 time with an offset (``2023-10-27T00:00:00.000+02:00``, ``...Z``) as UTC.

    Raises:
        TariffFormatError: not a string, not ISO 8601, or without an offset.
    """
    if not isinstance(value, str):
        raise fail(provider, path, f"not an ISO 8601 time ({show(value)})")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(provider, path, f"not an ISO 8601 time ({show(value)})") from None
    if when.tzinfo is None:
        raise fail(provider, path, f"time without a UTC offset ({show(value)})")
    return when.astimezone(UTC)


def per_kwh_factor(provider: str, path: str, unit: Any) -> float:
    """The factor from a price in ``unit`` to a price per kWh.

    Accepts the spellings the providers use: ``Eur/MWh`` (aWATTar), ``EUR / MWh``
    (Energy-Charts), ``MWH`` (ENTSO-E ``price_Measure_Unit.name``), and per-kWh units.

    Raises:
        TariffFormatError: another unit.
    """
    if not isinstance(unit, str):
        raise fail(provider, path, f"not a unit ({show(unit)})")
    energy = unit.replace(" ", "").upper().split("/")[-1]
    if energy == "MWH":
        return 1.0 / 1000.0
    if energy == "KWH":
        return 1.0
    raise fail(provider, path, f"unknown price unit ({show(unit)}); expected per MWh or per kWh")


def slot_ends(starts: Sequence[datetime], default_step: timedelta) -> list[datetime]:
    """The end of each slot of a series that gives start times only (sorted, distinct).

    A slot ends where the next one starts when that is 15, 30 or 60 min away; otherwise (a gap,
    or the last slot) it is as long as the slot before it, else as the shortest such distance
    in the series, else ``default_step``. A series that switches from 60-min to 15-min slots
    keeps each slot's own length. (A distance of exactly 60 min in a 15-min series reads as one
    60-min slot: the answer cannot tell it from three missing quarter-hours.)
    """
    diffs = [b - a for a, b in pairwise(starts)]
    regular = [d for d in diffs if d in SLOT_LENGTHS]
    shortest = min(regular) if regular else default_step
    ends: list[datetime] = []
    previous: timedelta | None = None
    for i, start in enumerate(starts):
        step = diffs[i] if i < len(diffs) else None
        if step is not None and step in SLOT_LENGTHS:
            previous = step
            ends.append(start + step)
        else:
            ends.append(start + (previous or shortest))
    return ends


def default_step_for(first_start: datetime) -> timedelta:
    """The slot length to assume for a lone start time: 15 min from the 15-min market on."""
    return QUARTER_HOUR if first_start >= FIFTEEN_MINUTE_MARKET else HOUR
