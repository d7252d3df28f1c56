"""An AC charge point with vehicle sessions, following its charge current limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

NOMINAL_VOLTAGE_V = 230.0
MIN_CURRENT_A = 6.0
"""IEC 61851: below 6 A a vehicle does not charge."""


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """A vehicle that comes every day.

    Attributes:
        arrival / departure: local wall-clock times (departure before arrival = next morning).
        energy_wh: energy the vehicle wants per session, Wh.
        phases: phases the vehicle charges on (1 or 3).
        max_current_a: the vehicle's own current limit per phase, A.
    """

    arrival: time
    departure: time
    energy_wh: float
    phases: int = 3
    max_current_a: float = 16.0

    def plugged_in(self, local: datetime) -> bool:
        now = local.time()
        if self.arrival <= self.departure:
            return self.arrival <= now < self.departure
        return now >= self.arrival or now < self.departure

    def session_start(self, local: datetime) -> datetime:
        """Start of the session that covers ``local`` (``plugged_in`` must be true)."""
        start = local.replace(
            hour=self.arrival.hour, minute=self.arrival.minute, second=0, microsecond=0
        )
        return start if start <= local else start - timedelta(days=1)


@dataclass
class ChargePointSim:
    """One connector: vehicle presence, charging power, energy counters.

    Attributes:
        plan: the daily vehicle session (``None`` = nobody comes).
        limit_a: the charge current limit in force, A (0 = paused).
        fallback_limit_a: the current the station falls back to when the EMS stops refreshing
            the limit (Alfen safe current, Heidelberg failsafe current), A.
        limit_timeout_s: validity of a written limit without refresh, s (``None`` = forever).
        phases_setting: phases the station lets the vehicle use (1 or 3).
    """

    plan: SessionPlan | None
    limit_a: float = 16.0
    fallback_limit_a: float = 6.0
    limit_timeout_s: float | None = 60.0
    phases_setting: int = 3
    limit_age_s: float = 0.0
    connected: bool = False
    current_a: float = 0.0
    power_w: float = 0.0
    session_wh: float = 0.0
    total_wh: float = 0.0
    _session_key: datetime | None = field(default=None, repr=False)

    def set_limit(self, amps: float) -> None:
        """The EMS wrote a limit (A; 0 pauses)."""
        self.limit_a = max(0.0, amps)
        self.limit_age_s = 0.0

    def set_phases(self, phases: float) -> None:
        """The EMS switched phases (1 or 3; other values are ignored, as the station does)."""
        if int(phases) in (1, 3):
            self.phases_setting = int(phases)

    @property
    def effective_limit_a(self) -> float:
        if self.limit_timeout_s is not None and self.limit_age_s > self.limit_timeout_s:
            return self.fallback_limit_a
        return self.limit_a

    @property
    def phases(self) -> int:
        if self.plan is None:
            return 0
        return min(self.plan.phases, self.phases_setting)

    @property
    def charging(self) -> bool:
        return self.power_w > 0

    def step(self, local: datetime, dt_s: float) -> float:
        """Advance ``dt_s`` seconds ending at ``local``; returns the power drawn, W (≥ 0)."""
        self.limit_age_s += dt_s
        plan = self.plan
        self.connected = plan is not None and plan.plugged_in(local)
        if not self.connected or plan is None:
            self.current_a = self.power_w = 0.0
            self._session_key = None
            return 0.0
        key = plan.session_start(local)
        if key != self._session_key:
            self._session_key = key
            self.session_wh = 0.0
        current = min(self.effective_limit_a, plan.max_current_a)
        if current < MIN_CURRENT_A or self.session_wh >= plan.energy_wh:
            current = 0.0
        power = current * NOMINAL_VOLTAGE_V * self.phases
        if power > 0 and dt_s > 0:
            power = min(power, (plan.energy_wh - self.session_wh) * 3600.0 / dt_s)
            current = power / (NOMINAL_VOLTAGE_V * self.phases)
        energy = power * dt_s / 3600.0
        self.session_wh += energy
        self.total_wh += energy
        self.current_a, self.power_w = current, power
        return power
