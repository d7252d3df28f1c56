"""Scenario runner: the real control against the site physics (``sim/``) on a fake clock.

A scenario file (YAML, ``deploy/scenarios/``) describes a day: the site (PV, load, battery,
vehicle sessions), the tariff, the ``control:`` config, initial charge modes and events (a grid
meter going Bad, a mode change). ``run_scenario`` advances ``SitePhysics`` in steps of ``step_s``
on a ``FakeClock``; a *policy* (Ampacity's ``ControlCycle`` or a baseline) is asked for setpoints
every ``period_s`` and its writes are applied to the simulated devices. KPIs are integrated per
step. Signs: grid + import, battery + discharge, PV + production, consumers + consumption.

A day at a 1 s step runs in about ten seconds; test scenarios use larger steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Literal, Protocol

import yaml
from ampacity.assets import PointValue, Quality
from ampacity.assets.kinds import CHARGE_MODES
from ampacity.control import ChargeMode, ControlConfig, ControlCycle, Snapshot, forecasting
from ampacity.control.dayahead import Plan, solve
from ampacity.control.schedule import PlannerConfig, inputs_from
from ampacity.control.snapshot import Sample
from ampacity.sim.battery import BatterySim
from ampacity.sim.clock import FakeClock
from ampacity.sim.ev import SessionPlan
from ampacity.sim.heat_pump import HeatPumpSim
from ampacity.sim.load import HouseholdLoad
from ampacity.sim.site import INVERTER_EFFICIENCY, SiteConfig, SitePhysics
from ampacity.sim.solar import CloudModel, PvArray
from pydantic import BaseModel, ConfigDict, Field

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "deploy" / "scenarios"
CHARGE_POINT_IDS = ("alfen1", "alfen2", "heidelberg")
"""The simulated site's charge points (asset ids equal the physics' keys)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatteryModel(_Model):
    capacity_wh: float = 10_000.0
    max_charge_w: float = 5_000.0
    max_discharge_w: float = 5_000.0
    soc: float = 50.0
    min_soc: float = 5.0


class SessionModel(_Model):
    """A vehicle: local arrival/departure (departure < arrival: next morning), energy wanted."""

    arrival: time
    departure: time
    energy_wh: float
    phases: int = 3
    max_current_a: float = 16.0


class HeatPumpModel(_Model):
    """The simulated heat pump (asset id ``hp``), see ``ampacity.sim.heat_pump``."""

    mean_w: float = 1200.0
    boost_w: float = 2500.0
    force_w: float = 3500.0
    store_wh: float = 6000.0
    utc_offset_h: float = 1.0


class SiteModel(_Model):
    pv_peak_w: float = 9_000.0
    inverter_nominal_w: float = 8_000.0
    cloudiness: float = 0.3
    weather_seed: int = 1
    annual_load_kwh: float = 4_500.0
    battery: BatteryModel = BatteryModel()
    sessions: dict[str, SessionModel | None] = Field(default_factory=dict)
    heat_pump: HeatPumpModel | None = None


class TariffModel(_Model):
    """Import price = spot (EUR/MWh, one value per ``spot_slot_minutes`` from ``start``) / 1000
    + ``surcharge``, per kWh; without spot prices, ``import_per_kwh``. Export earns
    ``export_per_kwh`` (a feed-in tariff), or with ``export_spot`` the spot price itself
    (direct marketing: negative when the spot is negative)."""

    import_per_kwh: float = 0.30
    export_per_kwh: float = 0.08
    surcharge_per_kwh: float = 0.20
    spot_eur_per_mwh: tuple[float, ...] = ()
    spot_slot_minutes: Literal[15, 60] = 60
    export_spot: bool = False

    def _spot(self, elapsed_s: float) -> float | None:
        if not self.spot_eur_per_mwh:
            return None
        index = int(elapsed_s // (self.spot_slot_minutes * 60))
        return self.spot_eur_per_mwh[index % len(self.spot_eur_per_mwh)]

    def import_price_at(self, elapsed_s: float) -> float:
        """Per kWh, ``elapsed_s`` after the scenario's start."""
        spot = self._spot(elapsed_s)
        return self.import_per_kwh if spot is None else spot / 1000.0 + self.surcharge_per_kwh

    def export_price_at(self, elapsed_s: float) -> float:
        spot = self._spot(elapsed_s)
        return spot / 1000.0 if self.export_spot and spot is not None else self.export_per_kwh

    def import_price(self, hour: int) -> float:
        return self.import_price_at(hour * 3600.0)


class EventModel(_Model):
    """From ``at`` (hours after the start) until ``until``: the grid meter ``bad``/``stale``,
    or (at ``at`` once) new charge modes."""

    at_h: float
    until_h: float | None = None
    grid_meter: str | None = None
    modes: dict[str, str] = Field(default_factory=dict)


class LimitsModel(_Model):
    """The limits KPIs count violations of (W; ``None``: not counted).

    A violation is an exceedance lasting longer than ``grace_s``: a consumer that stops at once
    (a full car) raises the export before any control can react; the control must bring it back
    within its cycle plus the device's latency.
    """

    feed_in_w: float | None = None
    import_w: float | None = None
    grace_s: float = 5.0


class Scenario(_Model):
    name: str
    description: str = ""
    start: datetime
    hours: float = 24.0
    step_s: float = 1.0
    site: SiteModel = SiteModel()
    tariff: TariffModel = TariffModel()
    limits: LimitsModel = LimitsModel()
    modes: dict[str, str] = Field(default_factory=dict)
    events: tuple[EventModel, ...] = ()
    control: ControlConfig


def with_step(scenario: Scenario, step_s: float) -> Scenario:
    """The same day simulated and controlled every ``step_s`` (a faster, coarser run); the limits'
    grace time becomes two steps."""
    return scenario.model_copy(
        update={
            "step_s": step_s,
            "control": scenario.control.model_copy(update={"cycle_s": step_s}),
            "limits": scenario.limits.model_copy(update={"grace_s": 2 * step_s}),
        }
    )


def load_scenario(path: Path | str) -> Scenario:
    """A scenario from a YAML file (a bare name looks in ``deploy/scenarios/``)."""
    p = Path(path)
    if not p.suffix:
        p = SCENARIO_DIR / f"{p}.yaml"
    return Scenario.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))


# --- policies -------------------------------------------------------------------------------------


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
            plan = plan_for(self.scenario, snapshot, now)
            self.cycle.set_plan(plan)
            self.plans += 1
            self.solve_times_s.append(plan.solve_time_s)
            self._next_plan = now + timedelta(seconds=planner.replan_s)
        return self.cycle.step(snapshot, now).writes()


FORECAST_HISTORY_DAYS = 3
"""Days of PV history the scenario's forecast learns from (the days before, other weather)."""


def plan_for(scenario: Scenario, snapshot: Snapshot, now: datetime) -> Plan:
    """The day-ahead plan at ``now``: prices for the rest of the scenario (day-ahead prices are
    known), PV forecast from the sun and a factor learned from earlier days' simulated output
    (other weather, never the day itself), load forecast from the same weekday of earlier weeks."""
    config = scenario.control
    planner = config.planner or PlannerConfig()
    physics = SiteConfig()
    lat, lon = physics.lat_deg, physics.lon_deg
    slot_s = 900.0
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    end = scenario.start + timedelta(hours=scenario.hours)
    slots = max(1, int((end - start).total_seconds() // slot_s))
    elapsed0 = (start - scenario.start).total_seconds()
    tariff = scenario.tariff
    prices = [
        (
            start + timedelta(seconds=i * slot_s),
            start + timedelta(seconds=(i + 1) * slot_s),
            tariff.import_price_at(elapsed0 + i * slot_s),
        )
        for i in range(slots)
    ]
    exports = [tariff.export_price_at(elapsed0 + i * slot_s) for i in range(slots)]
    peak = scenario.site.pv_peak_w
    earlier = PvArray(
        peak,
        lat,
        lon,
        clouds=CloudModel(
            cloudiness=scenario.site.cloudiness, seed=scenario.site.weather_seed + 99
        ),
    )
    history = [
        (t, min(scenario.site.inverter_nominal_w, INVERTER_EFFICIENCY * earlier.dc_power(t)))
        for t in (
            scenario.start - timedelta(days=d) + timedelta(seconds=k * slot_s)
            for d in range(1, FORECAST_HISTORY_DAYS + 1)
            for k in range(96)
        )
    ]
    factor = forecasting.learn_clear_sky_factor(history, lat, lon, peak)
    weather = forecasting.weather_persistence(history, lat, lon, peak, factor, scenario.start)
    pv = [
        min(scenario.site.inverter_nominal_w, w)
        for w in forecasting.pv_forecast(start, slots, slot_s, lat, lon, peak, factor, weather)
    ]
    load_model = HouseholdLoad(scenario.site.annual_load_kwh, config.time_zone)
    load_history = [
        (t - timedelta(weeks=w), load_model.power(t - timedelta(weeks=w)))
        for w in range(1, 5)
        for t in (start + timedelta(seconds=i * slot_s) for i in range(slots))
    ]
    load = forecasting.load_forecast(load_history, start, slots, slot_s)
    inputs = inputs_from(snapshot, config, planner, prices, pv, load, start, slot_s, exports)
    return solve(inputs)


@dataclass
class NoControlPolicy:
    """No energy manager: the battery runs its own self-consumption control, PV is unlimited,
    chargers charge at their maximum current while a vehicle is connected."""

    max_current_a: float = 16.0
    period_s: float = 10.0

    def decide(self, snapshot: Snapshot, now: datetime) -> dict[str, float]:
        return {f"{cp}.ChargeCurrentLimit": self.max_current_a for cp in CHARGE_POINT_IDS}


@dataclass
class SurplusRulePolicy:
    """A simple surplus rule as evcc applies it: every 30 s, a charger in a surplus mode starts
    when the surplus covers its minimum power for ``enable_delay_s`` and stops when it has not
    for ``disable_delay_s``; in between its current follows the surplus; the battery is left to
    itself (no power setpoints), PV is not curtailed. Fast modes charge at full current."""

    modes: dict[str, str]
    period_s: float = 30.0
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    enable_delay_s: float = 60.0
    disable_delay_s: float = 180.0
    _on: dict[str, bool] = field(default_factory=dict)
    _since: dict[str, datetime | None] = field(default_factory=dict)

    def decide(self, snapshot: Snapshot, now: datetime) -> dict[str, float]:
        grid = snapshot.number("grid", "ActivePower")
        writes: dict[str, float] = {}
        if grid is None:
            return writes  # a stale meter skips control
        surplus = -grid
        for cp in CHARGE_POINT_IDS:
            mode = snapshot.number(cp, "ChargeMode")
            key = f"{cp}.ChargeCurrentLimit"
            if mode in (ChargeMode.FAST, ChargeMode.FAST_ONCE):
                writes[key] = self.max_current_a
                continue
            if not snapshot.flag(cp, "VehicleConnected") or mode == ChargeMode.OFF:
                writes[key] = 0.0
                self._on[cp], self._since[cp] = False, None
                continue
            phases = snapshot.number(cp, "PhasesInUse") or 3
            own = snapshot.number(cp, "ActivePower") or 0.0
            available = surplus + own
            per_amp = 230.0 * phases
            enough = available >= self.min_current_a * per_amp
            on = self._on.get(cp, False)
            since = self._since.get(cp)
            if enough != on:
                since = since or now
                delay = self.enable_delay_s if enough else self.disable_delay_s
                if (now - since).total_seconds() >= delay:
                    on, since = enough, None
            else:
                since = None
            self._on[cp], self._since[cp] = on, since
            current = min(self.max_current_a, max(self.min_current_a, available / per_amp))
            writes[key] = current if on else 0.0
        return writes


# --- KPIs -----------------------------------------------------------------------------------------


@dataclass
class Kpis:
    """What a day achieved (energy Wh, power W, money in the tariff's currency)."""

    pv_wh: float = 0.0
    consumption_wh: float = 0.0
    """Household load, charge points and further consumers (heat pump)."""
    import_wh: float = 0.0
    export_wh: float = 0.0
    cost: float = 0.0
    peak_import_w: float = 0.0
    feed_in_violations: int = 0
    """Exceedances of the feed-in limit that lasted longer than the grace time."""
    feed_in_violation_wh: float = 0.0
    """Energy exported above the limit in those violations, Wh."""
    feed_in_exceedance_s: float = 0.0
    """Time above the feed-in limit, all exceedances, s."""
    import_violations: int = 0
    import_violation_wh: float = 0.0
    import_exceedance_s: float = 0.0
    ev_energy_wh: float = 0.0
    """Energy to vehicles over the day, all sessions, Wh."""
    ev_delivered_wh: float = 0.0
    ev_requested_wh: float = 0.0
    """Energy wanted by the sessions that ended within the day."""
    ev_sessions_met: int = 0
    ev_sessions: int = 0
    failsafe_steps: int = 0
    battery_soc_end: float = 0.0
    battery_net_wh: float = 0.0
    """Energy discharged minus energy charged (AC side), Wh."""
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


def site_config(s: Scenario) -> SiteConfig:
    b = s.site.battery
    sessions = {
        cp: None if plan is None else SessionPlan(**plan.model_dump())
        for cp, plan in s.site.sessions.items()
    }
    return SiteConfig(
        pv_peak_w=s.site.pv_peak_w,
        inverter_nominal_w=s.site.inverter_nominal_w,
        cloudiness=s.site.cloudiness,
        weather_seed=s.site.weather_seed,
        annual_load_kwh=s.site.annual_load_kwh,
        battery=BatterySim(
            capacity_wh=b.capacity_wh,
            max_charge_w=b.max_charge_w,
            max_discharge_w=b.max_discharge_w,
            soc=b.soc,
            min_soc=b.min_soc,
        ),
        sessions={cp: sessions.get(cp) for cp in CHARGE_POINT_IDS},
        max_step_s=max(1.0, s.step_s),
    )


def snapshot_of(
    physics: SitePhysics,
    modes: dict[str, int],
    now: datetime,
    grid_quality: Quality,
    heat_pump: HeatPumpSim | None = None,
) -> Snapshot:
    """What the address space would hold: the physics' values under the sim's asset ids."""
    b = physics.battery
    values: dict[str, PointValue] = {
        "pv.ActivePower": physics.pv_w,
        "pv.NominalPower": physics.config.inverter_nominal_w,
        "battery.ActivePower": b.power_w,
        "battery.StateOfCharge": b.soc,
        "battery.Capacity": b.capacity_wh,
        "battery.MaxChargePower": b.max_charge_w,
        "battery.MaxDischargePower": b.max_discharge_w,
    }
    for cp_id, cp in physics.chargers.items():
        values[f"{cp_id}.ActivePower"] = cp.power_w
        values[f"{cp_id}.VehicleConnected"] = cp.connected
        values[f"{cp_id}.PhasesInUse"] = max(1, cp.phases)
        values[f"{cp_id}.SessionEnergy"] = cp.session_wh
        values[f"{cp_id}.ChargeMode"] = modes.get(cp_id, int(ChargeMode.SURPLUS))
    if heat_pump is not None:
        values["hp.ActivePower"] = heat_pump.power_w
        values["hp.SgReadyState"] = heat_pump.sg_ready
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
    for resource, value in writes.items():
        asset, point = resource.split(".", 1)
        if resource == "hp.SgReadyState" and heat_pump is not None:
            heat_pump.set_sg_ready(value)
        elif resource == "pv.ActivePowerLimit":
            physics.set_pv_limit(value)
        elif resource == "battery.BatteryPowerSetpoint":
            physics.battery.set_setpoint(value)
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


@dataclass
class _Sessions:
    """Tracks vehicle sessions for the EV KPIs."""

    was_connected: dict[str, bool] = field(default_factory=dict)
    started_inside: dict[str, bool] = field(default_factory=dict)

    def observe(self, physics: SitePhysics, kpis: Kpis, first: bool) -> None:
        for cp_id, cp in physics.chargers.items():
            before = self.was_connected.get(cp_id, False)
            if cp.connected and not before:
                self.started_inside[cp_id] = not first
            if before and not cp.connected and cp.plan is not None:
                kpis.ev_sessions += 1
                kpis.ev_requested_wh += cp.plan.energy_wh
                kpis.ev_delivered_wh += cp.session_wh
                kpis.ev_sessions_met += cp.session_wh >= cp.plan.energy_wh - 1.0
            self.was_connected[cp_id] = cp.connected


def _grid_quality(events: tuple[EventModel, ...], hours: float) -> Quality:
    for e in events:
        if e.grid_meter and e.at_h <= hours < (e.until_h if e.until_h is not None else math.inf):
            if e.grid_meter == "stale":
                return Quality.UNCERTAIN_LAST_USABLE
            return Quality.BAD_COMMUNICATION_ERROR
    return Quality.GOOD


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
    physics = SitePhysics(clock, site_config(scenario))
    heat_pump = None
    if scenario.site.heat_pump is not None:
        heat_pump = HeatPumpSim(**scenario.site.heat_pump.model_dump())
        physics.consumers["hp"] = heat_pump.step
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
            snapshot = snapshot_of(physics, modes, now, quality, heat_pump)
            apply(physics, modes, policy.decide(snapshot, now), heat_pump)
            next_decision += policy.period_s
        clock.advance(scenario.step_s)
        physics.advance_to(clock.now())
        sessions.observe(physics, kpis, first=False)
        if trace is not None:
            trace(clock.now(), physics)
        account.step(physics, scenario.step_s, elapsed_s, quality)
    kpis.battery_soc_end = physics.battery.soc
    kpis.battery_net_wh = physics.battery.energy_discharged_wh - physics.battery.energy_charged_wh
    kpis.heat_store_end_wh = heat_pump.stored_wh if heat_pump is not None else 0.0
    return kpis


@dataclass
class _Exceedance:
    """One limit's running exceedance (duration s, energy Wh above the limit)."""

    duration_s: float = 0.0
    energy_wh: float = 0.0
    counted: bool = False

    def observe(self, over_w: float, dt_s: float, grace_s: float) -> tuple[int, float]:
        """Returns (new violations, energy to add to violations) for this step."""
        if over_w <= 0:
            self.duration_s = self.energy_wh = 0.0
            self.counted = False
            return 0, 0.0
        self.duration_s += dt_s
        self.energy_wh += over_w * dt_s / 3600.0
        if self.duration_s <= grace_s:
            return 0, 0.0
        if not self.counted:
            self.counted = True
            return 1, self.energy_wh
        return 0, over_w * dt_s / 3600.0


@dataclass
class _Account:
    """Integrates the KPIs step by step."""

    kpis: Kpis
    scenario: Scenario
    feed_in: _Exceedance = field(default_factory=_Exceedance)
    imports: _Exceedance = field(default_factory=_Exceedance)

    def step(self, p: SitePhysics, dt_s: float, elapsed_s: float, quality: Quality) -> None:
        k, s = self.kpis, self.scenario
        h = dt_s / 3600.0
        k.pv_wh += p.pv_w * h
        k.consumption_wh += (p.load_w + p.ev_w + p.flex_w) * h
        k.ev_energy_wh += p.ev_w * h
        imported, exported = max(0.0, p.grid_w), max(0.0, -p.grid_w)
        k.import_wh += imported * h
        k.export_wh += exported * h
        price = s.tariff.import_price_at(elapsed_s)
        k.cost += (imported * price - exported * s.tariff.export_price_at(elapsed_s)) * h / 1000.0
        k.peak_import_w = max(k.peak_import_w, imported)
        k.failsafe_steps += not quality.is_good
        grace = s.limits.grace_s
        if s.limits.feed_in_w is not None:
            over = exported - s.limits.feed_in_w
            k.feed_in_exceedance_s += dt_s if over > 0 else 0.0
            count, energy = self.feed_in.observe(over, dt_s, grace)
            k.feed_in_violations += count
            k.feed_in_violation_wh += energy
        if s.limits.import_w is not None:
            over = imported - s.limits.import_w
            k.import_exceedance_s += dt_s if over > 0 else 0.0
            count, energy = self.imports.observe(over, dt_s, grace)
            k.import_violations += count
            k.import_violation_wh += energy


def ampacity_policy(scenario: Scenario) -> Policy:
    return AmpacityPolicy(ControlCycle(scenario.control), scenario)


def no_control_policy(scenario: Scenario) -> Policy:
    return NoControlPolicy()


def surplus_rule_policy(scenario: Scenario) -> Policy:
    return SurplusRulePolicy(scenario.modes)


def shipped_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))
