"""The industrial demo site's devices and physics: a factory on a 400 kW grid connection.

Everything is a simulator speaking its device's protocol on loopback: a SENTRON PAC2200 grid
meter, a 400 kWp PV plant behind an SMA Modbus inverter, a 500 kWh / 250 kW battery (SMA
battery-inverter registers), two 150 kW DC fast chargers and an Alfen double AC station, a
50 kW CHP with a heat meter on its circuit, a 20 kW fuel cell, a 100 kW electrolyser, two
SG-Ready heat pumps on KMTronic relay boards (UDP), and the grid operator's control box.

The CHP, fuel cell, electrolyser, heat meter and DC chargers use the example site-local
profiles in ``sim/profiles/`` (their vendors publish no register map; see
``ampacity devices --uncovered``).

One physics (``IndustrialPhysics``) ties them together, in W (grid + import, battery +
discharge, producers + production, consumers + consumption). Tests steer it through plain
attributes (``pv_override_w``, ``load_override_w``, ``dc_connected``, ``heat_store_c``,
``chp_locked``) instead of waiting for an hour of the day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ampacity.assets import PointValue
from ampacity.drivers.profile import Profile
from ampacity.drivers.registry import all_profiles

from .battery import BatterySim
from .kmtronic_udp import KmtronicBoardSimulator
from .registers import WriteRefused
from .server import SimServer, SimulatedDevice
from .signals import ModbusContactSim
from .site import PointTable
from .solar import CloudModel, PvArray

log = logging.getLogger(__name__)

PROFILES = Path(__file__).parent / "profiles"
"""The example site-local profiles the industrial demo uses."""

LATITUDE, LONGITUDE = 50.78, 6.08
TIME_ZONE = ZoneInfo("Europe/Berlin")

PV_PEAK_W = 400_000.0
PV_NOMINAL_W = 380_000.0
BATTERY_WH, BATTERY_W = 500_000.0, 250_000.0
DC_MAX_W = 150_000.0
AC_VOLTAGE_V = 230.0
CHP_RATED_W, CHP_HEAT_RATIO = 50_000.0, 1.6
FC_RATED_W, FC_HEAT_RATIO = 20_000.0, 0.8
ELY_MIN_W, ELY_MAX_W = 20_000.0, 100_000.0
ELY_KWH_PER_KG = 55.0
FC_KWH_PER_KG = 16.0
"""Electricity a fuel cell makes from 1 kg of hydrogen (about half of its 33 kWh), kWh."""
TANK_KG = 200.0
"""The hydrogen store the electrolyser fills and the fuel cell draws from, kg."""
HEAT_PUMP_W = {1: 0.0, 2: 15_000.0, 3: 22_000.0, 4: 30_000.0}
"""Electrical draw of one heat pump per SG-Ready state, W."""
HEAT_PUMP_COP = 3.2
STORE_WH_PER_K = 11_600.0 * 10
"""Heat store: 100 m³ of water, Wh per kelvin."""
RAMP_W_PER_S = 10_000.0


def _ramp(now_w: float, target_w: float, dt_s: float) -> float:
    step = RAMP_W_PER_S * dt_s
    return (
        target_w if abs(target_w - now_w) <= step else now_w + math.copysign(step, target_w - now_w)
    )


def _number(value: PointValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _three_phase(power_w: float, t: float) -> dict[str, PointValue]:
    values: dict[str, PointValue] = {"ActivePower": power_w}
    for i, phase in enumerate(("L1", "L2", "L3")):
        volts = 231.0 + 1.2 * math.sin(t / 83.0 + 2.1 * i)
        values[f"Voltage{phase}"] = volts
        values[f"ActivePower{phase}"] = power_w / 3
        values[f"Current{phase}"] = abs(power_w) / 3 / volts
    values["Frequency"] = 50.0 + 0.015 * math.sin(t / 29.0)
    values["ReactivePower"] = 0.04 * abs(power_w)
    return values


@dataclass
class Unit:
    """A dispatchable unit (CHP, fuel cell, electrolyser) following its power setpoint, W."""

    rated_w: float
    min_w: float = 0.0
    setpoint_w: float = 0.0
    power_w: float = 0.0
    energy_wh: float = 0.0
    run_s: float = 0.0
    starved: bool = False
    """No fuel (the fuel cell with an empty hydrogen store): 0 W, RunState Fault."""
    locked: bool = False
    """Locked for maintenance: refuses setpoints above 0 W (Modbus exception 4), runs down to
    0 W and shows RunState Fault while a start is asked for."""

    def step(self, dt_s: float) -> None:
        target = 0.0 if self.locked or self.starved else min(self.rated_w, self.setpoint_w)
        if 0.0 < target < self.min_w:
            target = 0.0
        self.power_w = _ramp(self.power_w, target, dt_s)
        self.energy_wh += self.power_w * dt_s / 3600.0
        if self.power_w > 0.0:
            self.run_s += dt_s

    @property
    def run_state(self) -> int:
        """The model's RunState: 0 Off, 1 Starting, 2 Running, 3 Stopping, 4 Fault."""
        if (self.locked or self.starved) and self.setpoint_w > 0:
            return 4
        if self.power_w <= 0.0:
            return 1 if self.setpoint_w > 0 else 0
        if self.setpoint_w <= 0.0:
            return 3
        return 2 if abs(self.power_w - min(self.setpoint_w, self.rated_w)) < 1.0 else 1


@dataclass
class DcCharger:
    connected: bool = False
    limit_w: float = DC_MAX_W
    power_w: float = 0.0
    session_wh: float = 0.0

    def step(self, dt_s: float) -> None:
        target = min(self.limit_w, DC_MAX_W) if self.connected else 0.0
        self.power_w = _ramp(self.power_w, target, dt_s * 5)
        self.session_wh = self.session_wh + self.power_w * dt_s / 3600.0 if self.connected else 0.0


@dataclass
class AcSocket:
    connected: bool = True
    limit_a: float = 16.0
    power_w: float = 0.0
    energy_wh: float = 0.0

    def step(self, dt_s: float) -> None:
        amps = self.limit_a if self.connected and self.limit_a >= 6.0 else 0.0
        self.power_w = 3 * AC_VOLTAGE_V * amps
        self.energy_wh += self.power_w * dt_s / 3600.0


@dataclass
class IndustrialPhysics:
    """The factory's power and heat balance (W, Wh, °C), advanced by ``update``.

    Attributes:
        pv_override_w / load_override_w: fix the PV production or the factory load (tests).
        dc_connected: DC charger id -> a vehicle is connected (None: the day's schedule).
        heat_store_c: temperature of the heat store the CHP and heat pumps feed, °C.
    """

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(TIME_ZONE))
    pv_override_w: float | None = None
    load_override_w: float | None = None
    dc_connected: dict[str, bool | None] = field(default_factory=lambda: {"dc1": None, "dc2": None})
    heat_store_c: float = 50.0
    heat_demand_w: float = 90_000.0
    heat_pump_state: Callable[[str], int] = field(default=lambda hp: 2)
    pv_limit_w: float = PV_NOMINAL_W
    battery: BatterySim = field(
        default_factory=lambda: BatterySim(
            capacity_wh=BATTERY_WH, max_charge_w=BATTERY_W, max_discharge_w=BATTERY_W, soc=60.0
        )
    )
    chp: Unit = field(default_factory=lambda: Unit(CHP_RATED_W, 25_000.0))
    fuel_cell: Unit = field(default_factory=lambda: Unit(FC_RATED_W, 5_000.0))
    electrolyser: Unit = field(default_factory=lambda: Unit(ELY_MAX_W, ELY_MIN_W))
    dc: dict[str, DcCharger] = field(
        default_factory=lambda: {"dc1": DcCharger(), "dc2": DcCharger()}
    )
    ac: dict[str, AcSocket] = field(default_factory=lambda: {"s1": AcSocket(), "s2": AcSocket()})
    hydrogen_kg: float = 0.0
    """Hydrogen produced since commissioning, kg."""
    tank_kg: float = 80.0
    """Hydrogen in the store now, kg (0..TANK_KG)."""
    grid_w: float = 0.0
    pv_w: float = 0.0
    load_w: float = 0.0
    heat_pumps_w: float = 0.0
    grid_import_wh: float = 0.0
    grid_export_wh: float = 0.0
    pv_energy_wh: float = 0.0
    heat_energy_wh: float = 0.0
    _array: PvArray = field(
        default_factory=lambda: PvArray(
            PV_PEAK_W, LATITUDE, LONGITUDE, clouds=CloudModel(cloudiness=0.3, seed=11)
        )
    )
    _last: datetime | None = None

    def _scheduled_load_w(self, local: datetime) -> float:
        hour = local.hour + local.minute / 60.0
        working = local.weekday() < 5 and 6.0 <= hour < 18.0
        shift = 140_000.0 * math.sin(math.pi * (hour - 6.0) / 12.0) if working else 0.0
        press = 60_000.0 if working and (local.minute // 5) % 2 == 0 else 0.0
        return 70_000.0 + max(0.0, shift) + press

    def _dc_scheduled(self, cid: str, local: datetime) -> bool:
        hour = local.hour + local.minute / 60.0
        return 7.0 <= hour < 11.0 or 13.0 <= hour < 17.0 if cid == "dc1" else 9.0 <= hour < 15.0

    def update(self) -> None:
        """Advance to the clock's time."""
        now = self.clock()
        dt_s = 0.0 if self._last is None else max(0.0, (now - self._last).total_seconds())
        self._last = now
        dt_s = min(dt_s, 10.0)
        local = now.astimezone(TIME_ZONE)
        available = (
            self.pv_override_w
            if self.pv_override_w is not None
            else 0.97 * self._array.dc_power(now)
        )
        self.pv_w = max(0.0, min(available, self.pv_limit_w, PV_NOMINAL_W))
        self.load_w = (
            self.load_override_w
            if self.load_override_w is not None
            else self._scheduled_load_w(local)
        )
        for cid, charger in self.dc.items():
            wanted = self.dc_connected.get(cid)
            charger.connected = self._dc_scheduled(cid, local) if wanted is None else wanted
            charger.step(dt_s)
        for socket in self.ac.values():
            socket.step(dt_s)
        for unit in (self.chp, self.fuel_cell, self.electrolyser):
            unit.step(dt_s)
        made = self.electrolyser.power_w * dt_s / 3600.0 / 1000.0 / ELY_KWH_PER_KG
        used = self.fuel_cell.power_w * dt_s / 3600.0 / 1000.0 / FC_KWH_PER_KG
        self.hydrogen_kg += made
        self.tank_kg = max(0.0, min(TANK_KG, self.tank_kg + made - used))
        self.fuel_cell.starved = self.tank_kg <= 0.0  # no hydrogen, no power
        self.heat_pumps_w = sum(HEAT_PUMP_W[self.heat_pump_state(hp)] for hp in ("hp1", "hp2"))
        heat_in = (
            CHP_HEAT_RATIO * self.chp.power_w
            + FC_HEAT_RATIO * self.fuel_cell.power_w
            + HEAT_PUMP_COP * self.heat_pumps_w
        )
        self.heat_store_c += (heat_in - self.heat_demand_w) * dt_s / 3600.0 / STORE_WH_PER_K
        self.heat_store_c = max(25.0, min(90.0, self.heat_store_c))
        self.heat_energy_wh += CHP_HEAT_RATIO * self.chp.power_w * dt_s / 3600.0
        consumers = (
            self.load_w
            + sum(c.power_w for c in self.dc.values())
            + sum(s.power_w for s in self.ac.values())
            + self.heat_pumps_w
            + self.electrolyser.power_w
        )
        producers = self.pv_w + self.chp.power_w + self.fuel_cell.power_w
        without_battery = consumers - producers
        battery_w = self.battery.step(dt_s, without_battery)
        self.grid_w = without_battery - battery_w
        self.pv_energy_wh += self.pv_w * dt_s / 3600.0
        if self.grid_w >= 0:
            self.grid_import_wh += self.grid_w * dt_s / 3600.0
        else:
            self.grid_export_wh += -self.grid_w * dt_s / 3600.0

    # --- device models ---------------------------------------------------------------------------

    def models(self) -> dict[str, PointTable]:
        """One model per device id of the industrial demo."""
        t = lambda: self.clock().timestamp()  # noqa: E731
        return {
            "grid-meter": PointTable(
                {
                    "grid": lambda: (
                        _three_phase(self.grid_w, t())
                        | {
                            "EnergyImported": self.grid_import_wh,
                            "EnergyExported": self.grid_export_wh,
                            "Role": 0,
                        }
                    )
                },
                {"grid": {"SerialNumber": "LQN/7654321"}},
            ),
            "pv": PointTable(
                {
                    "pv": lambda: (
                        _three_phase(self.pv_w, t())
                        | {
                            "DcPower": self.pv_w / 0.97,
                            "NominalPower": PV_NOMINAL_W,
                            "EnergyProduced": round(self.pv_energy_wh),
                            "OperatingState": 4,
                            "ActivePowerLimit": self.pv_limit_w,
                        }
                    )
                },
                {"pv": {"SerialNumber": 3005550001}},
                {("pv", "ActivePowerLimit"): self._set_pv_limit},
            ),
            "battery": PointTable(
                {"battery": self._battery_points},
                {"battery": {"SerialNumber": 3005550002}},
                {
                    ("battery", "BatteryPowerSetpoint"): lambda v: self.battery.set_setpoint(
                        _number(v)
                    )
                },
            ),
            **{
                cid: PointTable(
                    {"cp": self._dc_points(cid)},
                    {},
                    {("cp", "ChargePowerLimit"): self._dc_limit(cid)},
                )
                for cid in self.dc
            },
            "wallbox": PointTable(
                {"socket1": self._ac_points("s1"), "socket2": self._ac_points("s2")},
                {
                    k: {"Manufacturer": "Alfen NV", "Model": "NG920", "SerialNumber": "ACE0999999"}
                    for k in ("socket1", "socket2")
                },
                {
                    ("socket1", "ChargeCurrentLimit"): self._ac_limit("s1"),
                    ("socket2", "ChargeCurrentLimit"): self._ac_limit("s2"),
                },
            ),
            "chp": PointTable(
                {"chp": self._unit_points(self.chp, CHP_HEAT_RATIO)},
                {},
                {("chp", "PowerSetpoint"): self._unit_setpoint(self.chp)},
            ),
            "chp-heat": PointTable({"heat": self._heat_points}, {}),
            "fuel-cell": PointTable(
                {"fc": self._unit_points(self.fuel_cell, FC_HEAT_RATIO)},
                {},
                {("fc", "PowerSetpoint"): self._unit_setpoint(self.fuel_cell)},
            ),
            "electrolyser": PointTable(
                {"ely": self._electrolyser_points},
                {},
                {("ely", "PowerSetpoint"): self._unit_setpoint(self.electrolyser)},
            ),
        }

    def _set_pv_limit(self, value: PointValue) -> None:
        self.pv_limit_w = max(0.0, min(PV_NOMINAL_W, _number(value)))

    def _battery_points(self) -> dict[str, PointValue]:
        b = self.battery
        return _three_phase(b.power_w, self.clock().timestamp()) | {
            "StateOfCharge": round(b.soc),
            "Capacity": b.capacity_wh,
            "MaxChargePower": b.max_charge_w,
            "MaxDischargePower": b.max_discharge_w,
            "EnergyCharged": round(b.energy_charged_wh),
            "EnergyDischarged": round(b.energy_discharged_wh),
            "BatteryPowerSetpoint": b.setpoint_w if b.external else None,
        }

    def _dc_points(self, cid: str) -> Callable[[], dict[str, PointValue]]:
        def points() -> dict[str, PointValue]:
            c = self.dc[cid]
            return {
                "ActivePower": c.power_w,
                "VehicleConnected": c.connected,
                "Charging": c.power_w > 100.0,
                "SessionEnergy": round(c.session_wh),
                "ChargePowerLimit": c.limit_w,
            }

        return points

    def _dc_limit(self, cid: str) -> Callable[[PointValue], None]:
        def write(value: PointValue) -> None:
            self.dc[cid].limit_w = _number(value)

        return write

    def _ac_points(self, sid: str) -> Callable[[], dict[str, PointValue]]:
        def points() -> dict[str, PointValue]:
            s = self.ac[sid]
            values = _three_phase(s.power_w, self.clock().timestamp())
            return values | {
                "VehicleConnected": s.connected,
                "Charging": s.power_w > 0,
                "EnergyTotal": s.energy_wh,
                "ChargeCurrentLimit": s.limit_a,
                "PhasesInUse": 3,
                "PhaseSetting": 3,
            }

        return points

    def _ac_limit(self, sid: str) -> Callable[[PointValue], None]:
        def write(value: PointValue) -> None:
            self.ac[sid].limit_a = _number(value)

        return write

    def _unit_points(self, unit: Unit, heat_ratio: float) -> Callable[[], dict[str, PointValue]]:
        def points() -> dict[str, PointValue]:
            return {
                "ActivePower": unit.power_w,
                "ThermalPower": heat_ratio * unit.power_w,
                "EnergyProduced": unit.energy_wh,
                "RunState": unit.run_state,
                "OperatingHours": round(unit.run_s / 3600.0),
                "PowerSetpoint": unit.setpoint_w,
            }

        return points

    def _unit_setpoint(self, unit: Unit) -> Callable[[PointValue], None]:
        def write(value: PointValue) -> None:
            if unit.locked and _number(value) > 0:
                raise WriteRefused("locked for maintenance")
            unit.setpoint_w = _number(value)

        return write

    def _heat_points(self) -> dict[str, PointValue]:
        thermal = CHP_HEAT_RATIO * self.chp.power_w
        return {
            "ThermalPower": thermal,
            "FlowTemperature": self.heat_store_c + (12.0 if thermal > 0 else 0.0),
            "ReturnTemperature": self.heat_store_c,
            "HeatEnergy": self.heat_energy_wh,
        }

    def _electrolyser_points(self) -> dict[str, PointValue]:
        e = self.electrolyser
        return {
            "ActivePower": e.power_w,
            "HydrogenFlow": e.power_w / 1000.0 / ELY_KWH_PER_KG,
            "HydrogenProduced": self.hydrogen_kg,
            "RunState": e.run_state,
            "HydrogenTankLevel": 100.0 * self.tank_kg / TANK_KG,
            "HydrogenPressure": 30.0 if e.power_w > 0 else 0.0,
            "OperatingHours": round(e.run_s / 3600.0),
            "PowerSetpoint": e.setpoint_w,
        }


MODBUS_DEVICES = {
    "grid-meter": "siemens_sentron_pac2200",
    "pv": "sma_sunny_tripower",
    "battery": "sma_sunny_boy_storage",
    "dc1": "example_dc_charger",
    "dc2": "example_dc_charger",
    "wallbox": "alfen_eve_double",
    "chp": "example_chp",
    "chp-heat": "example_heat_meter",
    "fuel-cell": "example_fuel_cell",
    "electrolyser": "example_electrolyser",
}
"""Device id -> profile id of every Modbus device of the industrial demo."""


@dataclass
class IndustrialSite:
    """Start and stop the industrial demo's simulators.

    Attributes:
        physics: the shared physics.
        endpoints: device id -> (host, port) of every simulator (Modbus TCP; UDP for the boards).
        boards: heat pump id -> its KMTronic board simulator.
        ripple: the grid operator's control box (coils 0..3).
        refresh_s: real seconds between physics updates.
    """

    physics: IndustrialPhysics = field(default_factory=IndustrialPhysics)
    refresh_s: float = 0.5
    endpoints: dict[str, tuple[str, int]] = field(default_factory=dict, init=False)
    devices: dict[str, SimulatedDevice] = field(default_factory=dict, init=False)
    boards: dict[str, KmtronicBoardSimulator] = field(default_factory=dict, init=False)
    ripple: ModbusContactSim = field(
        default_factory=lambda: ModbusContactSim(contacts=4, function="coil"), init=False
    )
    _servers: list[SimServer] = field(default_factory=list, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> None:
        profiles = all_profiles(PROFILES)
        models = self.physics.models()
        try:
            for device_id, profile_id in MODBUS_DEVICES.items():
                profile = profiles[profile_id]
                assert isinstance(profile, Profile)
                device = SimulatedDevice(profile, models[device_id], name=device_id)
                server = SimServer([device])
                self._servers.append(server)
                self.endpoints[device_id] = await server.start_tcp("127.0.0.1", 0)
                self.devices[device_id] = device
            for hp in ("hp1", "hp2"):
                board = KmtronicBoardSimulator(relays=4)
                self.endpoints[hp] = ("127.0.0.1", await board.start())
                self.boards[hp] = board
            self.endpoints["rcr"] = await self.ripple.start()
        except BaseException:
            await self.stop()
            raise
        self.physics.heat_pump_state = lambda hp: self.boards[hp].sg_ready_state
        self._task = asyncio.create_task(self._run(), name="ampacity-industrial-physics")

    def tick(self) -> None:
        self.physics.update()
        for server in self._servers:
            server.refresh()

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a physics bug must not stop the devices from answering
                log.exception("industrial demo: refreshing the simulated devices failed")
            await asyncio.sleep(self.refresh_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self._servers:
            await server.stop()
        self._servers.clear()
        for board in self.boards.values():
            await board.stop()
        with contextlib.suppress(Exception):
            await self.ripple.stop()

    async def __aenter__(self) -> IndustrialSite:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


__all__ = ["MODBUS_DEVICES", "PROFILES", "IndustrialPhysics", "IndustrialSite"]
