"""Site physics for scenarios with real time series and several devices of a kind.

``ScenarioPhysics`` extends the demo's ``SitePhysics`` (``sim/site.py``) with what a scenario file
may add: load and PV from measured series (PV from the site's own AC power, or from global
horizontal irradiance), further PV inverters (their output is the site's ``other_w``), further
batteries (each in self-consumption mode until it gets a setpoint; they share the grid balance in
order), further charge points, and vehicles that arrive and leave at dated times. Scenarios
without any of this run on ``SitePhysics`` unchanged. Signs as in ``sim/site.py``: PV, batteries
(+ discharge) and generation positive when they deliver, consumers positive when they consume,
grid positive when importing. Powers W, energies Wh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ampacity.sim.battery import BatterySim
from ampacity.sim.clock import Clock
from ampacity.sim.ev import MIN_CURRENT_A, NOMINAL_VOLTAGE_V, ChargePointSim, SessionPlan
from ampacity.sim.heat_pump import HeatPumpSim
from ampacity.sim.site import INVERTER_EFFICIENCY, LOAD_FLICKER, SiteConfig, SitePhysics
from ampacity.sim.solar import PvArray, smooth_noise

from .series import TimeSeries

Available = Callable[[datetime, datetime], float]
"""``(start, end) -> W``: the AC power an inverter could deliver over the interval (≥ 0)."""

DC_LOSSES = 0.1
"""Share of the DC power lost before the inverter when PV comes from irradiance."""


def from_irradiance(ghi: TimeSeries, peak_w: float) -> Available:
    """AC power from global horizontal irradiance (W/m²): peak × GHI / 1000 W/m², less the DC
    losses and the inverter's efficiency (a horizontal-equivalent array, like ``PvArray``)."""

    def available(start: datetime, end: datetime) -> float:
        dc = peak_w * max(0.0, ghi.mean(start, end)) / 1000.0 * (1 - DC_LOSSES)
        return dc * INVERTER_EFFICIENCY

    return available


def from_ac_power(series: TimeSeries) -> Available:
    """AC power measured at the inverter (W, already scaled to the site)."""
    return lambda start, end: max(0.0, series.mean(start, end))


def from_model(array: PvArray) -> Available:
    """The simulated sky of ``sim/solar.py`` (clear sky times clouds) at the interval's end."""
    return lambda start, end: array.dc_power(end) * INVERTER_EFFICIENCY


@dataclass
class Inverter:
    """A PV inverter: what the sky offers, its rating and the limit the control wrote (W)."""

    available: Available
    nominal_w: float
    limit_w: float = float("inf")
    pv_w: float = 0.0
    energy_wh: float = 0.0

    def set_limit(self, watts: float) -> None:
        self.limit_w = max(0.0, min(self.nominal_w, watts))


@dataclass(frozen=True, slots=True)
class Visit:
    """One vehicle at a charge point: plugged in over ``[arrival, departure)`` (UTC), wanting
    ``energy_wh``, charging at most ``max_current_a`` on ``phases`` phases."""

    arrival: datetime
    departure: datetime
    energy_wh: float
    phases: int = 3
    max_current_a: float = 16.0


@dataclass
class VisitedChargePoint(ChargePointSim):
    """A charge point whose vehicles come at dated times (``visits``) instead of every day.

    ``plan`` is the visit in progress (or the last one) as a ``SessionPlan``, so what reads a
    ``ChargePointSim`` (energy wanted, phases, the car's current) reads it unchanged.
    """

    visits: tuple[Visit, ...] = ()
    _visit: Visit | None = field(default=None, repr=False)

    def step(self, local: datetime, dt_s: float) -> float:
        self.limit_age_s += dt_s
        visit = next((v for v in self.visits if v.arrival <= local < v.departure), None)
        self.connected = visit is not None
        if visit is None:
            self.current_a = self.power_w = 0.0
            return 0.0
        if visit is not self._visit:
            self._visit, self.session_wh = visit, 0.0
            self.plan = SessionPlan(
                visit.arrival.timetz(),
                visit.departure.timetz(),
                visit.energy_wh,
                visit.phases,
                visit.max_current_a,
            )
        current = min(self.effective_limit_a, visit.max_current_a)
        if current < MIN_CURRENT_A or self.session_wh >= visit.energy_wh:
            current = 0.0
        phases = self.phases
        power = current * NOMINAL_VOLTAGE_V * phases
        if power > 0 and dt_s > 0:
            power = min(power, (visit.energy_wh - self.session_wh) * 3600.0 / dt_s)
            current = power / (NOMINAL_VOLTAGE_V * phases)
        energy = power * dt_s / 3600.0
        self.session_wh += energy
        self.total_wh += energy
        self.current_a, self.power_w = current, power
        return power


@dataclass
class MeasuredHeatPump(HeatPumpSim):
    """The heat pump of ``sim/heat_pump.py`` whose house needs the heat of a measured series:
    electrical demand = heat demand (W thermal) / ``cop``."""

    heat_w: TimeSeries | None = None
    cop: float = 3.0
    step_s: float = 1.0

    def demand_w(self, when: datetime) -> float:
        if self.heat_w is None:
            return super().demand_w(when)
        start = when - timedelta(seconds=self.step_s)
        return max(0.0, self.heat_w.mean(start, when)) / self.cop


@dataclass
class Extras:
    """What a scenario adds to the demo site.

    Attributes:
        pv: the main inverter's (``pv``) source; ``None``: the simulated sky.
        load_w: the site's load (W); ``None``: the BDEW H25 household.
        inverters: further inverters by asset id.
        batteries: further batteries by asset id.
        chargers: further or replaced charge points by asset id.
    """

    pv: Available | None = None
    load_w: TimeSeries | None = None
    inverters: dict[str, Inverter] = field(default_factory=dict)
    batteries: dict[str, BatterySim] = field(default_factory=dict)
    chargers: dict[str, ChargePointSim] = field(default_factory=dict)


class ScenarioPhysics(SitePhysics):
    """``SitePhysics`` with the scenario's ``Extras`` (see the module's description)."""

    def __init__(self, clock: Clock, config: SiteConfig, extras: Extras) -> None:
        self.extras = extras
        self.inverters = extras.inverters
        self.extra_batteries = extras.batteries
        self._main_pv = extras.pv
        super().__init__(clock, config)
        self.chargers.update(extras.chargers)
        if self._main_pv is None:
            self._main_pv = from_model(self.pv_array)
        self._evaluate(self.time, 0.0)

    @property
    def batteries(self) -> dict[str, BatterySim]:
        """Every battery by asset id, the demo's ``battery`` first."""
        return {"battery": self.battery, **self.extra_batteries}

    def available_pv_w(self, start: datetime, end: datetime) -> float:
        """What every inverter could deliver over the interval, at its rating, W."""
        main = self._main_pv or from_model(self.pv_array)
        total = min(main(start, end), self.config.inverter_nominal_w)
        return total + sum(
            min(i.available(start, end), i.nominal_w) for i in self.inverters.values()
        )

    def _evaluate(self, when: datetime, dt_s: float) -> None:
        local = when.astimezone(self.zone)
        start = when - timedelta(seconds=dt_s)
        main = self._main_pv or from_model(self.pv_array)
        self.pv_w = max(
            0.0, min(main(start, when), self.config.inverter_nominal_w, self.pv_limit_w)
        )
        self.pv_dc_w = self.pv_w / INVERTER_EFFICIENCY
        hours = dt_s / 3600.0
        for inverter in self.inverters.values():
            offered = inverter.available(start, when)
            inverter.pv_w = max(0.0, min(offered, inverter.nominal_w, inverter.limit_w))
            inverter.energy_wh += inverter.pv_w * hours
        flicker = 2 * smooth_noise(self.config.weather_seed, when.timestamp(), 7.0) - 1
        series = self.extras.load_w
        base = self.load.power(when) if series is None else max(0.0, series.mean(start, when))
        self.load_w = base * (1 + LOAD_FLICKER * flicker)
        self.ev_w = sum(cp.step(local, dt_s) for cp in self.chargers.values())
        self.other_w = sum(max(0.0, produce(when)) for produce in self.producers.values())
        self.other_w += sum(i.pv_w for i in self.inverters.values())
        self.flex_w = sum(max(0.0, consume(when, dt_s)) for consume in self.consumers.values())
        without_battery = self.load_w + self.ev_w + self.flex_w - self.pv_w - self.other_w
        self.battery_w = 0.0
        for battery in self.batteries.values():
            self.battery_w += battery.step(dt_s, without_battery - self.battery_w)
        self.grid_w = without_battery - self.battery_w
        self.pv_energy_wh += self.pv_w * hours
        self.other_energy_wh += self.other_w * hours
        self.flex_energy_wh += self.flex_w * hours
        self.load_energy_wh += self.load_w * hours
        if self.grid_w >= 0:
            self.grid_import_wh += self.grid_w * hours
        else:
            self.grid_export_wh += -self.grid_w * hours
