"""Surplus to heat: heating rods (continuous W) and heat pumps (SG-Ready 3 and 4).

A heating rod takes the surplus left at its place in the strategy's order, between its minimum
and rated power, until the water reaches its maximum temperature. A heat pump goes to SG-Ready 3
(recommended) once the surplus has covered ``recommend_surplus_w`` for ``on_delay_s``, to 4
(forced) once it has covered ``force_surplus_w`` as long, holds a raised state ``min_on_s`` and
returns to 2 (normal) when the surplus is gone. Power W, + consumption.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..config import HeatingRodConfig, HeatPumpConfig
from ..context import CycleContext
from ..demands import Demand, Priority
from ..snapshot import Snapshot
from .base import Controller

ROD_SETPOINT = "PowerSetpoint"
SG_READY = "SgReadyState"
NORMAL, RECOMMENDED, FORCED = 2, 3, 4


@dataclass
class HeatPumpState:
    state: int = NORMAL
    since: datetime | None = None
    """When the state was entered."""
    candidate: int = NORMAL
    candidate_since: datetime | None = None


class HeatingController(Controller):
    """All heating rods, then all heat pumps."""

    name = "surplus-heating"

    def __init__(self, rods: tuple[HeatingRodConfig, ...], pumps: tuple[HeatPumpConfig, ...]):
        self.rods = rods
        self.pumps = pumps
        self.assets = (*(r.id for r in rods), *(hp.id for hp in pumps))
        self.states = {hp.id: HeatPumpState() for hp in pumps}

    def grid_share_w(self, snapshot: Snapshot) -> float:
        rods = sum(snapshot.number(r.id, "ActivePower") or 0.0 for r in self.rods)
        boosts = sum(hp.boost_power_w for hp in self.pumps if self.states[hp.id].state > NORMAL)
        return rods + boosts

    def propose(self, ctx: CycleContext) -> None:
        for rod in self.rods:
            self._rod(ctx, rod)
        for hp in self.pumps:
            self._pump(ctx, hp, self.states[hp.id])

    def _rod(self, ctx: CycleContext, rod: HeatingRodConfig) -> None:
        surplus = ctx.grid_target_w - ctx.predicted_grid_w
        temperature = ctx.snapshot.number(rod.id, "Temperature")
        if temperature is not None and temperature >= rod.max_temperature_c:
            power, reason = 0.0, f"water at {temperature:.0f} °C"
        elif surplus < rod.min_power_w or surplus <= 0:
            power, reason = 0.0, f"surplus {max(0.0, surplus):.0f} W below minimum"
        else:
            power = min(rod.max_power_w, surplus)
            reason = f"PV surplus {surplus:.0f} W"
        resource = f"{rod.id}.{ROD_SETPOINT}"
        ctx.demand(Demand(resource, self.name, Priority.SURPLUS, reason, power))
        ctx.planned[resource] = power
        ctx.add_grid(power)

    def _pump(self, ctx: CycleContext, hp: HeatPumpConfig, st: HeatPumpState) -> None:
        now = ctx.now
        surplus = ctx.grid_target_w - ctx.predicted_grid_w
        wanted = (
            FORCED
            if surplus >= hp.force_surplus_w
            else RECOMMENDED
            if surplus >= hp.recommend_surplus_w
            else NORMAL
        )
        if wanted != st.candidate:
            st.candidate, st.candidate_since = wanted, now
        held_s = (now - st.candidate_since).total_seconds() if st.candidate_since else 0.0
        on_s = (now - st.since).total_seconds() if st.since else float("inf")
        if (wanted > st.state and held_s >= hp.on_delay_s) or (
            wanted < st.state and on_s >= hp.min_on_s
        ):
            st.state, st.since = wanted, now
        resource = f"{hp.id}.{SG_READY}"
        reason = {
            NORMAL: "normal operation",
            RECOMMENDED: "PV surplus: recommended",
            FORCED: "large PV surplus: forced",
        }[st.state]
        ctx.demand(Demand(resource, self.name, Priority.SURPLUS, reason, st.state))
        ctx.planned[resource] = st.state
        if st.state > NORMAL:
            ctx.add_grid(hp.boost_power_w)
