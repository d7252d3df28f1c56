"""Reconnect and retry pacing (exponential backoff with jitter) and the injectable clock."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Time as the engine sees it; tests inject a fake one so nothing sleeps for real."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (scheduling, backoff deadlines)."""
        ...

    def now(self) -> datetime:
        """Wall-clock time, UTC, timezone-aware (source timestamps)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``datetime.now(UTC)`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class Backoff:
    """Delays between reconnect attempts: ``initial_s * factor**n``, capped, with jitter.

    Each delay is drawn uniformly from ``[d * (1 - jitter), d]`` ("equal"-style jitter), so many
    drivers that lost the same gateway do not reconnect in lock-step.

    Args:
        initial_s: the first delay, seconds.
        cap_s: the largest delay, seconds.
        factor: growth per failed attempt.
        jitter: fraction of the delay that is randomised, 0..1.
        rng: the random source (tests pass a seeded ``random.Random``).
    """

    def __init__(
        self,
        initial_s: float = 0.5,
        cap_s: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s < 0 or cap_s < initial_s or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("need 0 <= initial_s <= cap_s, factor >= 1, 0 <= jitter <= 1")
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def failures(self) -> int:
        """Failed attempts since the last ``reset``."""
        return self._attempt

    def next_delay(self) -> float:
        """The pause before the next attempt, seconds; grows with every call."""
        base = min(self.cap_s, self.initial_s * self.factor**self._attempt)
        self._attempt += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """After a success: the next failure starts from ``initial_s`` again."""
        self._attempt = 0
