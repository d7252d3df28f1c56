"""What each connected vehicle really takes: learned from its session, for the plan.

A charge point's rating is not the car's: a car with a 1-phase 8 A on-board charger takes 1.8 kW
at a 3.7 kW point, and a 1-phase car on a 3-phase point uses one phase. Planning such a car at
the point's power schedules too few hours and misses its target. ``VehicleObserver`` watches
every cycle's snapshot next to the setpoint the control wrote last:

* phases: the ``PhasesInUse`` reading while the car charges (on a point that cannot switch
  phases, that is the car's);
* power: when the car draws clearly less than it was offered for ``confirm`` cycles in a row, its
  limit is what it drew (the highest such draw; a car that later takes more raises it).

What was learned holds while the car stays connected and is forgotten when it leaves. Powers W
(consumption +), currents A per phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ChargePointConfig
from .snapshot import Snapshot

CHARGING_W = 300.0
"""A car drawing less than this is not charging (paused, full, or waiting)."""
SHORT_PCT = 15.0
"""A car that draws this much (%, plus ``SHORT_W``) below what it is offered is at its own limit."""
SHORT_W = 200.0


@dataclass
class _Learned:
    phases: int | None = None
    max_w: float | None = None
    short_count: int = 0


@dataclass
class VehicleObserver:
    """Learns each connected car's phases and power limit (see the module's description).

    Args:
        confirm: observations in a row that show a car below its offer before it counts.
    """

    confirm: int = 3
    _cars: dict[str, _Learned] = field(default_factory=dict)

    def observe(
        self,
        snapshot: Snapshot,
        charge_points: tuple[ChargePointConfig, ...],
        offered: dict[str, float],
    ) -> None:
        """One cycle's readings; ``offered``: the setpoints written last (resource -> value)."""
        for cp in charge_points:
            if not snapshot.flag(cp.id, "VehicleConnected"):
                self._cars.pop(cp.id, None)
                continue
            car = self._cars.setdefault(cp.id, _Learned())
            power = snapshot.number(cp.id, "ActivePower") or 0.0
            if power < CHARGING_W:
                car.short_count = 0
                continue
            phases = snapshot.number(cp.id, "PhasesInUse")
            if phases is not None and round(phases) in (1, 2, 3) and not cp.phase_switching:
                car.phases = round(phases)
            offer = offered.get(f"{cp.id}.{cp.setpoint}")
            if offer is None:
                continue
            used = car.phases or cp.phases
            offer_w = offer if cp.dc else offer * cp.voltage_v * used
            if power < offer_w * (1.0 - SHORT_PCT / 100.0) - SHORT_W:
                car.short_count += 1
                if car.short_count >= self.confirm:
                    car.max_w = max(car.max_w or 0.0, power)
            else:
                car.short_count = 0
                if car.max_w is not None and power > car.max_w:
                    car.max_w = power  # it takes more than we thought

    def max_w(self, cp: ChargePointConfig) -> float:
        """The power to plan this car with, W: the point's rating on the car's phases, at most
        what the car was seen to take."""
        car = self._cars.get(cp.id, _Learned())
        rating = cp.max_power_w if cp.dc else cp.max_current_a * cp.voltage_v
        if not cp.dc:
            rating *= car.phases or cp.phases
        return min(rating, car.max_w) if car.max_w is not None else rating

    def learned(self, cp_id: str) -> bool:
        """Something is known about the car at ``cp_id`` beyond the point's rating."""
        car = self._cars.get(cp_id)
        return car is not None and (car.max_w is not None or car.phases is not None)
