"""CSV export of stored history (``ampacity history export``).

Raw: one row per sample, ``time,point,value,status``. With an interval: one row per point and
interval, ``time,point,average,minimum,maximum,last,count`` (good values only; empty cells where
an interval has none). Times are ISO 8601 UTC; status is the OPC UA StatusCode in hex.
"""

from __future__ import annotations

import asyncio
import csv
import fnmatch
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from .aggregates import Aggregate
from .config import StorageConfig
from .historian import Historian
from .progress import Progress
from .timeutil import from_us, to_us

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> timedelta:
    """``15m``, ``1h``, ``30s``, ``1d`` → timedelta.

    Raises:
        ValueError: not such a duration.
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h, 1d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_time(text: str) -> datetime:
    """ISO 8601 date or date-time; without a zone it is UTC."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(t_us: int) -> str:
    return from_us(t_us).isoformat().replace("+00:00", "Z")


async def export_csv(
    historian: Historian,
    out: TextIO,
    start: datetime,
    end: datetime,
    points: str | None = None,
    interval: timedelta | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the history of the points matching ``points`` (glob, default all) in
    ``[start, end)`` to ``out``; returns the data rows written."""
    keys = sorted(k for k in await historian.stored_keys() if fnmatch.fnmatchcase(k, points or "*"))
    writer = csv.writer(out, lineterminator="\n")
    rows = 0
    span = max(to_us(end) - to_us(start), 1)
    if interval is None:
        writer.writerow(["time", "point", "value", "status"])
    else:
        writer.writerow(["time", "point", "average", "minimum", "maximum", "last", "count"])
    for index, key in enumerate(keys):
        if interval is None:
            resume: int | None = None
            while True:
                page = await historian.read_raw(key, start, end, resume_t=resume)
                for v in page.values:
                    writer.writerow(
                        [_iso(v.t_us), key, "" if v.value is None else v.value, f"0x{v.status:08X}"]
                    )
                rows += len(page.values)
                if progress and page.values:
                    done = index + (page.values[-1].t_us - to_us(start)) / span
                    progress.update(done, rows)
                if page.next_t is None:
                    break
                resume = page.next_t
        else:
            columns = [
                await historian.read_processed(key, start, end, interval, agg)
                for agg in (
                    Aggregate.AVERAGE,
                    Aggregate.MINIMUM,
                    Aggregate.MAXIMUM,
                    Aggregate.END,
                    Aggregate.COUNT,
                )
            ]
            avg, vmin, vmax, last, count = columns
            i_us = int(interval / timedelta(microseconds=1))
            for i, a in enumerate(avg):
                n = int(count[i].value or 0)
                if n == 0:
                    continue
                ok = last[i].value is not None and last[i].t_us < a.t_us + i_us
                writer.writerow(
                    [
                        _iso(a.t_us),
                        key,
                        a.value,
                        vmin[i].value,
                        vmax[i].value,
                        last[i].value if ok else "",
                        n,
                    ]
                )
                rows += 1
        if progress:
            progress.update(index + 1, rows)
    return rows


async def run_export(
    config: StorageConfig,
    data_dir: Path,
    out: TextIO,
    start: datetime,
    end: datetime,
    points: str | None = None,
    interval: timedelta | None = None,
    show_progress: bool = True,
) -> int:
    """Open the store read-only (no buffer, no recording), export, close."""
    historian = Historian.open(config, data_dir)
    progress = None
    try:
        if show_progress:
            total = len(await historian.stored_keys())
            progress = Progress(total, "export ")
        return await export_csv(historian, out, start, end, points, interval, progress)
    finally:
        if progress:
            progress.close()
        await historian.stop()


def export(
    config: StorageConfig,
    data_dir: Path,
    out: TextIO,
    start: datetime,
    end: datetime,
    points: str | None = None,
    interval: timedelta | None = None,
    show_progress: bool = True,
) -> int:
    """``run_export`` for synchronous callers (the CLI)."""
    return asyncio.run(
        run_export(config, data_dir, out, start, end, points, interval, show_progress)
    )
