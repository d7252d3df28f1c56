"""Rollups and retention, run periodically by the historian.

Rollups: 1-min buckets from raw samples, 15-min and 1-h buckets from the 1-min ones. Each width
has a watermark in ``ampacity_meta`` (``rollup_wm_<width_s>``, µs): every bucket before it is
complete. Samples that arrive late (a buffer replayed after an outage) move the watermark back
to their time, so their buckets are computed again.

Retention: raw samples older than ``retention.raw_days`` are deleted once the 1-min rollups cover
them; rollups and events after their own retention.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

from .config import RetentionConfig
from .timeutil import US_PER_S

log = logging.getLogger(__name__)

WIDTHS_S = (60, 900, 3600)
"""Rollup widths in seconds; each is computed from the previous one (the first from raw)."""
SETTLE_US = 120 * US_PER_S
"""A bucket is rolled up only once it ended this long ago (buffered samples have arrived)."""
DAY_US = 86_400 * US_PER_S
MAX_SPAN_US = 7 * DAY_US
"""At most this much time is rolled up per width and run (bounded transactions)."""

ROLLUP_FROM_RAW = """
INSERT INTO rollups (series_id, width_s, t, n_good, n_all, vmin, vmax, vsum, vlast, tlast)
SELECT g.series_id, :width_s, g.b, g.n_good, g.n_all, g.vmin, g.vmax, g.vsum, l.value, g.tlast
FROM (
  SELECT series_id, (t / CAST(:w AS BIGINT)) * CAST(:w AS BIGINT) AS b, COUNT(*) AS n_all,
    SUM(CASE WHEN status < :unc AND value IS NOT NULL THEN 1 ELSE 0 END) AS n_good,
    MIN(CASE WHEN status < :unc THEN value END) AS vmin,
    MAX(CASE WHEN status < :unc THEN value END) AS vmax,
    SUM(CASE WHEN status < :unc THEN value END) AS vsum,
    MAX(CASE WHEN status < :unc AND value IS NOT NULL THEN t END) AS tlast
  FROM samples
  WHERE series_id IN (SELECT id FROM series)
    AND t >= CAST(:lo AS BIGINT) AND t < CAST(:hi AS BIGINT)
  GROUP BY series_id, (t / CAST(:w AS BIGINT)) * CAST(:w AS BIGINT)
) g
LEFT JOIN samples l ON l.series_id = g.series_id AND l.t = g.tlast
"""

ROLLUP_FROM_ROLLUP = """
INSERT INTO rollups (series_id, width_s, t, n_good, n_all, vmin, vmax, vsum, vlast, tlast)
SELECT g.series_id, :width_s, g.b, g.n_good, g.n_all, g.vmin, g.vmax, g.vsum, l.vlast, g.tlast
FROM (
  SELECT series_id, (t / CAST(:w AS BIGINT)) * CAST(:w AS BIGINT) AS b,
    SUM(n_all) AS n_all, SUM(n_good) AS n_good, MIN(vmin) AS vmin, MAX(vmax) AS vmax,
    SUM(vsum) AS vsum, MAX(tlast) AS tlast
  FROM rollups
  WHERE series_id IN (SELECT id FROM series) AND width_s = :src_s
    AND t >= CAST(:lo AS BIGINT) AND t < CAST(:hi AS BIGINT)
  GROUP BY series_id, (t / CAST(:w AS BIGINT)) * CAST(:w AS BIGINT)
) g
LEFT JOIN rollups l ON l.series_id = g.series_id AND l.width_s = :src_s
  AND l.t = (g.tlast / CAST(:src AS BIGINT)) * CAST(:src AS BIGINT)
"""


def _get(conn: Connection, key: str) -> int | None:
    row = conn.execute(text("SELECT value FROM ampacity_meta WHERE key = :k"), {"k": key}).first()
    return int(row[0]) if row else None


def _set(conn: Connection, key: str, value: int) -> None:
    conn.execute(text("DELETE FROM ampacity_meta WHERE key = :k"), {"k": key})
    conn.execute(
        text("INSERT INTO ampacity_meta (key, value) VALUES (:k, :v)"), {"k": key, "v": str(value)}
    )


def _first_after(conn: Connection, t_us: int, rollup_width_s: int | None) -> int | None:
    """The earliest sample (or rollup of ``rollup_width_s``) at or after ``t_us``, found with
    one primary-key probe per series."""
    if rollup_width_s is None:
        inner = "SELECT MIN(x.t) FROM samples x WHERE x.series_id = s.id AND x.t >= :t"
    else:
        inner = (
            "SELECT MIN(x.t) FROM rollups x WHERE x.series_id = s.id AND x.width_s = :w "
            "AND x.t >= :t"
        )
    row = conn.execute(
        text(f"SELECT MIN(({inner})) FROM series s"), {"t": t_us, "w": rollup_width_s}
    ).first()
    return int(row[0]) if row and row[0] is not None else None


def watermarks(engine: Engine) -> dict[int, int]:
    """``width_s -> µs`` up to which rollups of that width are complete."""
    with engine.connect() as conn:
        found = {w: _get(conn, f"rollup_wm_{w}") for w in WIDTHS_S}
    return {w: v for w, v in found.items() if v is not None}


def invalidate(engine: Engine, from_us: int) -> None:
    """Samples at or after ``from_us`` were inserted late: recompute their buckets."""
    with engine.begin() as conn:
        for width_s in WIDTHS_S:
            key = f"rollup_wm_{width_s}"
            current = _get(conn, key)
            width = width_s * US_PER_S
            if current is not None and current > from_us:
                _set(conn, key, (from_us // width) * width)


def roll_up(engine: Engine, now_us: int) -> int:
    """Compute the rollups of every complete bucket; returns the buckets written."""
    written = 0
    source_hi: int | None = now_us - SETTLE_US
    for i, width_s in enumerate(WIDTHS_S):
        if source_hi is None:
            break
        width = width_s * US_PER_S
        hi = (source_hi // width) * width
        with engine.begin() as conn:
            key = f"rollup_wm_{width_s}"
            lo = _get(conn, key)
            first = _first_after(conn, lo or 0, WIDTHS_S[i - 1] if i else None)
            if first is None or first >= hi:  # nothing (new) to roll up
                if lo is None:
                    source_hi = None
                    continue
                first = hi
            lo = max(lo or 0, (first // width) * width)  # skip empty time at once
            hi = min(hi, lo + MAX_SPAN_US)  # catch up a long backlog over several runs
            if hi <= lo:
                source_hi = lo
                continue
            conn.execute(
                text("DELETE FROM rollups WHERE width_s = :width_s AND t >= :lo AND t < :hi"),
                {"width_s": width_s, "lo": lo, "hi": hi},
            )
            params = {"width_s": width_s, "w": width, "lo": lo, "hi": hi, "unc": 0x40000000}
            if i == 0:
                result = conn.execute(text(ROLLUP_FROM_RAW), params)
            else:
                src_s = WIDTHS_S[i - 1]
                result = conn.execute(
                    text(ROLLUP_FROM_ROLLUP), {**params, "src_s": src_s, "src": src_s * US_PER_S}
                )
            written += max(result.rowcount or 0, 0)
            _set(conn, key, hi)
        source_hi = hi
    return written


def apply_retention(engine: Engine, retention: RetentionConfig, now_us: int) -> int:
    """Delete what is past its retention; returns the rows deleted."""
    deleted = 0
    with engine.begin() as conn:
        if retention.raw_days is not None:
            cutoff = now_us - int(retention.raw_days * DAY_US)
            covered = _get(conn, "rollup_wm_60")
            if covered is not None:
                cutoff = min(cutoff, covered)
                deleted += (
                    conn.execute(
                        text(
                            "DELETE FROM samples WHERE series_id IN (SELECT id FROM series) "
                            "AND t < :c"
                        ),
                        {"c": cutoff},
                    ).rowcount
                    or 0
                )
        for width_s, days in zip(
            WIDTHS_S,
            (retention.rollup_1m_days, retention.rollup_15m_days, retention.rollup_1h_days),
            strict=True,
        ):
            if days is None:
                continue
            deleted += (
                conn.execute(
                    text(
                        "DELETE FROM rollups WHERE series_id IN (SELECT id FROM series) "
                        "AND width_s = :w AND t < :c"
                    ),
                    {"w": width_s, "c": now_us - int(days * DAY_US)},
                ).rowcount
                or 0
            )
        if retention.events_days is not None:
            deleted += (
                conn.execute(
                    text("DELETE FROM events WHERE t < :c"),
                    {"c": now_us - int(retention.events_days * DAY_US)},
                ).rowcount
                or 0
            )
    return deleted
