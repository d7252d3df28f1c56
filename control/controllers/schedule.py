"""The day-ahead plan as a controller (priority ``SCHEDULE``).

It settles after the device controllers and before the grid limits: the plan's bounds on the
battery (``ampacity.control.schedule``) are applied to what self-consumption planned, the
difference goes back into the planned grid power, and only then do the feed-in and import limits
settle on the whole plan, so a bounded battery never lets the export exceed the feed-in limit.
"""

from __future__ import annotations

from ..context import CycleContext
from ..dayahead import Plan
from ..schedule import PlannerConfig, schedule_demands
from .base import Controller


class ScheduleController(Controller):
    """Applies the current slot of ``plan`` (set by ``ControlCycle.set_plan``)."""

    name = "schedule"

    def __init__(self) -> None:
        self.plan: Plan | None = None

    def settle(self, ctx: CycleContext) -> None:
        if self.plan is None:
            return
        planner = ctx.config.planner or PlannerConfig()
        points = {f"{cp.id}.{cp.setpoint}": cp for cp in ctx.config.charge_points}
        for demand in schedule_demands(self.plan, ctx.snapshot, ctx.config, planner, ctx.now):
            if demand.resource.endswith(".BatteryPowerSetpoint"):
                planned = ctx.planned.get(demand.resource, 0.0)
                bounded = min(demand.high, max(demand.low, planned))
                ctx.add_grid(planned - bounded)  # less discharge / more charge: more import
                ctx.planned[demand.resource] = bounded
            cp = points.get(demand.resource)
            if cp is not None and demand.target is not None:
                # the plan's charging replaces the EV controller's: the import limit (which
                # settles after this) must see the extra load, or a battery held by the plan
                # lets the import pass its limit
                planned = ctx.planned.get(demand.resource, 0.0)
                phases = ctx.snapshot.number(cp.id, "PhasesInUse") or cp.phases
                extra = max(0.0, demand.target - planned) * cp.watts_per_unit(round(phases))
                ctx.add_grid(extra)
                ctx.planned[demand.resource] = max(planned, demand.target)
            ctx.demand(demand)
