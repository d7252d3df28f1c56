"""Scenario runner: the real control against the site physics (``sim/``) on a fake clock.

A scenario file (YAML, ``deploy/scenarios/``, schema in ``model.py``, described in
``docs/scenarios.md``) describes a day: the site (PV, load, batteries, inverters, vehicles; from
measured series or simulated), the tariff, the ``control:`` config, initial charge modes and
events (a grid meter going Bad, a mode change). ``run_scenario`` advances ``SitePhysics`` (or
``ScenarioPhysics`` where the file adds series or devices) in steps of ``step_s``
on a ``FakeClock``; a *policy* (Ampacity's ``ControlCycle`` or a baseline) is asked for setpoints
every ``period_s`` and its writes are applied to the simulated devices. KPIs are integrated per
step. Signs: grid + import, battery + discharge, PV + production, consumers + consumption.

A day at a 1 s step runs in about ten seconds; test scenarios use larger steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ampacity.assets import PointValue, Quality
from ampacity.assets.kinds import CHARGE_MODES
from ampacity.control import ChargeMode, ControlCycle, Snapshot, forecasting
from ampacity.control.dayahead import Plan, solve
from ampacity.control.schedule import (
    PlannerConfig,
    VehicleTarget,
    inputs_from,
    parse_price_forecast,
)
from ampacity.control.snapshot import Sample
from ampacity.control.violations import LimitViolations
from ampacity.sim.battery import BatterySim
from ampacity.sim.clock import FakeClock
from ampacity.sim.ev import NOMINAL_VOLTAGE_V, ChargePointSim, SessionPlan
from ampacity.sim.heat_pump import HeatPumpSim
from ampacity.sim.load import HouseholdLoad, site_zone
from ampacity.sim.site import INVERTER_EFFICIENCY, SiteConfig, SitePhysics
from ampacity.sim.solar import CloudModel, PvArray

from .baselines import EvccStylePolicy, NoControlPolicy
from .model import (
    CHARGE_POINT_IDS,
    MEASURED_DIR,
    SCENARIO_DIR,
    BatteryModel,
    ChargePointModel,
    EventModel,
    HeatPumpModel,
    InverterModel,
    LimitsModel,
    NamedBattery,
    Scenario,
    ScenarioError,
    SeriesRef,
    SessionModel,
    SiteModel,
    TariffModel,
    VehicleModel,
    load_scenario,
    with_step,
)
from .physics import (
    Available,
    Extras,
    Inverter,
    MeasuredHeatPump,
    ScenarioPhysics,
    Visit,
    VisitedChargePoint,
    from_ac_power,
    from_irradiance,
    from_model,
)

__all__ = [
    "CHARGE_POINT_IDS",
    "MEASURED_DIR",
    "SCENARIO_DIR",
    "TARGET_MODES",
    "AmpacityPolicy",
    "BatteryModel",
    "ChargePointModel",
    "EventModel",
    "Forecasts",
    "HeatPumpModel",
    "InverterModel",
    "Kpis",
    "LimitsModel",
    "NamedBattery",
    "Policy",
    "Scenario",
    "ScenarioError",
    "SeriesRef",
    "SessionModel",
    "SiteModel",
    "SurplusRulePolicy",
    "TariffAsset",
    "TariffModel",
    "VehicleModel",
    "ampacity_policy",
    "apply",
    "available_pv_w",
    "evcc_style",
    "heat_pump_of",
    "load_scenario",
    "make_physics",
    "measured_scenarios",
    "modes_at",
    "no_control",
    "no_control_policy",
    "plan_for",
    "price_slots",
    "run_scenario",
    "shipped_scenarios",
    "site_config",
    "snapshot_of",
    "surplus_rule_policy",
    "vehicle_target",
    "with_step",
]


# --- policies -------------------------------------------------------------------------------------


Forecasts = Callable[[datetime, int, float], tuple[list[float], list[float]]]
"""``(start, slots, slot_s) -> (load W, PV W)`` per slot: a source of the plan's forecasts."""


class Policy(Protocol):
    """Who decides the setpoints: Ampacity's control or a baseline."""

    @property
    def period_s(self) -> float:
        """Seconds between decisions."""
        ...

    def decide(self, snapshot: Snapshot, now: datetime) -> dict[str, float]:
        """Resource (``<asset>.<Setpoint>``) -> value to write."""
        ...


@dataclass
class AmpacityPolicy:
    """The real control cycle, with the day-ahead plan when the scenario's control has a
    ``planner`` (re-planned every ``planner.replan_s``)."""

    cycle: ControlCycle
    scenario: Scenario | None = None
    forecasts: Forecasts | None = None
    """Where the plan's load and PV forecasts come from (``None``: what the site knew before the
    day; the benchmark passes the day's truth to separate forecast error from the policy's)."""
    plans: int = 0
    solve_times_s: list[float] = field(default_factory=list)
    _next_plan: datetime | None = None

    @property
    def period_s(self) -> float:
        return self.cycle.config.cycle_s

    def decide(self, snapshot: Snapshot, now: datetime) -> dict[str, float]:
        planner = self.cycle.config.planner
        due = self._next_plan is None or now >= self._next_plan
        if self.scenario is not None and planner is not None and due:
            peak = self.cycle.import_peak.peak_w
            load = self.cycle.load.mean_w
            plan = plan_for(self.scenario, snapshot, now, self.forecasts, peak, load)
            self.cycle.set_plan(plan)
            self.plans += 1
            self.solve_times_s.append(plan.solve_time_s)
            self._next_plan = now + timedelta(seconds=planner.replan_s)
        return self.cycle.step(snapshot, now).writes()


FORECAST_HISTORY_DAYS = 3
"""Days of PV history the scenario's forecast learns from (the days before, other weather)."""
LOAD_HISTORY_WEEKS = 4
"""Weeks of load history the load forecast looks at (the same weekday, the same time)."""


def vehicle_target(scenario: Scenario, cp: str, now: datetime) -> tuple[float, datetime] | None:
    """What the driver asked for at ``cp`` now: ``(energy Wh, departure)`` of the dated visit in
    progress, else the planner's daily target (``control.planner.vehicles``), else, for a car in
    ``CostOptimised`` mode, its daily session's energy by its departure; ``None`` without a
    vehicle or a target."""
    for visit in scenario.site.vehicles:
        if visit.charge_point == cp and visit.arrival <= now < visit.departure:
            return visit.energy_wh, visit.departure.astimezone(UTC)
    planner = scenario.control.planner
    wish = planner.vehicles.get(cp) if planner is not None else None
    session = scenario.site.sessions.get(cp)
    if wish is not None:
        energy_wh, leaves = wish.energy_kwh * 1000.0, wish.departure
    elif session is not None and scenario.modes.get(cp) == "CostOptimised":
        energy_wh, leaves = session.energy_wh, session.departure
    else:
        return None
    zone = site_zone(scenario.control.time_zone)
    local = now.astimezone(zone)
    departure = datetime.combine(local.date(), leaves, local.tzinfo)
    if departure <= local:
        departure += timedelta(days=1)
    return energy_wh, departure.astimezone(UTC)


def vehicle_room(scenario: Scenario, cp: str, now: datetime) -> tuple[float, datetime] | None:
    """What the vehicle at ``cp`` has room for and when it leaves (``(Wh, departure UTC)``), as
    a car reports its state of charge and its driver the departure: the dated visit in progress,
    else the charge point's daily session; ``None`` without one."""
    for visit in scenario.site.vehicles:
        if visit.charge_point == cp and visit.arrival <= now < visit.departure:
            return visit.energy_wh, visit.departure.astimezone(UTC)
    session = scenario.site.sessions.get(cp)
    if session is None:
        return None
    local = now.astimezone(site_zone(scenario.control.time_zone))
    departure = datetime.combine(local.date(), session.departure, local.tzinfo)
    if departure <= local:
        departure += timedelta(days=1)
    return session.energy_wh, departure.astimezone(UTC)


def price_slots(
    scenario: Scenario, start: datetime, slots: int, slot_s: float
) -> list[tuple[datetime, datetime, float]]:
    """The import price per slot from ``start`` (day-ahead prices are known for the day)."""
    elapsed0 = (start - scenario.start).total_seconds()
    return [
        (
            start + timedelta(seconds=i * slot_s),
            start + timedelta(seconds=(i + 1) * slot_s),
            scenario.tariff.import_price_at(elapsed0 + i * slot_s),
        )
        for i in range(slots)
    ]


def _pv_history(scenario: Scenario, slot_s: float) -> list[tuple[datetime, float]]:
    """What the site measured at its inverters on the days before the scenario, W: the series'
    earlier days where the PV comes from a series, else the simulated sky with other weather."""
    site = scenario.site
    peak = site.pv_peak_w + sum(i.pv_peak_w for i in site.inverters)
    nominal = site.inverter_nominal_w + sum(i.nominal_w for i in site.inverters)
    moments = [
        scenario.start - timedelta(days=d) + timedelta(seconds=k * slot_s)
        for d in range(1, FORECAST_HISTORY_DAYS + 1)
        for k in range(round(86_400 / slot_s))
    ]
    step = timedelta(seconds=slot_s)
    if site.pv_csv is not None:
        series = site.pv_csv.series()
        scale = peak / site.pv_peak_w
        return [
            (t, min(nominal, scale * series.mean(t, t + step)))
            for t in moments
            if t >= series.first
        ]
    if site.irradiance_csv is not None:
        ghi = site.irradiance_csv.series()
        ac = from_irradiance(ghi, peak)
        return [(t, min(nominal, ac(t, t + step))) for t in moments if t >= ghi.first]
    earlier = PvArray(
        peak,
        site.latitude,
        site.longitude,
        clouds=CloudModel(cloudiness=site.cloudiness, seed=site.weather_seed + 99),
    )
    return [(t, min(nominal, INVERTER_EFFICIENCY * earlier.dc_power(t))) for t in moments]


def _load_history(
    scenario: Scenario, start: datetime, slots: int, slot_s: float
) -> list[tuple[datetime, float]]:
    """The site's load in the weeks before ``start``, W: from the series where the load is
    measured (as far back as it goes), else the H25 profile the simulation uses."""
    step = timedelta(seconds=slot_s)
    moments = [
        t - timedelta(weeks=w)
        for w in range(1, LOAD_HISTORY_WEEKS + 1)
        for t in (start + timedelta(seconds=i * slot_s) for i in range(slots))
    ]
    if scenario.site.load_csv is not None:
        series = scenario.site.load_csv.series()
        return [(t, series.mean(t, t + step)) for t in moments if series.first <= t < start]
    model = HouseholdLoad(scenario.site.annual_load_kwh, scenario.control.time_zone)
    return [(t, model.power(t)) for t in moments]


def plan_for(
    scenario: Scenario,
    snapshot: Snapshot,
    now: datetime,
    forecasts: Forecasts | None = None,
    peak_floor_w: float = 0.0,
    load_w: float | None = None,
) -> Plan:
    """The day-ahead plan at ``now``, from what a real site knows then and nothing later: the
    prices for the rest of the scenario (from the tariff asset's ``PriceForecast`` where the
    scenario publishes one; day-ahead prices are known), a PV forecast from the sun and a factor
    learned from the days before (never the day itself), a load forecast from the same weekday
    of earlier weeks, and the vehicles' targets as their drivers set them. ``forecasts``
    replaces the load and PV forecasts (the benchmark's perfect-forecast diagnosis). A demand
    charge in the scenario's tariff is the site's contract: the plan knows it (unless the
    planner config sets its own) and ``peak_floor_w``, the month's peak so far, W.
    ``load_w``: the site's load measured over the last quarter-hour (the cycle's), which
    corrects the load forecast for the next hours (``forecasting.nowcast``)."""
    config = scenario.control
    planner = config.planner or PlannerConfig()
    site = scenario.site
    lat, lon = site.latitude, site.longitude
    slot_s = 900.0
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    end = scenario.start + timedelta(hours=scenario.hours)
    slots = max(1, int((end - start).total_seconds() // slot_s))
    elapsed0 = (start - scenario.start).total_seconds()
    tariff = scenario.tariff
    # the day's prices from its start (day-ahead: the hours already past are known too)
    day_slots = max(1, int((end - scenario.start).total_seconds() // slot_s))
    prices = price_slots(scenario, scenario.start, day_slots, slot_s)
    if tariff.asset is not None:
        sample = snapshot.samples.get(f"{tariff.asset}.PriceForecast")
        text = sample.value if sample is not None else None
        prices = parse_price_forecast(text if isinstance(text, str) else None)
    exports = [tariff.export_price_at(elapsed0 + i * slot_s) for i in range(slots)]
    peak = site.pv_peak_w + sum(i.pv_peak_w for i in site.inverters)
    nominal = site.inverter_nominal_w + sum(i.nominal_w for i in site.inverters)
    history = _pv_history(scenario, slot_s)
    factor = forecasting.learn_clear_sky_factor(history, lat, lon, peak)
    weather = forecasting.weather_persistence(history, lat, lon, peak, factor, scenario.start)
    pv = [
        min(nominal, w)
        for w in forecasting.pv_forecast(start, slots, slot_s, lat, lon, peak, factor, weather)
    ]
    load_history = _load_history(scenario, start, slots, slot_s)
    load = forecasting.load_forecast(load_history, start, slots, slot_s)
    load = forecasting.nowcast(load, load_w, slot_s)
    if forecasts is not None:
        load, pv = forecasts(start, slots, slot_s)
        pv = [min(nominal, w) for w in pv]
    wishes = dict(planner.vehicles)
    zone = site_zone(config.time_zone)
    for cp in site.charge_point_ids:
        wish = vehicle_target(scenario, cp, now)
        if wish is not None and cp not in wishes:
            energy_wh, departure = wish
            local = departure.astimezone(zone).time().replace(tzinfo=None)
            wishes[cp] = VehicleTarget(energy_kwh=energy_wh / 1000.0, departure=local)
    update: dict[str, object] = {"vehicles": wishes}
    if not planner.demand_charge_per_kw_month and tariff.demand_charge_per_kw_month:
        update["demand_charge_per_kw_month"] = tariff.demand_charge_per_kw_month
    planner = planner.model_copy(update=update)
    rooms = {cp: room for cp in site.charge_point_ids if (room := vehicle_room(scenario, cp, now))}
    inputs = inputs_from(
        snapshot, config, planner, prices, pv, load, start, slot_s, exports,
        peak_floor_w=peak_floor_w, surplus_room=rooms,
    )  # fmt: skip
    return solve(inputs)


def no_control(scenario: Scenario) -> NoControlPolicy:
    return NoControlPolicy(scenario.site.charge_point_ids)


def evcc_style(scenario: Scenario) -> EvccStylePolicy:
    """evcc's modes and plan on the scenario's charge points, targets and tariff."""
    start = scenario.start

    def price(when: datetime) -> float:
        return scenario.tariff.import_price_at((when - start).total_seconds())

    return EvccStylePolicy(
        scenario.site.charge_point_ids,
        target=lambda cp, now: vehicle_target(scenario, cp, now),
        price=price,
    )


SurplusRulePolicy = EvccStylePolicy
"""The older name of the rule baseline."""


# --- KPIs -----------------------------------------------------------------------------------------


@dataclass
class Kpis:
    """What a day achieved (energy Wh, power W, money in the tariff's currency)."""

    pv_wh: float = 0.0
    """Every inverter's output."""
    consumption_wh: float = 0.0
    """Household load, charge points and further consumers (heat pump)."""
    import_wh: float = 0.0
    export_wh: float = 0.0
    cost: float = 0.0
    """Import paid less export earned, plus the day's share of a demand charge."""
    demand_charge: float = 0.0
    """The day's share of the demand charge (in ``cost``)."""
    peak_import_w: float = 0.0
    peak_import_15min_w: float = 0.0
    """The highest 15-minute mean import (what a demand charge bills), W."""
    feed_in_violations: int = 0
    """Exceedances of the feed-in limit that lasted longer than the grace time."""
    feed_in_violation_wh: float = 0.0
    """Energy exported above the limit in those violations, Wh."""
    feed_in_violation_s: float = 0.0
    """Duration of those violations, grace time included, s."""
    feed_in_exceedance_s: float = 0.0
    """Time above the feed-in limit, all exceedances, s."""
    import_violations: int = 0
    import_violation_wh: float = 0.0
    import_violation_s: float = 0.0
    import_exceedance_s: float = 0.0
    ev_energy_wh: float = 0.0
    """Energy to vehicles over the day, all sessions, Wh."""
    ev_delivered_wh: float = 0.0
    ev_requested_wh: float = 0.0
    """Energy wanted by the sessions that ended within the day."""
    ev_sessions_met: int = 0
    ev_sessions: int = 0
    ev_target_wh: float = 0.0
    """Energy wanted by the ended sessions with a target: those in a mode that asks for the
    energy (``Fast``, ``FastOnce``, ``CostOptimised``) when the vehicle left, Wh."""
    ev_target_delivered_wh: float = 0.0
    """Energy delivered in those sessions, Wh."""
    ev_missing_wh: float = 0.0
    """Energy those sessions lacked of their target, as far as it could be reached at the
    vehicle's power (16 A at most) in the time it was plugged in, Wh."""
    ev_untargeted_wh: float = 0.0
    """Energy delivered in ended sessions without a target (``Surplus``, ``SurplusPlus``), Wh."""
    ev_open_delivered_wh: float = 0.0
    """Energy delivered to sessions still open at the end (their targets lie beyond the day)."""
    failsafe_steps: int = 0
    battery_soc_end: float = 0.0
    """The demo battery's SoC at the end, %."""
    battery_net_wh: float = 0.0
    """Energy discharged minus energy charged (AC side), every battery, Wh."""
    battery_stored_delta_wh: float = 0.0
    """Change of the energy stored in every battery over the day, Wh (+ more stored)."""
    heat_store_end_wh: float = 0.0
    """Heat left in the heat pump's store at the end (electrical equivalent), Wh."""

    @property
    def self_consumption_pct(self) -> float:
        return 100.0 * (self.pv_wh - self.export_wh) / self.pv_wh if self.pv_wh > 0 else 100.0

    @property
    def autarky_pct(self) -> float:
        if self.consumption_wh <= 0:
            return 100.0
        return 100.0 * max(0.0, 1.0 - self.import_wh / self.consumption_wh)

    @property
    def ev_target_met(self) -> bool:
        return self.ev_sessions_met == self.ev_sessions

    def as_dict(self) -> dict[str, float]:
        values = {k: float(v) for k, v in vars(self).items()}
        values.update(self_consumption_pct=self.self_consumption_pct, autarky_pct=self.autarky_pct)
        return values


# --- the runner -----------------------------------------------------------------------------------


def _battery_sim(b: BatteryModel) -> BatterySim:
    return BatterySim(
        capacity_wh=b.capacity_wh,
        max_charge_w=b.max_charge_w,
        max_discharge_w=b.max_discharge_w,
        soc=b.soc,
        min_soc=b.min_soc,
    )


def site_config(s: Scenario) -> SiteConfig:
    sessions = {
        cp: None if plan is None else SessionPlan(**plan.model_dump())
        for cp, plan in s.site.sessions.items()
    }
    zone = {"time_zone": s.control.time_zone} if s.site.extended else {}
    return SiteConfig(
        lat_deg=s.site.latitude,
        lon_deg=s.site.longitude,
        pv_peak_w=s.site.pv_peak_w,
        inverter_nominal_w=s.site.inverter_nominal_w,
        cloudiness=s.site.cloudiness,
        weather_seed=s.site.weather_seed,
        annual_load_kwh=s.site.annual_load_kwh,
        battery=_battery_sim(s.site.battery),
        sessions={cp: sessions.get(cp) for cp in CHARGE_POINT_IDS},
        max_step_s=max(1.0, s.step_s),
        **zone,
    )


def make_physics(scenario: Scenario, clock: FakeClock) -> SitePhysics:
    """The demo site's physics, extended where the scenario adds series or devices."""
    site = scenario.site
    config = site_config(scenario)
    if not site.extended:
        return SitePhysics(clock, config)
    ghi = site.irradiance_csv.series() if site.irradiance_csv is not None else None

    def source(peak_w: float, ac: SeriesRef | None, seed: int) -> Available:
        if ac is not None:
            return from_ac_power(ac.series())
        if ghi is not None:
            return from_irradiance(ghi, peak_w)
        clouds = CloudModel(cloudiness=site.cloudiness, seed=seed)
        return from_model(PvArray(peak_w, site.latitude, site.longitude, clouds=clouds))

    inverters = {
        inv.id: Inverter(
            source(inv.pv_peak_w, inv.pv_csv, site.weather_seed + 1 + i), inv.nominal_w
        )
        for i, inv in enumerate(site.inverters)
    }
    chargers: dict[str, ChargePointSim] = {}
    for cp in site.charge_points:
        chargers[cp.id] = ChargePointSim(
            None, fallback_limit_a=cp.fallback_current_a, limit_timeout_s=cp.limit_timeout_s
        )
    for cp_id in {v.charge_point for v in site.vehicles}:
        visits = tuple(
            Visit(v.arrival, v.departure, v.energy_wh, v.phases, v.max_current_a)
            for v in sorted(site.vehicles, key=lambda v: v.arrival)
            if v.charge_point == cp_id
        )
        extra = next((c for c in site.charge_points if c.id == cp_id), None)
        chargers[cp_id] = VisitedChargePoint(
            None,
            limit_a=16.0,
            fallback_limit_a=extra.fallback_current_a if extra else 6.0,
            limit_timeout_s=extra.limit_timeout_s if extra else 60.0,
            visits=visits,
        )
    extras = Extras(
        pv=source(site.pv_peak_w, site.pv_csv, site.weather_seed),
        load_w=site.load_csv.series() if site.load_csv is not None else None,
        inverters=inverters,
        batteries={b.id: _battery_sim(b) for b in site.batteries},
        chargers=chargers,
    )
    return ScenarioPhysics(clock, config, extras)


def _batteries(physics: SitePhysics) -> dict[str, BatterySim]:
    if isinstance(physics, ScenarioPhysics):
        return physics.batteries
    return {"battery": physics.battery}


def _inverters(physics: SitePhysics) -> dict[str, Inverter]:
    return physics.inverters if isinstance(physics, ScenarioPhysics) else {}


def _available_pv_w(physics: SitePhysics, start: datetime, end: datetime) -> float:
    """What every inverter could have delivered over the step, W (the optimum's PV)."""
    if isinstance(physics, ScenarioPhysics):
        return physics.available_pv_w(start, end)
    available = physics.pv_array.dc_power(end) * INVERTER_EFFICIENCY
    return max(0.0, min(available, physics.config.inverter_nominal_w))


available_pv_w = _available_pv_w


@dataclass(frozen=True)
class TariffAsset:
    """What a tariff driver would publish for the scenario's tariff: the import price now, and
    the day's prices as ``PriceForecast`` JSON (quarter-hours, per kWh)."""

    asset: str
    forecast: str

    @classmethod
    def of(cls, scenario: Scenario) -> TariffAsset | None:
        asset = scenario.tariff.asset
        if asset is None:
            return None
        slots = max(1, math.ceil(scenario.hours * 4))
        items = [
            {"start": s.isoformat(), "end": e.isoformat(), "price": round(p, 6)}
            for s, e, p in price_slots(scenario, scenario.start, slots, 900.0)
        ]
        return cls(asset, json.dumps(items))


def snapshot_of(
    physics: SitePhysics,
    modes: dict[str, int],
    now: datetime,
    grid_quality: Quality,
    heat_pump: HeatPumpSim | None = None,
    tariff: tuple[TariffAsset, float] | None = None,
) -> Snapshot:
    """What the address space would hold: the physics' values under the sim's asset ids."""
    values: dict[str, PointValue] = {
        "pv.ActivePower": physics.pv_w,
        "pv.NominalPower": physics.config.inverter_nominal_w,
    }
    for inverter_id, inverter in _inverters(physics).items():
        values[f"{inverter_id}.ActivePower"] = inverter.pv_w
        values[f"{inverter_id}.NominalPower"] = inverter.nominal_w
    for battery_id, b in _batteries(physics).items():
        values[f"{battery_id}.ActivePower"] = b.power_w
        values[f"{battery_id}.StateOfCharge"] = b.soc
        values[f"{battery_id}.Capacity"] = b.capacity_wh
        values[f"{battery_id}.MaxChargePower"] = b.max_charge_w
        values[f"{battery_id}.MaxDischargePower"] = b.max_discharge_w
    for cp_id, cp in physics.chargers.items():
        values[f"{cp_id}.ActivePower"] = cp.power_w
        values[f"{cp_id}.VehicleConnected"] = cp.connected
        values[f"{cp_id}.PhasesInUse"] = max(1, cp.phases)
        values[f"{cp_id}.SessionEnergy"] = cp.session_wh
        values[f"{cp_id}.ChargeMode"] = modes.get(cp_id, int(ChargeMode.SURPLUS))
    if heat_pump is not None:
        values["hp.ActivePower"] = heat_pump.power_w
        values["hp.SgReadyState"] = heat_pump.sg_ready
    if tariff is not None:
        asset, price = tariff
        values[f"{asset.asset}.CurrentPrice"] = price
        values[f"{asset.asset}.PriceForecast"] = asset.forecast
    samples = {k: Sample(v, Quality.GOOD, now) for k, v in values.items()}
    samples["grid.ActivePower"] = Sample(physics.grid_w, grid_quality, now)
    return Snapshot(now, samples)


def apply(
    physics: SitePhysics,
    modes: dict[str, int],
    writes: dict[str, float],
    heat_pump: HeatPumpSim | None = None,
) -> None:
    """Setpoint writes reach the simulated devices."""
    batteries = _batteries(physics)
    inverters = _inverters(physics)
    for resource, value in writes.items():
        asset, point = resource.split(".", 1)
        if resource == "hp.SgReadyState" and heat_pump is not None:
            heat_pump.set_sg_ready(value)
        elif resource == "pv.ActivePowerLimit":
            physics.set_pv_limit(value)
        elif asset in inverters and point == "ActivePowerLimit":
            inverters[asset].set_limit(value)
        elif asset in batteries and point == "BatteryPowerSetpoint":
            batteries[asset].set_setpoint(value)
        elif asset in physics.chargers and point == "ChargeCurrentLimit":
            physics.chargers[asset].set_limit(value)
        elif asset in physics.chargers and point == "PhaseSetting":
            physics.chargers[asset].phases_setting = round(value)
        elif point == "ChargeMode":
            modes[asset] = round(value)


MODE_BY_NAME = {name: value for value, name in CHARGE_MODES.items()}


def _mode_values(names: dict[str, str]) -> dict[str, int]:
    """``{charge point: "SurplusPlus"}`` -> ``{charge point: 4}`` (the node's enum values)."""
    return {cp: MODE_BY_NAME[name] for cp, name in names.items()}


TARGET_MODES = (ChargeMode.FAST, ChargeMode.FAST_ONCE, ChargeMode.COST_OPTIMISED)
"""Charge modes in which a vehicle's energy is a target (now, or by its departure); in the
surplus modes it takes what the sun offers."""


def modes_at(scenario: Scenario, hours: float) -> dict[str, int]:
    """The charge modes the scenario sets at ``hours`` after its start (initial modes and mode
    events; not what a policy writes)."""
    modes = _mode_values(scenario.modes)
    for event in sorted(scenario.events, key=lambda e: e.at_h):
        if event.at_h <= hours:
            modes.update(_mode_values(event.modes))
    return modes


@dataclass
class _Sessions:
    """Tracks vehicle sessions for the EV KPIs."""

    was_connected: dict[str, bool] = field(default_factory=dict)
    started_inside: dict[str, bool] = field(default_factory=dict)
    plugged_s: dict[str, float] = field(default_factory=dict)

    def observe(
        self,
        physics: SitePhysics,
        kpis: Kpis,
        first: bool,
        dt_s: float = 0.0,
        modes: dict[str, int] | None = None,
    ) -> None:
        for cp_id, cp in physics.chargers.items():
            before = self.was_connected.get(cp_id, False)
            if cp.connected and not before:
                self.started_inside[cp_id] = not first
                self.plugged_s[cp_id] = 0.0
            if cp.connected:
                self.plugged_s[cp_id] = self.plugged_s.get(cp_id, 0.0) + dt_s
            if before and not cp.connected and cp.plan is not None:
                kpis.ev_sessions += 1
                kpis.ev_requested_wh += cp.plan.energy_wh
                kpis.ev_delivered_wh += cp.session_wh
                kpis.ev_sessions_met += cp.session_wh >= cp.plan.energy_wh - 1.0
                self._ended(cp_id, cp.plan, cp.session_wh, kpis, modes or {})
            self.was_connected[cp_id] = cp.connected

    def _ended(
        self, cp_id: str, plan: SessionPlan, delivered_wh: float, kpis: Kpis, modes: dict[str, int]
    ) -> None:
        """A session ended: its energy against its target, if its mode sets one."""
        if modes.get(cp_id, ChargeMode.SURPLUS) not in TARGET_MODES:
            kpis.ev_untargeted_wh += delivered_wh
            return
        power = NOMINAL_VOLTAGE_V * plan.phases * min(16.0, plan.max_current_a)
        possible = min(plan.energy_wh, power * self.plugged_s.get(cp_id, 0.0) / 3600.0)
        kpis.ev_target_wh += plan.energy_wh
        kpis.ev_target_delivered_wh += delivered_wh
        kpis.ev_missing_wh += max(0.0, possible - delivered_wh)

    def close(self, physics: SitePhysics, kpis: Kpis) -> None:
        """At the end: the energy in sessions still open."""
        for cp in physics.chargers.values():
            if cp.connected:
                kpis.ev_open_delivered_wh += cp.session_wh


def _grid_quality(events: tuple[EventModel, ...], hours: float) -> Quality:
    for e in events:
        if e.grid_meter and e.at_h <= hours < (e.until_h if e.until_h is not None else math.inf):
            if e.grid_meter == "stale":
                return Quality.UNCERTAIN_LAST_USABLE
            return Quality.BAD_COMMUNICATION_ERROR
    return Quality.GOOD


def heat_pump_of(scenario: Scenario) -> HeatPumpSim | None:
    model = scenario.site.heat_pump
    if model is None:
        return None
    fields = model.model_dump(exclude={"heat_demand_csv", "cop"})
    if model.heat_demand_csv is None:
        return HeatPumpSim(**fields)
    return MeasuredHeatPump(
        **fields, heat_w=model.heat_demand_csv.series(), cop=model.cop, step_s=scenario.step_s
    )


def _refresh_within_a_step(physics: SitePhysics, step_s: float) -> None:
    """A coarse step must not let a refreshed setpoint time out between two decisions: the
    devices' watchdogs (a charger's limit, a battery's setpoint) last at least two steps."""
    for cp in physics.chargers.values():
        if cp.limit_timeout_s is not None:
            cp.limit_timeout_s = max(cp.limit_timeout_s, 2 * step_s)
    for battery in _batteries(physics).values():
        battery.setpoint_timeout_s = max(battery.setpoint_timeout_s, 2 * step_s)


def run_scenario(
    scenario: Scenario,
    policy_factory: Callable[[Scenario], Policy] | None = None,
    trace: Callable[[datetime, SitePhysics], None] | None = None,
) -> Kpis:
    """Simulate the scenario's day under a policy (Ampacity's control by default).

    Args:
        scenario: the day.
        policy_factory: makes the policy (``ampacity_policy``, ``no_control_policy``,
            ``surplus_rule_policy``).
        trace: called after every step with the time and the physics (plots, debugging).
    """
    policy = (policy_factory or ampacity_policy)(scenario)
    clock = FakeClock(scenario.start)
    physics = make_physics(scenario, clock)
    _refresh_within_a_step(physics, scenario.step_s)
    heat_pump = heat_pump_of(scenario)
    if heat_pump is not None:
        physics.consumers["hp"] = heat_pump.step
    tariff = TariffAsset.of(scenario)
    stored_before = sum(b.soc / 100 * b.capacity_wh for b in _batteries(physics).values())
    modes = _mode_values(scenario.modes)
    kpis, sessions = Kpis(), _Sessions()
    account = _Account(kpis, scenario)
    sessions.observe(physics, kpis, first=True)
    steps = round(scenario.hours * 3600 / scenario.step_s)
    next_decision = 0.0
    pending_events = sorted(scenario.events, key=lambda e: e.at_h)
    for i in range(steps):
        elapsed_s = i * scenario.step_s
        hours = elapsed_s / 3600
        while pending_events and pending_events[0].at_h <= hours:
            modes.update(_mode_values(pending_events.pop(0).modes))
        now = clock.now()
        quality = _grid_quality(scenario.events, hours)
        if elapsed_s >= next_decision:
            published = None
            if tariff is not None:
                published = (tariff, scenario.tariff.import_price_at(elapsed_s))
            snapshot = snapshot_of(physics, modes, now, quality, heat_pump, published)
            apply(physics, modes, policy.decide(snapshot, now), heat_pump)
            next_decision += policy.period_s
        clock.advance(scenario.step_s)
        physics.advance_to(clock.now())
        sessions.observe(physics, kpis, first=False, dt_s=scenario.step_s, modes=modes)
        if trace is not None:
            trace(clock.now(), physics)
        account.step(physics, scenario.step_s, elapsed_s, quality)
    sessions.close(physics, kpis)
    account.finish()
    batteries = _batteries(physics)
    kpis.battery_soc_end = physics.battery.soc
    kpis.battery_net_wh = sum(
        b.energy_discharged_wh - b.energy_charged_wh for b in batteries.values()
    )
    stored_after = sum(b.soc / 100 * b.capacity_wh for b in batteries.values())
    kpis.battery_stored_delta_wh = stored_after - stored_before
    kpis.heat_store_end_wh = heat_pump.stored_wh if heat_pump is not None else 0.0
    return kpis


DEMAND_INTERVAL_S = 900.0
"""A demand charge bills the highest mean import over this interval, s."""


@dataclass
class _Account:
    """Integrates the KPIs step by step."""

    kpis: Kpis
    scenario: Scenario
    feed_in: LimitViolations | None = None
    imports: LimitViolations | None = None
    _interval_wh: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        limits = self.scenario.limits
        if limits.feed_in_w is not None:
            self.feed_in = LimitViolations(limits.feed_in_w, limits.grace_s)
        if limits.import_w is not None:
            self.imports = LimitViolations(limits.import_w, limits.grace_s)

    def step(self, p: SitePhysics, dt_s: float, elapsed_s: float, quality: Quality) -> None:
        k, s = self.kpis, self.scenario
        h = dt_s / 3600.0
        k.pv_wh += (p.pv_w + sum(i.pv_w for i in _inverters(p).values())) * h
        k.consumption_wh += (p.load_w + p.ev_w + p.flex_w) * h
        k.ev_energy_wh += p.ev_w * h
        imported, exported = max(0.0, p.grid_w), max(0.0, -p.grid_w)
        k.import_wh += imported * h
        k.export_wh += exported * h
        price = s.tariff.import_price_at(elapsed_s)
        k.cost += (imported * price - exported * s.tariff.export_price_at(elapsed_s)) * h / 1000.0
        k.peak_import_w = max(k.peak_import_w, imported)
        interval = int(elapsed_s // DEMAND_INTERVAL_S)
        self._interval_wh[interval] = self._interval_wh.get(interval, 0.0) + imported * h
        k.failsafe_steps += not quality.is_good
        if self.feed_in is not None:
            self.feed_in.observe(exported, dt_s)
        if self.imports is not None:
            self.imports.observe(imported, dt_s)

    def finish(self) -> None:
        """The limits' violations; the demand charge on the highest 15-minute mean import."""
        k, s = self.kpis, self.scenario
        if self.feed_in is not None:
            k.feed_in_violations = self.feed_in.count
            k.feed_in_violation_s = self.feed_in.seconds
            k.feed_in_violation_wh = self.feed_in.energy_wh
            k.feed_in_exceedance_s = self.feed_in.exceedance_s
        if self.imports is not None:
            k.import_violations = self.imports.count
            k.import_violation_s = self.imports.seconds
            k.import_violation_wh = self.imports.energy_wh
            k.import_exceedance_s = self.imports.exceedance_s
        k.peak_import_15min_w = (
            max(self._interval_wh.values(), default=0.0) * 3600.0 / DEMAND_INTERVAL_S
        )
        share = s.tariff.demand_charge_share(s.start, s.hours)
        k.demand_charge = k.peak_import_15min_w * share
        k.cost += k.demand_charge


def ampacity_policy(scenario: Scenario) -> Policy:
    return AmpacityPolicy(ControlCycle(scenario.control), scenario)


def no_control_policy(scenario: Scenario) -> Policy:
    return no_control(scenario)


def surplus_rule_policy(scenario: Scenario) -> Policy:
    """The evcc-style rule baseline (``baselines.EvccStylePolicy``)."""
    return evcc_style(scenario)


def shipped_scenarios() -> list[Path]:
    """The synthetic days (``deploy/scenarios/*.yaml``)."""
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def measured_scenarios() -> list[Path]:
    """The days built from real time series (``deploy/scenarios/measured/*.yaml``)."""
    return sorted(MEASURED_DIR.glob("*.yaml"))
