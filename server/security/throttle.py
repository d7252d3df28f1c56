"""Failed logins slow down further attempts from the same source address.

After ``free_failures`` failures, each further failure locks the address for a delay that starts
at ``delay_s`` and doubles up to ``max_delay_s``. While an address is locked, a CreateSession from
it is answered only after the lock ends, and an ActivateSession from it is refused without
looking at the credentials (so retrying on one session gains nothing). A successful login and
``forget_after_s`` without failures clear the address.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import LoginThrottleSettings

MAX_TRACKED = 10_000
"""Addresses remembered at most (the oldest are dropped)."""


@dataclass
class _Entry:
    failures: int
    last: float
    locked_until: float


class LoginThrottle:
    def __init__(
        self, settings: LoginThrottleSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def _entry(self, source: str) -> _Entry | None:
        entry = self._entries.get(source)
        if entry is not None and self._clock() - entry.last > self.settings.forget_after_s:
            del self._entries[source]
            return None
        return entry

    def wait_s(self, source: str) -> float:
        """How long ``source`` is still locked (0: not locked)."""
        entry = self._entry(source)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - self._clock())

    def failed(self, source: str) -> float:
        """Count a failure; returns the lock it causes (seconds)."""
        now = self._clock()
        entry = self._entry(source) or _Entry(0, now, now)
        entry.failures += 1
        entry.last = now
        over = entry.failures - self.settings.free_failures
        delay = 0.0
        if over > 0:
            delay = min(self.settings.delay_s * 2 ** min(over - 1, 30), self.settings.max_delay_s)
            entry.locked_until = max(entry.locked_until, now + delay)
        self._entries.pop(source, None)
        self._entries[source] = entry
        while len(self._entries) > MAX_TRACKED:
            self._entries.pop(next(iter(self._entries)))
        return delay

    def succeeded(self, source: str) -> None:
        self._entries.pop(source, None)

    def failures(self, source: str) -> int:
        entry = self._entry(source)
        return entry.failures if entry else 0
