"""Local time windows (strategies, charging groups)."""

from __future__ import annotations

from datetime import datetime, time, tzinfo
from functools import cache


@cache
def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def local_time(now: datetime, zone: str) -> time:
    """The wall-clock time at ``now`` in the IANA ``zone``."""
    return now.astimezone(_zone(zone)).time()


def in_window(now: time, window: tuple[time, time]) -> bool:
    """``now`` lies in ``[start, end)``; a window with end < start wraps over midnight."""
    start, end = window
    return start <= now < end if start <= end else now >= start or now < end
