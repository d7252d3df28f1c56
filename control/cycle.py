"""The control cycle: snapshot -> controllers -> arbitration -> decisions.

``ControlCycle.step(snapshot, now)`` is synchronous, pure of I/O and fast; the caller owns timing
(``config.cycle_s``) and the writes. One step:

1. choose the strategy (decision tree over SoC, time, price, signals);
2. if the grid meter is stale or Bad: every asset to its fail-safe state, no controller runs;
3. otherwise compute the residual grid power, run ``propose`` of each controller in the
   strategy's order (limits first), then ``settle`` in the reverse order (limits last, on the
   whole plan); a controller that raises is reported, its demands dropped and its
   assets put into their fail-safe state, and the cycle goes on;
4. add the external demands (marketer, grid operator) that have not expired;
5. arbitrate every resource with the same rule and clamp to device limits and ramps.
"""

from __future__ import annotations

import math
import time as _time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

from .arbiter import Decision, ResourceSpec, arbitrate
from .config import ControlConfig, StrategyConfig
from .context import CycleContext
from .controllers.base import Controller
from .controllers.limits import feed_in_limit_w, pv_nominal_w
from .controllers.schedule import ScheduleController
from .dayahead import Plan, PlanInputs, solve
from .demands import Demand
from .failsafe import failsafe_demands
from .schedule import schedule_demands
from .snapshot import Snapshot
from .strategy import build_controllers, choose, price_at
from .vehicles import VehicleObserver

REPLAN_DIFFERENCE = 0.10
"""A car whose learned power differs from the plan's by more than this share is re-planned."""
DEMAND_INTERVAL_S = 900.0
"""A demand charge bills the highest mean import over intervals of this length, s."""


@dataclass
class LoadMean:
    """The site's mean load over the last ``window_s``, W: each cycle's residual grid power
    (the site with every controlled asset taken out: load − PV) plus the PV's measured output."""

    window_s: float = DEMAND_INTERVAL_S
    _samples: deque[tuple[datetime, float]] = field(default_factory=deque)

    def observe(self, now: datetime, load_w: float) -> None:
        self._samples.append((now, load_w))
        while self._samples and (now - self._samples[0][0]).total_seconds() > self.window_s:
            self._samples.popleft()

    @property
    def mean_w(self) -> float | None:
        """``None`` before the first cycle with a grid reading."""
        return fmean(v for _, v in self._samples) if self._samples else None


@dataclass
class ImportPeak:
    """The highest 15-minute mean grid import of the calendar month (what a demand charge
    bills), W, from the grid meter's reading at each cycle (a reading stands for the time since
    the previous cycle). Intervals are aligned to the quarter-hour; months are the site's local
    ones. The interval in progress counts with what it has so far (a lower bound of its mean).
    """

    peak_w: float = 0.0
    _month: tuple[int, int] | None = None
    _interval: int | None = None
    _energy_ws: float = 0.0

    def observe(self, now: datetime, grid_w: float, dt_s: float, zone: ZoneInfo) -> None:
        """A reading of ``grid_w`` (W, + import) at ``now`` for the ``dt_s`` before it (counted
        in the interval of the span's middle)."""
        span = max(0.0, min(dt_s, DEMAND_INTERVAL_S))
        middle = now - timedelta(seconds=span / 2)
        local = middle.astimezone(zone)
        if (local.year, local.month) != self._month:
            self._month, self.peak_w = (local.year, local.month), 0.0
            self._interval = None
        interval = int(middle.timestamp() // DEMAND_INTERVAL_S)
        if interval != self._interval:
            self._interval, self._energy_ws = interval, 0.0
        self._energy_ws += max(0.0, grid_w) * span
        self.peak_w = max(self.peak_w, self._energy_ws / DEMAND_INTERVAL_S)


@dataclass(frozen=True, slots=True)
class ControllerError:
    """A controller raised; it was skipped this cycle and its assets went fail-safe."""

    controller: str
    error: str


@dataclass(frozen=True, slots=True)
class CycleResult:
    """The outcome of one cycle.

    Attributes:
        decisions: resource -> decision; write each ``value`` to its setpoint node, all together.
        strategy: the strategy in force.
        failsafe: why every asset is fail-safe (``None`` in normal operation).
        errors: controllers that raised.
        duration_s: computing time of the step, s.
        overrun: the step took longer than the cycle period.
    """

    decisions: dict[str, Decision]
    strategy: str
    failsafe: str | None = None
    errors: tuple[ControllerError, ...] = ()
    duration_s: float = 0.0
    overrun: bool = False

    def writes(self) -> dict[str, float]:
        """Resource -> value to write."""
        return {resource: d.value for resource, d in self.decisions.items()}


@dataclass
class CycleStats:
    """Counters an HMI shows under ``Site.Control``."""

    cycles: int = 0
    overruns: int = 0
    errors: int = 0
    last_duration_s: float = 0.0


@dataclass
class ControlCycle:
    """The site's control loop (one instance per site, kept across cycles).

    Args:
        config: the ``control:`` config.
        timer: monotonic seconds for duration and overrun accounting (injectable for tests).
    """

    config: ControlConfig
    timer: Callable[[], float] = _time.perf_counter
    stats: CycleStats = field(default_factory=CycleStats)
    external: dict[tuple[str, str], Demand] = field(default_factory=dict)
    previous: dict[str, float] = field(default_factory=dict)
    last_result: CycleResult | None = None
    plan: Plan | None = None
    """The day-ahead plan in force (``set_plan``); its current slot bounds the control."""
    vehicles: VehicleObserver = field(default_factory=VehicleObserver)
    """What each connected car really takes (phases, power), learned every cycle."""
    replans: int = 0
    """Plans re-solved by the cycle because a car takes other power than planned."""
    replan_solver: Callable[[PlanInputs], None] | None = None
    """Where a re-plan is solved: ``None`` solves it in ``step`` (a MILP may take seconds); the
    server sets a callable that solves the inputs off the event loop and calls ``set_plan``."""
    rejected: set[str] = field(default_factory=set)
    """Resources whose last device write was refused (``write_result``)."""
    grid_range_w: tuple[float, float] = (-math.inf, math.inf)
    """The grid range the last cycle allowed (−feed-in limit, import limit less its margin), W."""
    load: LoadMean = field(default_factory=LoadMean)
    """The site's load over the last quarter-hour (a plan's nowcast of its load forecast)."""
    import_peak: ImportPeak = field(default_factory=ImportPeak)
    """The month's highest 15-minute import so far (a plan's floor for the demand charge)."""
    _strategies: dict[str, StrategyConfig] = field(default_factory=dict, init=False)
    _controllers: dict[str, list[Controller]] = field(default_factory=dict, init=False)
    _last_time: datetime | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._strategies = self.config.all_strategies()
        self._controllers = {
            name: build_controllers(self.config, strategy)
            for name, strategy in self._strategies.items()
        }

    def set_plan(self, plan: Plan | None) -> None:
        """A new day-ahead plan (``None``: local control only); needs ``config.planner``. A
        vehicle in it planned at other power than its car was seen to take is re-planned at the
        next ``step``."""
        self.plan = plan
        for controllers in self._controllers.values():
            for controller in controllers:
                if isinstance(controller, ScheduleController):
                    controller.plan = plan

    # --- external demands -----------------------------------------------------------------------

    def put(self, demand: Demand) -> None:
        """An external demand (marketer, grid operator, operator) held until it expires or is
        replaced by the same owner on the same resource. Run ``step`` right after it so it acts
        at once. A target without a range is a command: its range is pinned to the target, so
        no lower priority's bound moves it (the arbiter's rule 3)."""
        if demand.target is not None and demand.low == -math.inf and demand.high == math.inf:
            demand = replace(demand, low=demand.target, high=demand.target)
        self.external[(demand.owner, demand.resource)] = demand

    def write_result(self, resource: str, ok: bool) -> None:
        """How the device took the last write of ``resource`` (the server reports each write):
        a refused PV limit makes the feed-in limit redistribute at the next cycle."""
        if ok:
            self.rejected.discard(resource)
        else:
            self.rejected.add(resource)

    def urgent(self, grid_w: float) -> bool:
        """A new grid meter reading outside the range the last cycle allowed: run a cycle now
        rather than at the next tick (the server asks on every meter update)."""
        low, high = self.grid_range_w
        return grid_w > high or grid_w < low

    def withdraw(self, owner: str, resource: str | None = None) -> None:
        """Remove an owner's external demands (on one resource or all)."""
        for key in [k for k in self.external if k[0] == owner and resource in (None, k[1])]:
            del self.external[key]

    # --- the cycle ------------------------------------------------------------------------------

    def step(self, snapshot: Snapshot, now: datetime) -> CycleResult:
        """Run one cycle on ``snapshot`` at ``now``; returns the decisions to write."""
        started = self.timer()
        if snapshot.max_age_s != self.config.stale_after_s:
            snapshot = replace(snapshot, max_age_s=self.config.stale_after_s)
        dt_s = 0.0 if self._last_time is None else (now - self._last_time).total_seconds()
        self._last_time = now
        config = self.config
        name = choose(config.strategy, config, snapshot, now)
        strategy = self._strategies[name]
        controllers = self._controllers[name]
        grid = snapshot.number(config.grid_meter, "ActivePower")
        ctx = CycleContext(
            snapshot=snapshot,
            now=now,
            dt_s=dt_s,
            config=config,
            strategy=strategy,
            grid_w=grid or 0.0,
            predicted_grid_w=0.0,
            previous=dict(self.previous),
            price=price_at(config, snapshot, now),
            rejected=frozenset(self.rejected),
            plan_import_max_w=self._plan_import_max(now),
            plan_vehicle_w=self._plan_vehicle_w(now),
        )
        if any(self._surplus_vehicle_w(now).values()):
            ctx.plan_battery_w = self._plan_battery_w(snapshot, now)
        if grid is not None:
            self.import_peak.observe(now, grid, dt_s, ZoneInfo(config.time_zone))
        self.vehicles.observe(snapshot, config.charge_points, self.previous)
        self._replan_vehicles(snapshot, now)
        limit = feed_in_limit_w(ctx, config.pv)
        errors: list[ControllerError] = []
        failsafe = None
        if grid is None:
            failsafe = f"grid meter {config.grid_meter} stale or Bad"
            ctx.demand(*failsafe_demands(config, self._all_assets(), failsafe, limit))
        else:
            ctx.predicted_grid_w = grid - sum(c.grid_share_w(snapshot) for c in controllers)
            produced = sum(snapshot.number(pv.id, "ActivePower") or 0.0 for pv in config.pv)
            self.load.observe(now, ctx.predicted_grid_w + produced)
            for phase, order in (("propose", controllers), ("settle", controllers[::-1])):
                for controller in order:
                    if any(e.controller == controller.name for e in errors):
                        continue
                    error = _run(controller, phase, ctx)
                    if error is not None:
                        errors.append(error)
                        ctx.demands = [d for d in ctx.demands if d.owner != controller.name]
                        reason = f"controller {controller.name} failed"
                        ctx.demand(*failsafe_demands(config, set(controller.assets), reason, limit))
        self.external = {k: d for k, d in self.external.items() if not d.expired(now)}
        ctx.demand(*self.external.values())
        decisions = self._arbitrate(ctx)
        self.grid_range_w = (ctx.grid_min_w, ctx.grid_max_w)
        self.previous.update({r: d.value for r, d in decisions.items()})
        duration = self.timer() - started
        overrun = duration > config.cycle_s
        self.stats.cycles += 1
        self.stats.overruns += overrun
        self.stats.errors += len(errors)
        self.stats.last_duration_s = duration
        self.last_result = CycleResult(decisions, name, failsafe, tuple(errors), duration, overrun)
        return self.last_result

    def _plan_import_max(self, now: datetime) -> float | None:
        """The plan's peak import against a demand charge while the plan covers ``now``, W
        (the plan starts from the month's peak so far, ``import_peak``, so a peak the load has
        already set is never defended again at the batteries' cost)."""
        plan = self.plan
        if plan is None or not plan.usable or plan.peak_import_w is None:
            return None
        return plan.peak_import_w if plan.slot_at(now) is not None else None

    def _plan_battery_w(self, snapshot: Snapshot, now: datetime) -> dict[str, tuple[float, float]]:
        """The plan's range for each battery setpoint now (what ``ScheduleController`` applies)."""
        planner = self.config.planner
        if self.plan is None or planner is None:
            return {}
        return {
            d.resource: (d.low, d.high)
            for d in schedule_demands(self.plan, snapshot, self.config, planner, now)
            if d.resource.endswith(".BatteryPowerSetpoint")
        }

    def _surplus_vehicle_w(self, now: datetime) -> dict[str, float]:
        """The plan's power now for each vehicle without a target (Surplus mode), W."""
        plan = self.plan
        inputs = plan.inputs if plan is not None else None
        index = plan.slot_at(now) if plan is not None and plan.usable else None
        if plan is None or inputs is None or index is None:
            return {}
        found = {}
        for v in inputs.vehicles:
            series = plan.vehicle_w.get(v.id, [])
            if v.surplus and index < len(series):
                found[v.id] = series[index]
        return found

    def _plan_vehicle_w(self, now: datetime) -> dict[str, float]:
        """The most each planned vehicle without a target may take now, W (plan + margin)."""
        planner = self.config.planner
        inputs = self.plan.inputs if self.plan is not None else None
        if planner is None or inputs is None:
            return {}
        rated = {v.id: v.max_w for v in inputs.vehicles}
        return {
            cp: w + planner.margin_pct / 100.0 * rated[cp]
            for cp, w in self._surplus_vehicle_w(now).items()
        }

    def _replan_vehicles(self, snapshot: Snapshot, now: datetime) -> None:
        """Re-solve the rest of the plan when a car takes other power (or phases) than it was
        planned with: from the current slot on, with the batteries' SoC and each car's session
        energy now; heating energies in proportion to the slots left."""
        plan = self.plan
        inputs = plan.inputs if plan is not None else None
        if plan is None or inputs is None or not inputs.vehicles or not plan.usable:
            return
        points = {cp.id: cp for cp in self.config.charge_points}
        learned = {
            v.id: self.vehicles.max_w(points[v.id])
            for v in inputs.vehicles
            if v.id in points and self.vehicles.learned(v.id)
        }
        if not any(
            abs(w - v.max_w) > REPLAN_DIFFERENCE * v.max_w
            for v in inputs.vehicles
            if (w := learned.get(v.id)) is not None
        ):
            return
        index = plan.slot_at(now)
        if index is None:
            return
        n = inputs.slots
        vehicles = []
        for v in inputs.vehicles:
            session = snapshot.number(v.id, "SessionEnergy")
            came = max(0.0, session - v.delivered_wh) if session is not None else 0.0
            vehicles.append(
                replace(
                    v,
                    energy_wh=max(0.0, v.energy_wh - came),
                    max_w=learned.get(v.id, v.max_w),
                    delivered_wh=v.delivered_wh + came,
                )
            )
        left = (n - index) / n
        fresh = replace(
            inputs,
            start=plan.start + timedelta(seconds=index * plan.slot_s),
            import_price=inputs.import_price[index:],
            export_price=inputs.export_price[index:],
            pv_w=inputs.pv_w[index:],
            load_w=inputs.load_w[index:],
            soc_pct=_soc_pct(snapshot, self.config, inputs.soc_pct),
            vehicles=tuple(vehicles),
            peak_floor_w=max(inputs.peak_floor_w, self.import_peak.peak_w),
            rod_energy_wh=inputs.rod_energy_wh * left,
            heat_pump_energy_wh=inputs.heat_pump_energy_wh * left,
        )
        self.replans += 1
        if self.replan_solver is not None:
            self.set_plan(replace(plan, inputs=fresh))  # asked for once; the solver's plan follows
            self.replan_solver(fresh)
            return
        replanned = solve(fresh)
        if replanned.usable:
            self.set_plan(replanned)
        else:  # keep the plan in force, but do not try again every cycle
            self.set_plan(replace(plan, inputs=fresh))

    def _all_assets(self) -> set[str]:
        c = self.config
        groups = (
            c.batteries,
            c.pv,
            c.charge_points,
            c.heating_rods,
            c.heat_pumps,
            c.electrolysers,
            c.generators,
        )
        return {a.id for group in groups for a in group}

    def resource_specs(self, snapshot: Snapshot) -> dict[str, ResourceSpec]:
        """The writable resources with their device limits now."""
        specs: dict[str, ResourceSpec] = {}
        for b in self.config.batteries:
            r = f"{b.id}.BatteryPowerSetpoint"
            charge = snapshot.number(b.id, "MaxChargePower")
            discharge = snapshot.number(b.id, "MaxDischargePower")
            specs[r] = ResourceSpec(
                r,
                -(charge if charge is not None else b.max_charge_w or 0.0),
                discharge if discharge is not None else b.max_discharge_w or 0.0,
                0.0,
                b.ramp_w_per_s,
            )
        for pv in self.config.pv:
            r = f"{pv.id}.ActivePowerLimit"
            nominal = pv_nominal_w(snapshot, pv)
            if nominal <= 0:  # rating not read yet: no limit is better than a limit of 0 W
                continue
            specs[r] = ResourceSpec(r, 0.0, nominal, nominal)
        for cp in self.config.charge_points:
            r = f"{cp.id}.{cp.setpoint}"
            specs[r] = ResourceSpec(r, 0.0, cp.maximum, 0.0)
        for rod in self.config.heating_rods:
            r = f"{rod.id}.PowerSetpoint"
            specs[r] = ResourceSpec(r, 0.0, rod.max_power_w, 0.0)
        for unit in self.config.electrolysers:
            r = f"{unit.id}.PowerSetpoint"
            specs[r] = ResourceSpec(r, 0.0, unit.max_power_w, 0.0, unit.ramp_w_per_s)
        for gen in self.config.generators:
            r = f"{gen.id}.PowerSetpoint"
            specs[r] = ResourceSpec(r, 0.0, gen.rated_power_w, 0.0)
        for hp in self.config.heat_pumps:
            r = f"{hp.id}.SgReadyState"
            specs[r] = ResourceSpec(r, 1.0, 4.0, 2.0)
        return specs

    def _arbitrate(self, ctx: CycleContext) -> dict[str, Decision]:
        specs = self.resource_specs(ctx.snapshot)
        by_resource: dict[str, list[Demand]] = {r: [] for r in specs}
        for demand in ctx.demands:
            if demand.expired(ctx.now):
                continue
            by_resource.setdefault(demand.resource, []).append(demand)
        decisions = {}
        for resource, demands in by_resource.items():
            spec = specs.get(resource)
            if spec is None and resource.endswith(".ActivePowerLimit"):
                continue  # a PV inverter whose rating is unknown yet: not limited blindly
            if spec is None:  # a mode or phase switch: written only when demanded
                if not demands:
                    continue
                spec = ResourceSpec(resource, -1e12, 1e12, demands[0].target or 0.0)
            previous = self.previous.get(resource, spec.neutral)  # a ramp starts from neutral
            decisions[resource] = arbitrate(
                spec, demands, previous, ctx.dt_s or self.config.cycle_s
            )
        return decisions


def _soc_pct(snapshot: Snapshot, config: ControlConfig, default: float) -> float:
    """The batteries' SoC together (capacity-weighted), %; ``default`` if none is known."""
    stored = capacity = 0.0
    for b in config.batteries:
        cap = snapshot.number(b.id, "Capacity") or 0.0
        soc = snapshot.number(b.id, "StateOfCharge")
        if cap > 0 and soc is not None:
            stored, capacity = stored + cap * soc / 100.0, capacity + cap
    return stored / capacity * 100.0 if capacity > 0 else default


def _run(controller: Controller, phase: str, ctx: CycleContext) -> ControllerError | None:
    try:
        getattr(controller, phase)(ctx)
    except Exception as exc:  # a controller's bug must not stop the cycle
        return ControllerError(controller.name, f"{phase}: {type(exc).__name__}: {exc}")
    return None
