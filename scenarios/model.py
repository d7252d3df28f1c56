"""Scenario files: their schema (pydantic) and loading with located errors.

The keys, units and signs are described in ``docs/scenarios.md``; every key added after the
first scenario files is optional, so older files load unchanged. Powers W, energies Wh, prices
per kWh (spot prices EUR/MWh).
"""

from __future__ import annotations

import calendar
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Literal

from ampacity.control import ControlConfig
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from .series import SeriesError, TimeSeries, read_series
from .yamllines import Location, ScenarioError, located, parse_with_lines

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "deploy" / "scenarios"
MEASURED_DIR = SCENARIO_DIR / "measured"
"""Scenarios built from measured and published time series (``measured/data/``)."""
CHARGE_POINT_IDS = ("alfen1", "alfen2", "heidelberg")
"""The simulated site's charge points (asset ids equal the physics' keys)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeriesRef(_Model):
    """A CSV time series (``scenarios/series.py``): ``file`` relative to the scenario file; every
    value times ``scale``; timestamps shifted by ``offset_days``; ``label``: whether a timestamp
    starts or ends its value's interval."""

    file: Path
    scale: float = 1.0
    offset_days: int = 0
    label: Literal["start", "end"] = "start"
    _series: TimeSeries | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo) -> SeriesRef:
        base = (info.context or {}).get("base")
        if base is not None and not self.file.is_absolute():
            self.file = Path(base) / self.file
        try:
            self._series = read_series(self.file, self.scale, self.offset_days, self.label)
        except SeriesError as exc:
            raise ValueError(str(exc)) from None
        return self

    def series(self) -> TimeSeries:
        if self._series is None:
            self._series = read_series(self.file, self.scale, self.offset_days, self.label)
        return self._series


class BatteryModel(_Model):
    capacity_wh: float = 10_000.0
    max_charge_w: float = 5_000.0
    max_discharge_w: float = 5_000.0
    soc: float = 50.0
    min_soc: float = 5.0


class NamedBattery(BatteryModel):
    """A further battery, asset ``id``."""

    id: str


class InverterModel(_Model):
    """A further PV inverter, asset ``id``: its array's DC peak and its AC rating (W); its output
    from ``pv_csv`` (AC W), else from the site's irradiance, else the simulated sky."""

    id: str
    pv_peak_w: float = Field(gt=0)
    nominal_w: float = Field(gt=0)
    pv_csv: SeriesRef | None = None


class ChargePointModel(_Model):
    """A further charge point, asset ``id``; without a refreshed limit it falls back to
    ``fallback_current_a`` after ``limit_timeout_s``."""

    id: str
    limit_timeout_s: float = Field(60.0, gt=0)
    fallback_current_a: float = Field(6.0, ge=0)


class VehicleModel(_Model):
    """A vehicle at ``charge_point`` from ``arrival`` to ``departure`` (with a UTC offset),
    wanting ``energy_wh``; it takes at most ``max_power_w`` (its on-board charger) on ``phases``
    phases."""

    charge_point: str
    arrival: datetime
    departure: datetime
    energy_wh: float = Field(gt=0)
    max_power_w: float = Field(11_040.0, gt=0)
    phases: Literal[1, 3] = 3

    @model_validator(mode="after")
    def _order(self) -> VehicleModel:
        if self.arrival.tzinfo is None or self.departure.tzinfo is None:
            raise ValueError("arrival and departure need a UTC offset (e.g. +01:00)")
        if self.departure <= self.arrival:
            raise ValueError("departure must be after arrival")
        return self

    @property
    def max_current_a(self) -> float:
        return self.max_power_w / (230.0 * self.phases)


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
    heat_demand_csv: SeriesRef | None = None
    """The house's heat demand, W thermal (replaces the built-in winter shape)."""
    cop: float = Field(3.0, gt=0)
    """Heat per electrical energy: electrical demand = heat demand / cop."""


class SiteModel(_Model):
    """The simulated site. Without the optional series and lists it is the demo household
    (``sim/site.py``): the main inverter ``pv``, the battery ``battery``, the charge points
    ``alfen1``, ``alfen2``, ``heidelberg`` with a daily session each.

    Attributes:
        latitude / longitude: degrees north / east (the sun for PV without a series).
        load_csv: the site's load, W (replaces ``annual_load_kwh`` on the H25 profile).
        pv_csv: the main inverter's AC output, W (what it could deliver: a limit cuts it).
        irradiance_csv: global horizontal irradiance, W/m², for inverters without ``pv_csv``.
        batteries / inverters / charge_points: further devices (asset ids must be new).
        vehicles: dated visits at any charge point whose daily ``sessions`` entry is not set.
    """

    pv_peak_w: float = 9_000.0
    inverter_nominal_w: float = 8_000.0
    cloudiness: float = 0.3
    weather_seed: int = 1
    annual_load_kwh: float = 4_500.0
    battery: BatteryModel = BatteryModel()
    sessions: dict[str, SessionModel | None] = Field(default_factory=dict)
    heat_pump: HeatPumpModel | None = None
    latitude: float = Field(50.775, ge=-90, le=90)
    longitude: float = Field(6.083, ge=-180, le=180)
    load_csv: SeriesRef | None = None
    pv_csv: SeriesRef | None = None
    irradiance_csv: SeriesRef | None = None
    batteries: tuple[NamedBattery, ...] = ()
    inverters: tuple[InverterModel, ...] = ()
    charge_points: tuple[ChargePointModel, ...] = ()
    vehicles: tuple[VehicleModel, ...] = ()

    @model_validator(mode="after")
    def _ids(self) -> SiteModel:
        taken = {"pv", "battery", "grid", "hp", *CHARGE_POINT_IDS}
        ids = [d.id for d in self.batteries] + [d.id for d in self.inverters]
        for asset_id in ids + [d.id for d in self.charge_points]:
            if asset_id in taken:
                raise ValueError(f"asset id {asset_id!r} is used twice")
            taken.add(asset_id)
        points = {*CHARGE_POINT_IDS, *(cp.id for cp in self.charge_points)}
        for visit in self.vehicles:
            if visit.charge_point not in points:
                raise ValueError(f"vehicles: no charge point {visit.charge_point!r}")
            if self.sessions.get(visit.charge_point) is not None:
                raise ValueError(
                    f"vehicles: {visit.charge_point!r} has a daily session; set it to null"
                )
        return self

    @property
    def charge_point_ids(self) -> tuple[str, ...]:
        return (*CHARGE_POINT_IDS, *(cp.id for cp in self.charge_points))

    @property
    def extended(self) -> bool:
        """Whether the site needs more than the demo household's physics."""
        return bool(
            self.load_csv
            or self.pv_csv
            or self.irradiance_csv
            or self.batteries
            or self.inverters
            or self.charge_points
            or self.vehicles
            or (self.latitude, self.longitude) != (50.775, 6.083)
        )


class TariffModel(_Model):
    """Import price = spot (EUR/MWh, one value per ``spot_slot_minutes`` from ``start``, or the
    series ``prices_csv``) / 1000 + ``surcharge``, per kWh; without spot prices,
    ``import_per_kwh``.

    Export (``export``): ``fixed`` earns ``export_per_kwh`` (a feed-in tariff); ``spot`` the spot
    price itself (direct marketing: negative when the spot is negative); ``spot-nonnegative`` the
    spot price, but nothing while it is negative (no payment in negative hours, as the German
    EEG has it for new plants). ``export_spot: true`` is the older spelling of ``spot``.

    ``demand_charge_per_kw_month``: a demand charge on the highest 15-minute mean import of the
    month, prorated to the scenario's share of its month (EUR per kW and month).

    ``asset``: the id of a ``Tariff`` asset the scenario publishes like a tariff driver would:
    ``CurrentPrice`` (import, per kWh) and ``PriceForecast`` (the day's slots, JSON). Name it in
    ``control.tariff``; the control and the plan then read the prices from it.
    """

    import_per_kwh: float = 0.30
    export_per_kwh: float = 0.08
    surcharge_per_kwh: float = 0.20
    spot_eur_per_mwh: tuple[float, ...] = ()
    spot_slot_minutes: Literal[15, 60] = 60
    prices_csv: SeriesRef | None = None
    export_spot: bool = False
    export: Literal["fixed", "spot", "spot-nonnegative"] | None = None
    demand_charge_per_kw_month: float = Field(0.0, ge=0)
    asset: str | None = None
    _start: datetime | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_price_source(self) -> TariffModel:
        if self.spot_eur_per_mwh and self.prices_csv is not None:
            raise ValueError("give spot_eur_per_mwh or prices_csv, not both")
        if self.export_spot and self.export not in (None, "spot"):
            raise ValueError(f"export_spot: true contradicts export: {self.export}")
        return self

    @property
    def export_rule(self) -> Literal["fixed", "spot", "spot-nonnegative"]:
        return self.export or ("spot" if self.export_spot else "fixed")

    def _spot(self, elapsed_s: float) -> float | None:
        if self.prices_csv is not None:
            if self._start is None:
                raise RuntimeError("a tariff with prices_csv needs its scenario's start")
            return self.prices_csv.series().at(self._start + timedelta(seconds=elapsed_s))
        if not self.spot_eur_per_mwh:
            return None
        index = int(elapsed_s // (self.spot_slot_minutes * 60))
        return self.spot_eur_per_mwh[index % len(self.spot_eur_per_mwh)]

    def import_price_at(self, elapsed_s: float) -> float:
        """Per kWh, ``elapsed_s`` after the scenario's start."""
        spot = self._spot(elapsed_s)
        return self.import_per_kwh if spot is None else spot / 1000.0 + self.surcharge_per_kwh

    def export_price_at(self, elapsed_s: float) -> float:
        """What a kWh fed in earns, ``elapsed_s`` after the start."""
        spot = self._spot(elapsed_s)
        rule = self.export_rule
        if rule == "fixed" or spot is None:
            return self.export_per_kwh
        return spot / 1000.0 if rule == "spot" else max(0.0, spot) / 1000.0

    def demand_charge_share(self, start: datetime, hours: float) -> float:
        """The part of a month's demand charge a run of ``hours`` from ``start`` bears, per W."""
        days = calendar.monthrange(start.year, start.month)[1]
        return self.demand_charge_per_kw_month / 1000.0 * hours / 24.0 / days

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

    @model_validator(mode="after")
    def _tariff_asset_is_read(self) -> Scenario:
        self.tariff._start = self.start
        if self.tariff.asset is not None and self.control.tariff != self.tariff.asset:
            raise ValueError(
                f"tariff.asset {self.tariff.asset!r}: name it in control.tariff so the control "
                "reads it"
            )
        return self

    def uncovered(self) -> list[tuple[Location, str]]:
        """Series that do not cover the scenario's hours: ``(where in the file, problem)``."""
        end = self.start + timedelta(hours=self.hours)
        site = self.site
        where: list[tuple[Location, SeriesRef | None]] = [
            (("site", "load_csv"), site.load_csv),
            (("site", "pv_csv"), site.pv_csv),
            (("site", "irradiance_csv"), site.irradiance_csv),
            (("tariff", "prices_csv"), self.tariff.prices_csv),
            (
                ("site", "heat_pump", "heat_demand_csv"),
                site.heat_pump.heat_demand_csv if site.heat_pump else None,
            ),
        ]
        where += [
            (("site", "inverters", i, "pv_csv"), v.pv_csv) for i, v in enumerate(site.inverters)
        ]
        problems = []
        for location, ref in where:
            if ref is not None and not ref.series().covers(self.start, end):
                found = ref.series()
                problems.append(
                    (
                        location,
                        f"{found.name} covers {found.first:%Y-%m-%d %H:%M} to "
                        f"{found.last:%Y-%m-%d %H:%M} UTC, not the scenario's "
                        f"{self.start:%Y-%m-%d %H:%M} + {self.hours:g} h",
                    )
                )
        return problems


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
    """A scenario from a YAML file (a bare name looks in ``deploy/scenarios/``); CSV paths in it
    are relative to the file.

    Raises:
        ScenarioError: one ``<file>:<line>: <field>: <message>`` line per problem.
    """
    p = Path(path)
    if not p.suffix:
        p = SCENARIO_DIR / f"{p}.yaml"
        if not p.exists() and (MEASURED_DIR / p.name).exists():
            p = MEASURED_DIR / p.name
    data, lines = parse_with_lines(p)
    try:
        scenario = Scenario.model_validate(data, context={"base": p.parent})
    except ValidationError as exc:
        raise ScenarioError(located(p.name, lines, exc.errors(include_url=False))) from None
    problems = [{"loc": where, "msg": problem} for where, problem in scenario.uncovered()]
    if problems:
        raise ScenarioError(located(p.name, lines, problems))
    return scenario
