"""Time series from CSV files for scenarios: load, PV, irradiance, heat demand, prices.

A series file is UTF-8 CSV: ``#`` lines are comments (the provenance line goes there), then an
optional header, then rows ``timestamp,value``. Timestamps are ISO 8601 with a UTC offset (a
timestamp without one is UTC), strictly increasing, at least one minute apart; the step may vary.
By default a value holds from its timestamp to the next one (``label: start``); measurements
labelled at the end of their interval, such as DWD's 10-minute values, say ``label: end``.

``TimeSeries.mean(start, end)`` is the mean over an interval of any length (the series is
piecewise constant), which resamples the data to whatever step the run uses. Errors name the file
and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

MIN_STEP_S = 60.0
"""The shortest step between two rows, s."""


class SeriesError(ValueError):
    """A series file cannot be used; the message is ``<file>:<line>: <problem>``."""


@dataclass(frozen=True, eq=False)
class TimeSeries:
    """A piecewise-constant series: ``values[i]`` holds over ``[edges_s[i], edges_s[i + 1])``.

    Attributes:
        name: the file's name (for messages).
        edges_s: interval boundaries, Unix seconds (one more than ``values``).
        values: the values, in the file's unit times the scenario's ``scale``.
    """

    name: str
    edges_s: np.ndarray
    values: np.ndarray

    @property
    def first(self) -> datetime:
        return datetime.fromtimestamp(float(self.edges_s[0]), UTC)

    @property
    def last(self) -> datetime:
        """The end of the last interval."""
        return datetime.fromtimestamp(float(self.edges_s[-1]), UTC)

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.first <= start and end <= self.last

    def at(self, when: datetime) -> float:
        """The value in force at ``when`` (the first or last value outside the series)."""
        i = int(np.searchsorted(self.edges_s, when.timestamp(), side="right")) - 1
        return float(self.values[min(max(i, 0), len(self.values) - 1)])

    def mean(self, start: datetime, end: datetime) -> float:
        """The mean over ``[start, end)``; ``at(start)`` for an empty interval."""
        a, b = start.timestamp(), end.timestamp()
        if b - a <= 1e-9:
            return self.at(start)
        integral = self._integral()
        area = np.interp([a, b], self.edges_s, integral)
        if a < self.edges_s[0] or b > self.edges_s[-1]:  # outside: hold the end values
            area = area + np.array(
                [
                    min(0.0, a - self.edges_s[0]) * self.values[0]
                    + max(0.0, a - self.edges_s[-1]) * self.values[-1],
                    min(0.0, b - self.edges_s[0]) * self.values[0]
                    + max(0.0, b - self.edges_s[-1]) * self.values[-1],
                ]
            )
        return float((area[1] - area[0]) / (b - a))

    def _integral(self) -> np.ndarray:
        cached = self.__dict__.get("_cum")
        if cached is None:
            cached = np.concatenate(([0.0], np.cumsum(self.values * np.diff(self.edges_s))))
            object.__setattr__(self, "_cum", cached)
        return cached

    def slots(self, start: datetime, count: int, slot_s: float) -> list[float]:
        """Means over ``count`` slots of ``slot_s`` from ``start``."""
        return [
            self.mean(
                start + timedelta(seconds=i * slot_s), start + timedelta(seconds=(i + 1) * slot_s)
            )
            for i in range(count)
        ]


def _timestamp(text: str) -> datetime:
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@cache
def _read(path: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(Unix seconds, values)`` of a series file, checked row by row."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeriesError(f"{name}:1: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SeriesError(f"{name}:1: not UTF-8 text") from exc
    times: list[float] = []
    values: list[float] = []
    header_seen = False
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2:
            raise SeriesError(f"{name}:{lineno}: expected 'timestamp,value', got {','.join(row)!r}")
        try:
            when = _timestamp(row[0]).timestamp()
        except ValueError:
            if not times and not header_seen:
                header_seen = True  # the column names
                continue
            raise SeriesError(f"{name}:{lineno}: {row[0]!r} is not an ISO 8601 timestamp") from None
        try:
            value = float(row[1])
        except ValueError:
            raise SeriesError(f"{name}:{lineno}: {row[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise SeriesError(f"{name}:{lineno}: {row[1]!r} is not a finite number")
        if times and when - times[-1] < MIN_STEP_S:
            problem = "not after the previous row" if when <= times[-1] else "less than 1 min"
            raise SeriesError(f"{name}:{lineno}: {row[0]}: {problem} after the previous row")
        times.append(when)
        values.append(value)
    if len(times) < 2:
        raise SeriesError(f"{name}:1: needs at least two rows 'timestamp,value'")
    return tuple(times), tuple(values)


def read_series(
    path: Path, scale: float = 1.0, offset_days: int = 0, label: Literal["start", "end"] = "start"
) -> TimeSeries:
    """A series file as a ``TimeSeries``.

    Args:
        path: the CSV file.
        scale: every value is multiplied by it (e.g. W per MWh/a times MWh/a gives W).
        offset_days: days added to every timestamp (a profile of another year on the scenario's
            day; a multiple of 7 keeps the weekdays).
        label: whether a timestamp starts (``start``) or ends (``end``) its value's interval.

    Raises:
        SeriesError: located at the file's line.
    """
    times, values = _read(path.resolve())
    t = np.asarray(times) + offset_days * 86_400.0
    steps = np.diff(t)
    if label == "end":  # the interval ends at the timestamp: it starts one step earlier
        edges = np.concatenate(([t[0] - steps[0]], t))
    else:
        edges = np.concatenate((t, [t[-1] + steps[-1]]))
    return TimeSeries(path.name, edges, np.asarray(values) * scale)
