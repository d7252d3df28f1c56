"""Household load from the BDEW H25 standard load profile (``sim/data/h25.csv``).

H25 gives kWh per quarter-hour for type days (Saturday, Sunday/holiday, workday) of each month,
normalised to 1,000,000 kWh a year; the BDEW dynamisation factor
``F(d) = -3.92e-10 d⁴ + 3.2e-7 d³ - 7.02e-5 d² + 2.1e-3 d + 1.24`` (d = day of the year) scales
each day. Power of a quarter-hour in W = kWh per quarter-hour × 4 × 1000 × annual kWh / 1e6.
Holidays are not modelled (only Sundays use the holiday column). Times are local (the site's
time zone).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).parent / "data" / "h25.csv"
DAY_TYPES = ("SA", "FT", "WT")


def site_zone(name: str) -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no tz database: central European standard time
        return timezone(timedelta(hours=1))


@cache
def h25_table() -> dict[tuple[int, str], tuple[float, ...]] | None:
    """``(month, day type) -> 96 quarter-hour values`` in kWh per 1,000,000 kWh/a, or ``None``
    when the data file is missing."""
    if not DATA_FILE.exists():
        return None
    with DATA_FILE.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    months = rows[0][1:]
    kinds = rows[1][1:]
    month_names = list(dict.fromkeys(months))
    table: dict[tuple[int, str], list[float]] = {}
    for row in rows[2:98]:
        for col, cell in enumerate(row[1:]):
            key = (month_names.index(months[col]) + 1, kinds[col])
            table.setdefault(key, []).append(float(cell))
    return {k: tuple(v) for k, v in table.items()}


def dynamisation(day_of_year: int) -> float:
    """The BDEW day factor F(d) for H25."""
    d = float(day_of_year)
    return -3.92e-10 * d**4 + 3.2e-7 * d**3 - 7.02e-5 * d**2 + 2.1e-3 * d + 1.24


def _synthetic(hour: float) -> float:
    """A smooth household shape (mean 1.0): night base, morning and evening peaks."""
    morning = math.exp(-(((hour - 7.5) / 1.5) ** 2))
    evening = 1.6 * math.exp(-(((hour - 19.0) / 2.5) ** 2))
    return (0.55 + 0.6 * morning + evening) / 1.08


@dataclass(frozen=True, slots=True)
class HouseholdLoad:
    """A household's electrical load.

    Attributes:
        annual_kwh: yearly consumption, kWh.
        time_zone: IANA name of the site's zone (the profile is in local time).
    """

    annual_kwh: float = 4500.0
    time_zone: str = "Europe/Berlin"

    def power(self, when: datetime) -> float:
        """Load at ``when`` in W (≥ 0, positive = consumption)."""
        local = when.astimezone(site_zone(self.time_zone))
        table = h25_table()
        mean_w = self.annual_kwh * 1000.0 / 8760.0
        if table is None:
            return mean_w * _synthetic(local.hour + local.minute / 60)
        weekday = local.weekday()
        kind = "SA" if weekday == 5 else "FT" if weekday == 6 else "WT"
        quarter = (local.hour * 60 + local.minute) // 15
        kwh_per_quarter = table[(local.month, kind)][quarter]
        factor = dynamisation(local.timetuple().tm_yday)
        return kwh_per_quarter * 4.0 * 1000.0 * self.annual_kwh / 1.0e6 * factor
