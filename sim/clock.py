"""Injectable clocks: the physics and the devices read time only through a ``Clock``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Protocol

DEMO_START_ENV = "AMPACITY_DEMO_START"
"""Environment variable that sets where the demo's simulated day starts: ``HH:MM`` (today at that
local time) or an ISO datetime; unset or empty = the wall clock."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told (tests, faster-than-real-time days).

    Args:
        start: the initial time (timezone-aware; naive times are taken as UTC).
    """

    def __init__(self, start: datetime) -> None:
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move forward by ``seconds``; returns the new time."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when if when.tzinfo else when.replace(tzinfo=UTC)


class ScaledClock:
    """Wall-clock time running ``speed`` times faster from ``start`` (a demo day in minutes).

    Args:
        start: the simulated time at construction.
        speed: simulated seconds per real second.
    """

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._real0 = datetime.now(UTC)
        self.speed = speed

    def now(self) -> datetime:
        elapsed = (datetime.now(UTC) - self._real0).total_seconds()
        return self._start + timedelta(seconds=elapsed * self.speed)


def parse_start(value: str, zone: tzinfo, now: datetime | None = None) -> datetime:
    """A start time: ``HH:MM`` is today (in ``zone``) at that local time; otherwise an ISO
    datetime, taken in ``zone`` when it has no offset.

    Args:
        value: ``HH:MM`` or an ISO datetime (``2026-06-21T12:00``, ``2026-06-21T10:00+00:00``).
        zone: the site's local time zone.
        now: what "today" is relative to (the wall clock by default).

    Raises:
        ValueError: the value is neither.
    """
    text = value.strip()
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            today = (now or datetime.now(UTC)).astimezone(zone).date()
            return datetime.combine(today, time(hour, minute), tzinfo=zone)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{DEMO_START_ENV}={value!r}: expected HH:MM or an ISO datetime") from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def demo_clock(zone: tzinfo, speed: float = 1.0, env: Mapping[str, str] | None = None) -> Clock:
    """The demo's clock: from ``AMPACITY_DEMO_START`` if set (a ``ScaledClock`` starting there),
    else the wall clock (``speed`` 1) or a ``ScaledClock`` from now.

    Args:
        zone: the site's local time zone (for ``HH:MM``).
        speed: simulated seconds per real second.
        env: the environment to read (``os.environ`` by default).
    """
    value = (os.environ if env is None else env).get(DEMO_START_ENV, "").strip()
    if value:
        return ScaledClock(parse_start(value, zone), speed)
    return SystemClock() if speed == 1.0 else ScaledClock(datetime.now(UTC), speed)
