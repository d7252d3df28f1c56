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
        for demand in schedule_demands(self.plan, ctx.snapshot, ctx.config, planner, ctx.now):
            if demand.resource.endswith(".BatteryPowerSetpoint"):
                planned = ctx.planned.get(demand.resource, 0.0)
                bounded = min(demand.high, max(demand.low, planned))
                ctx.add_grid(planned - bounded)  # less discharge / more charge: more import
                ctx.planned[demand.resource] = bounded
            ctx.demand(demand)
