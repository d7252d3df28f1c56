"""Threshold monitors with hysteresis and delay, so a value hovering at a limit does not flood
the alarm list (no asyncua, no clock of their own: the caller passes the time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class LimitMonitor:
    """Is ``value`` beyond ``limit`` (above it; negate both for "below")?

    It becomes exceeded once ``value > limit`` has held for ``delay_s``, and returns to normal
    once ``value <= limit - hysteresis`` has held for ``delay_s``. Values in between keep the
    state (and restart neither timer's wait). No value or no limit (``None``) is normal at once.

    Attributes:
        hysteresis: in the value's unit (W for grid power, % for SoC).
        delay_s: how long a crossing must last, s (0: at once).
        exceeded: the state now.
    """

    hysteresis: float
    delay_s: float
    exceeded: bool = False
    _pending_since: datetime | None = None

    def update(self, value: float | None, limit: float | None, now: datetime) -> bool | None:
        """Feed a value (or re-check the last one at ``now``); the new state when it changed."""
        if value is None or limit is None:
            self._pending_since = None
            if self.exceeded:
                self.exceeded = False
                return False
            return None
        crossing = value <= limit - self.hysteresis if self.exceeded else value > limit
        if not crossing:
            self._pending_since = None
            return None
        if self._pending_since is None:
            self._pending_since = now
        if (now - self._pending_since).total_seconds() < self.delay_s:
            return None
        self._pending_since = None
        self.exceeded = not self.exceeded
        return self.exceeded
