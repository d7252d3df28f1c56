"""Electrolysers: hydrogen from PV surplus within a minimum load, a ramp and a minimum run time.

Each takes the surplus left at its place in the strategy's order, between its minimum and rated
power; below the minimum it stops, unless it started less than ``min_run_s`` ago, then it holds
the minimum load. The ramp limit is the arbiter's (``ResourceSpec.ramp_per_s``). Power W,
+ consumption.
"""

from __future__ import annotations

from datetime import datetime

from ..config import ElectrolyserConfig
from ..context import CycleContext
from ..demands import Demand, Priority
from ..snapshot import Snapshot
from .base import Controller

SETPOINT = "PowerSetpoint"


class ElectrolyserController(Controller):
    """All electrolysers, in the configured order."""

    name = "surplus-electrolyser"

    def __init__(self, units: tuple[ElectrolyserConfig, ...]) -> None:
        self.units = units
        self.assets = tuple(u.id for u in units)
        self.started: dict[str, datetime | None] = {u.id: None for u in units}
        self.tank_full: dict[str, bool] = {u.id: False for u in units}

    def grid_share_w(self, snapshot: Snapshot) -> float:
        return sum(snapshot.number(u.id, "ActivePower") or 0.0 for u in self.units)

    def propose(self, ctx: CycleContext) -> None:
        for unit in self.units:
            surplus = ctx.grid_target_w - ctx.predicted_grid_w
            started = self.started[unit.id]
            running_s = (ctx.now - started).total_seconds() if started else None
            if self._tank_full(ctx, unit):
                power, reason = 0.0, f"hydrogen store full (≥ {unit.stop_above_tank_pct:g} %)"
                self.started[unit.id] = None
            elif surplus >= unit.min_power_w and surplus > 0:
                power, reason = min(unit.max_power_w, surplus), f"PV surplus {surplus:.0f} W"
                self.started[unit.id] = started or ctx.now
            elif running_s is not None and running_s < unit.min_run_s:
                power, reason = unit.min_power_w, "minimum run time"
            else:
                power, reason = 0.0, f"surplus {max(0.0, surplus):.0f} W below minimum load"
                self.started[unit.id] = None
            resource = f"{unit.id}.{SETPOINT}"
            ctx.demand(Demand(resource, self.name, Priority.SURPLUS, reason, power))
            ctx.planned[resource] = power
            ctx.add_grid(self._expected_w(ctx, unit, power))

    def _tank_full(self, ctx: CycleContext, unit: ElectrolyserConfig) -> bool:
        """The store is full: from the stop level until it fell below the resume level (an
        unknown level keeps the last decision)."""
        if unit.stop_above_tank_pct is None:
            return False
        level = ctx.snapshot.number(unit.id, "HydrogenTankLevel")
        if level is not None:
            resume = unit.resume_pct
            assert resume is not None
            if level >= unit.stop_above_tank_pct:
                self.tank_full[unit.id] = True
            elif level < resume:
                self.tank_full[unit.id] = False
        return self.tank_full[unit.id]

    @staticmethod
    def _expected_w(ctx: CycleContext, unit: ElectrolyserConfig, power: float) -> float:
        """What it will draw by the next cycle: a rise is limited by the ramp."""
        measured = ctx.snapshot.number(unit.id, "ActivePower")
        if measured is None or unit.ramp_w_per_s is None or power <= measured:
            return power
        return min(power, measured + unit.ramp_w_per_s * (ctx.dt_s or ctx.config.cycle_s))
