"""Processed reads (OPC UA Part 13 aggregates), computed in SQL per interval.

The request ``[start, end)`` is cut into intervals of ``interval`` µs (the last one may be
shorter). One grouped query yields per interval: sample counts, min, max and sum of the good
values, and the first and last samples; a window query (``LEAD``) yields the time-weighted area
of the good values inside each interval. Python only stitches interval edges together (the
part of an interval before its first sample belongs to the sample before it).

Semantics (simple bounds, ``TreatUncertainAsBad``): only Good samples feed the values. An interval
whose samples are all Good is ``Good``, one with some non-Good samples (or, for TimeAverage, with
time not covered by Good data) ``UncertainDataSubNormal``, one without Good data ``BadNoData``.
Every computed value carries the ``Calculated`` bit (``Interpolated`` for Interpolative) and
``Partial`` when the interval is shorter than the processing interval, starts before the
series' first sample, or ends in the future. Timestamps are the interval starts, except Start
and End, which return the raw sample with its own time and status.

Average, Minimum, Maximum, Count and Range read the 1-min / 15-min / 1-h rollups instead of raw
samples when the interval is a multiple of a rollup width, the start is aligned to it and the
rollups are complete up to ``end``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Connection, text

from . import status as sc
from .queries import interpolate, sample_after, sample_before
from .values import HistValue


class Aggregate(Enum):
    """Supported aggregates; the value is the OPC UA aggregate function's BrowseName."""

    AVERAGE = "Average"
    TIME_AVERAGE = "TimeAverage"
    MINIMUM = "Minimum"
    MAXIMUM = "Maximum"
    RANGE = "Range"
    COUNT = "Count"
    START = "Start"
    END = "End"
    DELTA = "Delta"
    INTERPOLATIVE = "Interpolative"
    DELTA_BOUNDS = "DeltaBounds"
    """The value at the interval end minus the value at its start (interpolated where no
    sample is exactly there): energy per interval from a counter; the intervals add up."""


ROLLUP_AGGREGATES = (
    Aggregate.AVERAGE,
    Aggregate.MINIMUM,
    Aggregate.MAXIMUM,
    Aggregate.RANGE,
    Aggregate.COUNT,
)


@dataclass(slots=True)
class _Stats:
    n_all: int
    n_good: int
    vmin: float | None
    vmax: float | None
    vsum: float | None
    first: HistValue | None
    last: HistValue | None
    area: float = 0.0
    good_us: int = 0


def _sql(template: str) -> str:
    for name in ("s", "e", "w", "ext"):
        template = template.replace("{" + name.upper() + "}", f"CAST(:{name} AS BIGINT)")
    return template


GOOD_VALUE = "status < :unc AND value IS NOT NULL"

STATS_RAW = _sql(
    f"""
WITH g AS (
  SELECT (t - {{S}}) / {{W}} AS b, COUNT(*) AS n_all,
    SUM(CASE WHEN {GOOD_VALUE} THEN 1 ELSE 0 END) AS n_good,
    MIN(CASE WHEN {GOOD_VALUE} THEN value END) AS vmin,
    MAX(CASE WHEN {GOOD_VALUE} THEN value END) AS vmax,
    SUM(CASE WHEN {GOOD_VALUE} THEN value END) AS vsum,
    MIN(t) AS tfirst, MAX(t) AS tlast
  FROM samples WHERE series_id = :sid AND t >= {{S}} AND t < {{E}}
  GROUP BY (t - {{S}}) / {{W}}
)
SELECT g.b, g.n_all, g.n_good, g.vmin, g.vmax, g.vsum,
  g.tfirst, f.value, f.text, f.status, g.tlast, l.value, l.text, l.status
FROM g
JOIN samples f ON f.series_id = :sid AND f.t = g.tfirst
JOIN samples l ON l.series_id = :sid AND l.t = g.tlast
ORDER BY g.b
"""
)

STATS_ROLLUP = _sql(
    """
SELECT (t - {S}) / {W} AS b, SUM(n_all), SUM(n_good), MIN(vmin), MAX(vmax), SUM(vsum)
FROM rollups WHERE series_id = :sid AND width_s = :width AND t >= {S} AND t < {E}
GROUP BY (t - {S}) / {W}
ORDER BY 1
"""
)

AREAS = _sql(
    """
SELECT b,
  SUM(CASE WHEN :stepped = 1 OR t2 IS NULL OR v2 IS NULL OR st2 >= :unc
        THEN value * (se - t)
        ELSE (value + value + (v2 - value) * (se - t) / (t2 - t)) / 2.0 * (se - t) END),
  SUM(se - t)
FROM (
  SELECT b, t, value, t2, v2, st2, CASE WHEN t2 IS NOT NULL AND t2 < be THEN t2 ELSE be END AS se
  FROM (
    SELECT b, t, value, status, t2, v2, st2,
      CASE WHEN {S} + (b + 1) * {W} < {E} THEN {S} + (b + 1) * {W} ELSE {E} END AS be
    FROM (
      SELECT (t - {S}) / {W} AS b, t, value, status,
        LEAD(t) OVER (ORDER BY t) AS t2,
        LEAD(value) OVER (ORDER BY t) AS v2,
        LEAD(status) OVER (ORDER BY t) AS st2
      FROM samples WHERE series_id = :sid AND t >= {S} AND t <= {EXT}
    ) a
    WHERE t < {E} AND status < :unc AND value IS NOT NULL
  ) bb
) cc
GROUP BY b
"""
)


def _raw_value(value: float | None, txt: str | None) -> float | str | None:
    return txt if txt is not None else value


class Processor:
    """Computes one aggregate for one series over one time range."""

    def __init__(
        self,
        conn: Connection,
        sid: int,
        start: int,
        end: int,
        interval: int,
        stepped: bool,
        now_us: int,
        rollup_watermarks: dict[int, int] | None = None,
    ) -> None:
        if interval <= 0 or end <= start:
            raise ValueError("need start < end and a positive interval")
        self.conn = conn
        self.sid = sid
        self.start = start
        self.end = end
        self.interval = interval
        self.stepped = stepped
        self.now_us = now_us
        self.rollup_watermarks = rollup_watermarks or {}
        self.n_buckets = -(-(end - start) // interval)
        self.params = {"sid": sid, "s": start, "e": end, "w": interval, "unc": sc.UNCERTAIN_MIN}
        starts = [
            conn.execute(text(sql), {"sid": sid}).scalar()
            for sql in (
                "SELECT MIN(t) FROM samples WHERE series_id = :sid",
                # raw samples past retention still count as data through their rollups
                "SELECT MIN(t) FROM rollups WHERE series_id = :sid AND width_s = 60",
            )
        ]
        known = [int(t) for t in starts if t is not None]
        self.series_start = min(known) if known else None
        self.used_rollup: int | None = None
        """The rollup width (s) the last ``compute`` read, ``None`` for raw samples."""

    # --- interval geometry ------------------------------------------------------------------------

    def _bounds(self, b: int) -> tuple[int, int]:
        lo = self.start + b * self.interval
        return lo, min(lo + self.interval, self.end)

    def _partial(self, b: int) -> bool:
        lo, hi = self._bounds(b)
        return (
            hi - lo < self.interval
            or self.series_start is None
            or lo < self.series_start
            or hi > self.now_us
        )

    # --- queries ----------------------------------------------------------------------------------

    def _rollup_width(self) -> int | None:
        for width_s in sorted(self.rollup_watermarks, reverse=True):
            width = width_s * 1_000_000
            if (
                self.interval % width == 0
                and self.start % width == 0
                and self.end % width == 0
                and self.end <= self.rollup_watermarks[width_s]
            ):
                return width_s
        return None

    def _stats(self, use_rollup: bool) -> dict[int, _Stats]:
        width_s = self._rollup_width() if use_rollup else None
        self.used_rollup = width_s
        if width_s is not None:
            rows = self.conn.execute(text(STATS_ROLLUP), {**self.params, "width": width_s}).all()
            return {
                int(r[0]): _Stats(int(r[1]), int(r[2]), r[3], r[4], r[5], None, None) for r in rows
            }
        stats: dict[int, _Stats] = {}
        for r in self.conn.execute(text(STATS_RAW), self.params).all():
            stats[int(r[0])] = _Stats(
                int(r[1]),
                int(r[2]),
                r[3],
                r[4],
                r[5],
                HistValue(int(r[6]), _raw_value(r[7], r[8]), int(r[9])),
                HistValue(int(r[10]), _raw_value(r[11], r[12]), int(r[13])),
            )
        return stats

    def _add_areas(self, stats: dict[int, _Stats]) -> None:
        after = sample_after(self.conn, self.sid, self.end)
        params = {
            **self.params,
            "ext": after.t_us if after else self.end,
            "stepped": 1 if self.stepped else 0,
        }
        for b, area, good_us in self.conn.execute(text(AREAS), params).all():
            if int(b) in stats:
                stats[int(b)].area = float(area or 0.0)
                stats[int(b)].good_us = int(good_us or 0)

    # --- the aggregates ---------------------------------------------------------------------------

    def compute(self, aggregate: Aggregate) -> list[HistValue]:
        """One value per interval."""
        if aggregate in (Aggregate.TIME_AVERAGE, Aggregate.INTERPOLATIVE, Aggregate.DELTA_BOUNDS):
            return self._time_based(aggregate)
        stats = self._stats(use_rollup=aggregate in ROLLUP_AGGREGATES)
        out = []
        for b in range(self.n_buckets):
            lo, _ = self._bounds(b)
            out.append(self._simple(aggregate, stats.get(b), lo, self._partial(b)))
        return out

    @staticmethod
    def _code(st: _Stats) -> int:
        return sc.GOOD if st.n_good == st.n_all else sc.UNCERTAIN_DATA_SUB_NORMAL

    def _simple(self, aggregate: Aggregate, st: _Stats | None, lo: int, partial: bool) -> HistValue:
        if aggregate is Aggregate.COUNT:
            n = st.n_good if st else 0
            return HistValue(lo, float(n), sc.calculated(sc.GOOD, partial))
        if st is None:
            return HistValue(lo, None, sc.BAD_NO_DATA)
        if aggregate is Aggregate.START:
            return st.first or HistValue(lo, None, sc.BAD_NO_DATA)
        if aggregate is Aggregate.END:
            return st.last or HistValue(lo, None, sc.BAD_NO_DATA)
        if aggregate is Aggregate.DELTA:
            first, last = st.first, st.last
            if (
                first is None
                or last is None
                or not isinstance(first.value, float)
                or not isinstance(last.value, float)
            ):
                return HistValue(lo, None, sc.BAD_NO_DATA)
            good = sc.is_good(first.status) and sc.is_good(last.status)
            code = sc.GOOD if good else sc.UNCERTAIN_DATA_SUB_NORMAL
            return HistValue(lo, last.value - first.value, sc.calculated(code, partial))
        if st.n_good == 0 or st.vsum is None:
            return HistValue(lo, None, sc.BAD_NO_DATA)
        value: float
        if aggregate is Aggregate.AVERAGE:
            value = st.vsum / st.n_good
        elif aggregate is Aggregate.MINIMUM:
            value = float(st.vmin)  # type: ignore[arg-type]
        elif aggregate is Aggregate.MAXIMUM:
            value = float(st.vmax)  # type: ignore[arg-type]
        else:  # RANGE
            value = float(st.vmax) - float(st.vmin)  # type: ignore[arg-type]
        return HistValue(lo, value, sc.calculated(self._code(st), partial))

    def _time_based(self, aggregate: Aggregate) -> list[HistValue]:
        stats = self._stats(use_rollup=False)
        if aggregate is Aggregate.TIME_AVERAGE:
            self._add_areas(stats)
        prev = sample_before(self.conn, self.sid, self.start, inclusive=False)
        after_end = sample_after(self.conn, self.sid, self.end)
        # first sample at or after each interval start
        next_first: list[HistValue | None] = [None] * self.n_buckets
        upcoming = after_end
        for b in range(self.n_buckets - 1, -1, -1):
            if b in stats and stats[b].first is not None:
                upcoming = stats[b].first
            next_first[b] = upcoming
        out = []
        for b in range(self.n_buckets):
            lo, hi = self._bounds(b)
            st = stats.get(b)
            at_start = self._value_at(prev, next_first[b], lo)
            if aggregate is Aggregate.INTERPOLATIVE:
                out.append(at_start)
            elif aggregate is Aggregate.DELTA_BOUNDS:
                before_end = st.last if st is not None and st.last is not None else prev
                after = next_first[b + 1] if b + 1 < self.n_buckets else after_end
                at_end = self._value_at(before_end, after, hi)
                out.append(self._delta_bounds(lo, at_start, at_end, self._partial(b)))
            else:
                out.append(self._time_average(b, lo, hi, prev, next_first[b], st))
            if st is not None and st.last is not None:
                prev = st.last
        return out

    def _value_at(self, before: HistValue | None, after: HistValue | None, t_us: int) -> HistValue:
        """The raw sample at ``t_us`` if there is one, else the interpolated value."""
        if after is not None and after.t_us == t_us:
            return after
        return interpolate(before, after, t_us, self.stepped)

    @staticmethod
    def _delta_bounds(lo: int, start: HistValue, end: HistValue, partial: bool) -> HistValue:
        if not isinstance(start.value, float) or not isinstance(end.value, float):
            return HistValue(lo, None, sc.BAD_NO_DATA)
        good = sc.is_good(start.status) and sc.is_good(end.status)
        code = sc.GOOD if good else sc.UNCERTAIN_DATA_SUB_NORMAL
        return HistValue(lo, end.value - start.value, sc.calculated(code, partial))

    def _segment(
        self, prev: HistValue | None, nxt: HistValue | None, lo: int, hi: int
    ) -> tuple[float, int]:
        """Area and good duration of ``[lo, hi)``, which lies between samples ``prev`` and
        ``nxt``."""
        if (
            prev is None
            or not isinstance(prev.value, float)
            or not sc.is_good(prev.status)
            or hi <= lo
        ):
            return 0.0, 0
        v_lo = interpolate(prev, nxt, lo, self.stepped).value
        v_hi = interpolate(prev, nxt, hi, self.stepped).value
        if (
            self.stepped
            or nxt is None
            or not sc.is_good(nxt.status)
            or not isinstance(v_lo, float)
            or not isinstance(v_hi, float)
        ):
            return prev.value * (hi - lo), hi - lo
        return (v_lo + v_hi) / 2.0 * (hi - lo), hi - lo

    def _time_average(
        self,
        b: int,
        lo: int,
        hi: int,
        prev: HistValue | None,
        nxt: HistValue | None,
        st: _Stats | None,
    ) -> HistValue:
        if st is None or st.first is None:
            area, good_us = self._segment(prev, nxt, lo, hi)
        else:
            area, good_us = self._segment(prev, st.first, lo, st.first.t_us)
            area += st.area
            good_us += st.good_us
        partial = self._partial(b)
        if good_us <= 0:
            return HistValue(lo, None, sc.BAD_NO_DATA)
        code = sc.GOOD if good_us >= hi - lo else sc.UNCERTAIN_DATA_SUB_NORMAL
        return HistValue(lo, area / good_us, sc.calculated(code, partial))
