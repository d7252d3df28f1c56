"""Site physics: PV, household load, battery, EV charging and the meters, on an injectable clock.

Power flows (W) and their signs, as in the information model:

* ``pv_w`` - PV inverter AC output, positive = production;
* ``load_w`` - household consumption (what the sub-meter measures), positive = consumption;
* ``ev_w`` - sum of the charge points, positive = consumption;
* ``battery_w`` - battery AC power, positive = discharge, negative = charge;
* ``other_w`` - further generation registered in ``producers`` (a second inverter simulated
  elsewhere), positive = production;
* ``flex_w`` - further consumers registered in ``consumers`` (a heat pump), positive =
  consumption;
* ``grid_w = load_w + ev_w + flex_w - pv_w - other_w - battery_w`` - grid connection point,
  positive = import.

The household load flickers by ``LOAD_FLICKER`` around its quarter-hour profile value and the
battery's own self-consumption control follows the grid with a lag, so the grid meter moves from
second to second as a real one does.

``SitePhysics.advance_to`` integrates in steps of at most ``max_step_s`` (energy counters in Wh,
battery SoC, EV session energy); nothing reads the wall clock, so a day runs in milliseconds with a
``FakeClock``. ``SitePhysics.models()`` hands out one ``DeviceModel`` per demo profile, which the
simulated devices serve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from ampacity.assets import PointValue

from .battery import BatterySim
from .clock import Clock
from .ev import NOMINAL_VOLTAGE_V, ChargePointSim, SessionPlan
from .load import HouseholdLoad, site_zone
from .registers import DeviceModel
from .solar import CloudModel, PvArray, smooth_noise

INVERTER_EFFICIENCY = 0.97
"""DC -> AC efficiency of the PV inverter."""
LOAD_FLICKER = 0.08
"""Relative short-term variation of the household load around its profile (appliances)."""


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """The demo household (Aachen, Germany, by default).

    Attributes:
        lat_deg / lon_deg: location, degrees north / east.
        time_zone: IANA zone of local time (load profile, EV sessions).
        pv_peak_w: PV array peak power, W (DC).
        inverter_nominal_w: PV inverter rated AC power, W.
        cloudiness: 0 (clear) .. 1 (very cloudy), see ``CloudModel``.
        weather_seed: makes the clouds reproducible.
        annual_load_kwh: household consumption per year, kWh.
        battery: the battery's parameters (a fresh copy is used).
        sessions: daily vehicle sessions per charge point key (``alfen1``, ``alfen2``,
            ``heidelberg``).
        max_step_s: longest integration step, s.
    """

    lat_deg: float = 50.775
    lon_deg: float = 6.083
    time_zone: str = "Europe/Berlin"
    pv_peak_w: float = 9_000.0
    inverter_nominal_w: float = 8_000.0
    cloudiness: float = 0.3
    weather_seed: int = 1
    annual_load_kwh: float = 4_500.0
    battery: BatterySim = field(default_factory=BatterySim)
    sessions: dict[str, SessionPlan | None] = field(
        default_factory=lambda: {
            "alfen1": SessionPlan(time(17, 30), time(7, 30), 20_000.0, phases=3),
            "alfen2": SessionPlan(time(8, 30), time(16, 0), 12_000.0, phases=1, max_current_a=32),
            "heidelberg": SessionPlan(time(18, 15), time(6, 45), 15_000.0, phases=3),
        }
    )
    max_step_s: float = 60.0


class SitePhysics:
    """The whole site's physics, advanced to the clock's time on request.

    Args:
        clock: where "now" comes from.
        config: the site; the default household otherwise.
    """

    def __init__(self, clock: Clock, config: SiteConfig | None = None) -> None:
        self.clock = clock
        self.config = config = config or SiteConfig()
        self.zone = site_zone(config.time_zone)
        self.pv_array = PvArray(
            config.pv_peak_w,
            config.lat_deg,
            config.lon_deg,
            clouds=CloudModel(cloudiness=config.cloudiness, seed=config.weather_seed),
        )
        self.load = HouseholdLoad(config.annual_load_kwh, config.time_zone)
        b = config.battery
        self.battery = BatterySim(
            capacity_wh=b.capacity_wh,
            max_charge_w=b.max_charge_w,
            max_discharge_w=b.max_discharge_w,
            charge_efficiency=b.charge_efficiency,
            discharge_efficiency=b.discharge_efficiency,
            soc=b.soc,
            min_soc=b.min_soc,
            max_soc=b.max_soc,
            setpoint_timeout_s=b.setpoint_timeout_s,
        )
        self.chargers: dict[str, ChargePointSim] = {
            "alfen1": ChargePointSim(config.sessions.get("alfen1"), limit_timeout_s=60.0),
            "alfen2": ChargePointSim(config.sessions.get("alfen2"), limit_timeout_s=60.0),
            "heidelberg": ChargePointSim(
                config.sessions.get("heidelberg"), limit_a=16.0, limit_timeout_s=15.0
            ),
        }
        self.pv_limit_w = config.inverter_nominal_w
        self.pv_w = self.pv_dc_w = 0.0
        self.load_w = self.ev_w = self.battery_w = self.grid_w = 0.0
        self.producers: dict[str, Callable[[datetime], float]] = {}
        """Further generation on site by name (e.g. a second, SunSpec-simulated inverter):
        ``when -> W`` (+ = production); included in ``other_w`` and the grid balance."""
        self.other_w = 0.0
        self.consumers: dict[str, Callable[[datetime, float], float]] = {}
        """Further consumers by name (e.g. a heat pump): ``(when, step s) -> W`` (+ =
        consumption), called once per integration step; included in ``flex_w`` and the grid."""
        self.flex_w = self.flex_energy_wh = 0.0
        self.pv_energy_wh = self.other_energy_wh = 0.0
        self.grid_import_wh = self.grid_export_wh = 0.0
        self.load_energy_wh = 0.0
        self.time = clock.now()
        self._evaluate(self.time, 0.0)

    # --- integration ----------------------------------------------------------------------------

    def update(self) -> None:
        """Advance to the clock's current time."""
        self.advance_to(self.clock.now())

    def advance_to(self, when: datetime) -> None:
        """Integrate from the last time to ``when`` in steps of at most ``max_step_s``."""
        while self.time < when:
            dt = min(self.config.max_step_s, (when - self.time).total_seconds())
            if dt <= 1e-9:
                self.time = when
                break
            self.time = self.time + timedelta(seconds=dt)
            self._evaluate(self.time, dt)

    def _evaluate(self, when: datetime, dt_s: float) -> None:
        local = when.astimezone(self.zone)
        available_ac = self.pv_array.dc_power(when) * INVERTER_EFFICIENCY
        self.pv_w = max(0.0, min(available_ac, self.config.inverter_nominal_w, self.pv_limit_w))
        self.pv_dc_w = self.pv_w / INVERTER_EFFICIENCY
        # appliances switching: ±LOAD_FLICKER around the quarter-hour profile value
        flicker = 2 * smooth_noise(self.config.weather_seed, when.timestamp(), 7.0) - 1
        self.load_w = self.load.power(when) * (1 + LOAD_FLICKER * flicker)
        self.ev_w = sum(cp.step(local, dt_s) for cp in self.chargers.values())
        self.other_w = sum(max(0.0, produce(when)) for produce in self.producers.values())
        self.flex_w = sum(max(0.0, consume(when, dt_s)) for consume in self.consumers.values())
        without_battery = self.load_w + self.ev_w + self.flex_w - self.pv_w - self.other_w
        self.battery_w = self.battery.step(dt_s, without_battery)
        self.grid_w = without_battery - self.battery_w
        hours = dt_s / 3600.0
        self.pv_energy_wh += self.pv_w * hours
        self.other_energy_wh += self.other_w * hours
        self.flex_energy_wh += self.flex_w * hours
        self.load_energy_wh += self.load_w * hours
        if self.grid_w >= 0:
            self.grid_import_wh += self.grid_w * hours
        else:
            self.grid_export_wh += -self.grid_w * hours

    # --- writes from devices --------------------------------------------------------------------

    def set_pv_limit(self, watts: float) -> None:
        """The inverter's active power limit, W (clamped to 0..nominal)."""
        self.pv_limit_w = max(0.0, min(self.config.inverter_nominal_w, watts))

    # --- device models --------------------------------------------------------------------------

    def models(self) -> dict[str, DeviceModel]:
        """One model per demo profile id."""
        c = self.chargers
        return {
            "siemens_sentron_pac2200": PointTable(
                {"grid": _meter(lambda: self.grid_w, self._grid_energy, role=0, seed=0)},
                {"grid": {"SerialNumber": "LQN/1234567"}},
            ),
            "janitza_umg604": PointTable(
                {"meter": _meter(lambda: self.load_w, self._load_energy, role=3, seed=1)},
                {"meter": {"SerialNumber": "7012-3456"}},
            ),
            "sma_sunny_tripower": PointTable(
                {"pv": self._pv_points},
                {"pv": {"SerialNumber": 3001234567}},
                {("pv", "ActivePowerLimit"): lambda v: self.set_pv_limit(_number(v))},
            ),
            "sma_sunny_boy_storage": PointTable(
                {"battery": self._battery_points},
                {"battery": {"SerialNumber": 3009876543}},
                {
                    ("battery", "BatteryPowerSetpoint"): lambda v: self.battery.set_setpoint(
                        _number(v)
                    )
                },
            ),
            "alfen_eve_double": PointTable(
                {
                    "socket1": _charger(c["alfen1"], phase_register=True),
                    "socket2": _charger(c["alfen2"], phase_register=True),
                },
                {key: _ALFEN_ID for key in ("socket1", "socket2")},
                {
                    ("socket1", "ChargeCurrentLimit"): lambda v: c["alfen1"].set_limit(_number(v)),
                    ("socket2", "ChargeCurrentLimit"): lambda v: c["alfen2"].set_limit(_number(v)),
                    ("socket1", "PhaseSetting"): lambda v: c["alfen1"].set_phases(_number(v)),
                    ("socket2", "PhaseSetting"): lambda v: c["alfen2"].set_phases(_number(v)),
                },
            ),
            "heidelberg_energy_control": PointTable(
                {"charger": _charger(c["heidelberg"])},
                {},
                {
                    ("charger", "ChargeCurrentLimit"): lambda v: c["heidelberg"].set_limit(
                        _number(v)
                    )
                },
            ),
        }

    def _grid_energy(self) -> tuple[float, float]:
        return self.grid_import_wh, self.grid_export_wh

    def _load_energy(self) -> tuple[float, float]:
        return self.load_energy_wh, 0.0

    def _pv_points(self) -> dict[str, PointValue]:
        values = _three_phase(self.pv_w, self.time.timestamp(), seed=2)
        values.update(
            DcPower=self.pv_dc_w,
            NominalPower=self.config.inverter_nominal_w,
            EnergyProduced=round(self.pv_energy_wh),
            OperatingState=4,  # SMA health "Ok" day and night
            ActivePowerLimit=self.pv_limit_w,
        )
        return values

    def _battery_points(self) -> dict[str, PointValue]:
        b = self.battery
        values = _three_phase(b.power_w, self.time.timestamp(), seed=3)
        values.update(
            StateOfCharge=round(b.soc),
            Capacity=b.capacity_wh,
            MaxChargePower=b.max_charge_w,
            MaxDischargePower=b.max_discharge_w,
            EnergyCharged=round(b.energy_charged_wh),
            EnergyDischarged=round(b.energy_discharged_wh),
            BatteryPowerSetpoint=b.setpoint_w if b.external else None,
        )
        return values


_ALFEN_ID: dict[str, PointValue] = {
    "Manufacturer": "Alfen NV",
    "Model": "NG920",
    "FirmwareVersion": "6.4.0-4210",
    "SerialNumber": "ACE0123456",
}

Points = Callable[[], dict[str, PointValue]]


class PointTable:
    """A ``DeviceModel`` from callables: per asset key, a function returning its point values.

    Args:
        assets: asset key -> function returning ``{point: value}`` now.
        identification: asset key -> ``{Manufacturer|Model|SerialNumber|FirmwareVersion: value}``.
        setpoints: ``(asset key, point) -> handler`` called with a written value.
    """

    def __init__(
        self,
        assets: dict[str, Points],
        identification: dict[str, dict[str, PointValue]],
        setpoints: dict[tuple[str, str], Callable[[PointValue], None]] | None = None,
    ) -> None:
        self.assets = assets
        self.identification = identification
        self.setpoints = setpoints or {}

    def read(self, asset: str, point: str) -> PointValue:
        if point.startswith("Identification."):
            return self.identification.get(asset, {}).get(point.split(".", 1)[1])
        source = self.assets.get(asset)
        return None if source is None else source().get(point)

    def write(self, asset: str, point: str, value: PointValue) -> None:
        handler = self.setpoints.get((asset, point))
        if handler is not None:
            handler(value)


def _number(value: PointValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _three_phase(power_w: float, t: float, seed: int) -> dict[str, PointValue]:
    """Per-phase values of a balanced three-phase flow of ``power_w`` (sign kept)."""
    values: dict[str, PointValue] = {"ActivePower": power_w}
    for i, phase in enumerate(("L1", "L2", "L3")):
        volts = 230.0 + 1.5 * math.sin(t / 97.0 + 2.1 * i + seed)
        values[f"Voltage{phase}"] = volts
        values[f"ActivePower{phase}"] = power_w / 3
        values[f"Current{phase}"] = abs(power_w) / 3 / volts
    values["Frequency"] = 50.0 + 0.02 * math.sin(t / 31.0)
    values["ReactivePower"] = 0.05 * abs(power_w)
    return values


def _meter(
    power: Callable[[], float], energy: Callable[[], tuple[float, float]], role: int, seed: int
) -> Points:
    def points() -> dict[str, PointValue]:
        imported, exported = energy()
        values = _three_phase(power(), 0.0, seed)
        values.update(EnergyImported=imported, EnergyExported=exported, Role=role)
        return values

    return points


def _charger(cp: ChargePointSim, phase_register: bool = False) -> Points:
    """The charge point's points; ``phase_register``: the station has one register for the phase
    setting, read as both ``PhasesInUse`` and ``PhaseSetting`` (Alfen 1215)."""

    def points() -> dict[str, PointValue]:
        phases = max(1, cp.phases)
        values: dict[str, PointValue] = {
            "ActivePower": cp.power_w,
            "VehicleConnected": cp.connected,
            "Charging": cp.charging,
            "EnergyTotal": cp.total_wh,
            "SessionEnergy": cp.session_wh,
            "ChargeCurrentLimit": cp.effective_limit_a,
            "PhasesInUse": cp.phases_setting if cp.plan is None else phases,
            "Frequency": 50.0,
            "ReactivePower": 0.0,
        }
        if phase_register:
            values["PhasesInUse"] = values["PhaseSetting"] = cp.phases_setting
        for i, phase in enumerate(("L1", "L2", "L3")):
            active = i < phases
            values[f"Voltage{phase}"] = NOMINAL_VOLTAGE_V
            values[f"Current{phase}"] = cp.current_a if active else 0.0
            values[f"ActivePower{phase}"] = cp.power_w / phases if active else 0.0
        return values

    return points
