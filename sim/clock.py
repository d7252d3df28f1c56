"""Injectable clocks: the physics and the devices read time only through a ``Clock``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


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
