"""CHP units and fuel cells: heat-led or power-led dispatch with minimum run and stop times.

Heat-led: full power from when the store temperature falls below ``start_below_c`` until it
rises above ``stop_above_c``. Power-led: covers the site's import from ``min_power_w`` up to the
rated power. Either way a started unit runs at least ``min_run_s`` (at minimum power if nothing
asks for more) and a stopped one rests ``min_stop_s``. Power W, + production; the lowest
priority of all (generator dispatch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..config import GeneratorConfig
from ..context import CycleContext
from ..demands import Demand, Priority
from ..snapshot import Snapshot
from .base import Controller

SETPOINT = "PowerSetpoint"


@dataclass
class GeneratorState:
    running: bool = False
    since: datetime | None = None
    """When it last started or stopped."""


class GeneratorController(Controller):
    """All generators; they plan at their place in the strategy's order (last by default), so a
    power-led unit covers import before the battery's discharge is settled."""

    name = "generator-dispatch"

    def __init__(self, units: tuple[GeneratorConfig, ...]) -> None:
        self.units = units
        self.assets = tuple(u.id for u in units)
        self.states = {u.id: GeneratorState() for u in units}

    def grid_share_w(self, snapshot: Snapshot) -> float:
        return -sum(snapshot.number(u.id, "ActivePower") or 0.0 for u in self.units)

    def propose(self, ctx: CycleContext) -> None:
        for unit in self.units:
            self._one(ctx, unit, self.states[unit.id])

    def _one(self, ctx: CycleContext, unit: GeneratorConfig, st: GeneratorState) -> None:
        held_s = (ctx.now - st.since).total_seconds() if st.since else float("inf")
        if unit.mode == "heat-led":
            wants, power, why = self._heat_led(ctx, unit, st)
        else:
            need = ctx.predicted_grid_w - ctx.grid_target_w
            wants = need >= max(unit.min_power_w, 1.0)
            power = min(unit.rated_power_w, max(unit.min_power_w, need))
            why = f"covers import of {need:.0f} W"
        if wants and not st.running and held_s >= unit.min_stop_s:
            st.running, st.since = True, ctx.now
        elif not wants and st.running and held_s >= unit.min_run_s:
            st.running, st.since = False, ctx.now
        if not st.running:
            power = 0.0
            why = "resting" if wants else "not needed"
        elif not wants:
            power, why = unit.min_power_w, "minimum run time"
        resource = f"{unit.id}.{SETPOINT}"
        ctx.demand(Demand(resource, self.name, Priority.GENERATOR_DISPATCH, why, power))
        ctx.planned[resource] = power
        ctx.add_grid(-power)

    @staticmethod
    def _heat_led(
        ctx: CycleContext, unit: GeneratorConfig, st: GeneratorState
    ) -> tuple[bool, float, str]:
        assert unit.temperature is not None  # validated
        asset, point = unit.temperature.rsplit(".", 1)
        temperature = ctx.snapshot.number(asset, point)
        if temperature is None:
            return False, 0.0, "store temperature unknown"
        threshold = unit.stop_above_c if st.running else unit.start_below_c
        wants = temperature < threshold
        return wants, unit.rated_power_w, f"store at {temperature:.0f} °C"
