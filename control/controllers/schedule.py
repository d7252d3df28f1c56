"""The day-ahead plan as a controller (priority ``SCHEDULE``).

It settles after the device controllers and before the grid limits: the plan's bounds on the
battery (``ampacity.control.schedule``) are applied to what self-consumption planned, the
difference goes back into the planned grid power, and only then do the feed-in and import limits
settle on the whole plan, so a bounded battery never lets the export exceed the feed-in limit.

The plan's curtailment (a slot where exporting costs money) is applied on measured power: the
inverters may give what makes the grid power the plan's, ``produced + grid − planned grid``
(grid W + import; at least 0), shared by nominal power. So the site exports no more than the
plan (none at a negative price) and imports what the plan imports, and otherwise the house
runs on the sun; where the plan curtails all the PV it forecast (importing pays), the limit is
0 W. Taken from the forecast (``produced − curtailment``), a curtailed inverter's own low
output lowered its next limit: the PV fell to 0 W within a few cycles and the house ran on the
grid and the battery although importing cost money.
"""

from __future__ import annotations

from dataclasses import replace

from ..context import CycleContext
from ..dayahead import Plan
from ..demands import Demand
from ..schedule import PlannerConfig, schedule_demands
from .base import Controller
from .limits import PV_LIMIT, pv_nominal_w


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
        curtailed, cut_w = self._curtailed_limits(ctx)
        cut = False
        batteries: list[Demand] = []
        for demand in schedule_demands(self.plan, ctx.snapshot, ctx.config, planner, ctx.now):
            if demand.resource in curtailed:  # the plan curtails: on measured power
                demand = replace(demand, high=curtailed[demand.resource])
                cut = True
            if demand.resource.endswith(".BatteryPowerSetpoint"):
                planned = ctx.planned.get(demand.resource, 0.0)
                bounded = min(demand.high, max(demand.low, planned))
                ctx.add_grid(planned - bounded)  # less discharge / more charge: more import
                ctx.planned[demand.resource] = bounded
                batteries.append(demand)  # made below, once the vehicles' load is known
                continue
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
        if planner.battery_to_vehicles:
            batteries = self._into_vehicles(ctx, batteries)
        ctx.demand(*batteries)
        if cut:
            ctx.add_grid(cut_w)  # less PV: the limits settling after see the import it adds

    def _into_vehicles(self, ctx: CycleContext, batteries: list[Demand]) -> list[Demand]:
        """Where the plan discharges the batteries while it charges a vehicle, the batteries
        cover the import the vehicles add, up to the plan's discharge bound: self-consumption
        (which settles before the plan's charging is known) evens out the house alone. The
        battery demands with their lower bound raised to what they are to give."""
        plan = self.plan
        index = plan.slot_at(ctx.now) if plan is not None else None
        if plan is None or index is None or index >= len(plan.battery_w):
            return batteries
        charging = any(index < len(w) and w[index] > 1.0 for w in plan.vehicle_w.values())
        if not charging or plan.battery_w[index] <= 1.0:
            return batteries
        raised = []
        for demand in batteries:
            excess = ctx.predicted_grid_w - ctx.grid_target_w
            planned = ctx.planned.get(demand.resource, 0.0)
            extra = max(0.0, min(excess, demand.high - planned))
            if extra > 0:
                value = planned + extra
                ctx.planned[demand.resource] = value
                ctx.add_grid(-extra)
                why = f"{demand.reason}: into the charging vehicle"
                demand = replace(demand, low=value, reason=why)
            raised.append(demand)
        return raised

    def _curtailed_limits(self, ctx: CycleContext) -> tuple[dict[str, float], float]:
        """Each inverter's limit where the plan curtails (W: its nominal share of what brings
        the measured grid power to the plan's, see the module), and what that takes off the
        measured output, W."""
        plan = self.plan
        index = plan.slot_at(ctx.now) if plan is not None else None
        s = ctx.snapshot
        nominal = {pv.id: pv_nominal_w(s, pv) for pv in ctx.config.pv}
        total_nominal = sum(nominal.values())
        if plan is None or index is None or total_nominal <= 0:
            return {}, 0.0
        produced = sum(s.number(pv_id, "ActivePower") or 0.0 for pv_id in nominal)
        allowed = max(0.0, produced + ctx.grid_w - plan.grid_w[index])
        forecast = plan.inputs.pv_w if plan.inputs is not None else []
        if index < len(forecast) and plan.curtail_w[index] >= forecast[index] - 1.0:
            allowed = 0.0  # the plan uses no PV at all (importing pays): none
        limits = {f"{i}.{PV_LIMIT}": allowed * w / total_nominal for i, w in nominal.items()}
        return limits, max(0.0, produced - allowed)
