"""Self-consumption with the storage drivers, end to end: a site with a grid meter and one
storage system, each a simulator on loopback - RCT over its TCP protocol; Sungrow SH, GoodWe ET
and SMA STP SE over Modbus through the hybrid driver; Victron GX, KOSTAL PLENTICORE and SMA Sunny
Island through their Modbus profiles, served by the profile-derived simulator. The control's
battery controller writes BatteryPowerSetpoint through the driver into the device's own
mechanism (the simulators record it); the battery charges from the PV surplus and covers the
load at night, and the grid meter shows the grid evened out."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ampacity.assets import PointValue
from ampacity.drivers.registry import all_profiles
from ampacity.server.app import start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import SecurityConfig
from ampacity.sim.battery import BatterySim
from ampacity.sim.hybrid import HybridSimulator
from ampacity.sim.rct import RctSimulator
from ampacity.sim.registers import StaticModel
from ampacity.sim.server import SimServer, SimulatedDevice


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BatteryModel:
    """A battery behind a Modbus profile (a ``DeviceModel`` for the profile-derived simulator):
    follows BatteryPowerSetpoint with a fast ramp, else evens out the grid itself."""

    def __init__(self) -> None:
        self.battery = BatterySim(soc=50.0, setpoint_timeout_s=math.inf, control_lag_s=0.0)
        self.pv_w = 0.0
        self.load_w = 0.0
        self.setpoint: float | None = None
        self._last = time.monotonic()

    def step(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        target = self.load_w - self.pv_w if self.setpoint is None else self.setpoint
        self.battery.set_setpoint(target)
        self.battery.step(dt)

    def read(self, asset: str, point: str) -> PointValue:
        self.step()
        b = self.battery
        if asset == "grid":
            return {"ActivePower": self.load_w - self.pv_w - b.power_w, "Role": 0}.get(point)
        if asset == "pv":
            return self.pv_w if point in ("ActivePower", "DcPower") else None
        return {
            "ActivePower": b.power_w,
            "StateOfCharge": round(b.soc),
            "BatteryPowerSetpoint": self.setpoint,
            "MaxChargePower": b.max_charge_w,
            "MaxDischargePower": b.max_discharge_w,
            "EnergyCharged": round(b.energy_charged_wh),
            "EnergyDischarged": round(b.energy_discharged_wh),
        }.get(point, 0.0 if point.startswith(("Voltage", "Frequency", "ActivePowerL")) else None)

    def write(self, asset: str, point: str, value: PointValue) -> None:
        self.step()
        if point == "BatteryPowerSetpoint" and isinstance(value, int | float):
            self.setpoint = float(value)


@dataclass
class Storage:
    """The storage simulator and what the test needs to know about it."""

    profile: str
    sim: Any
    device_setpoint: Callable[[], float | None]
    """The setpoint the device holds from the EMS (W, + = discharge), ``None`` = own control."""
    battery_id: str = "storage-battery"
    stop: Callable[[], Any] | None = None

    def battery_w(self) -> float:
        return float(self.sim.battery.power_w)

    def set_house(self, pv_w: float, load_w: float) -> None:
        self.sim.pv_w, self.sim.load_w = pv_w, load_w


async def rct() -> Storage:
    sim = RctSimulator(soc=50.0, ramp_w_per_s=20000.0)
    await sim.start()

    def held() -> float | None:
        if not sim.external:
            return None
        return float(sim.settings["power_mng.battery_power_extern"])

    return Storage("rct_power_storage_dc", sim, held)


def modbus(profile: str, battery_id: str) -> Callable[[], Any]:
    async def make() -> Storage:
        model = BatteryModel()
        device = SimulatedDevice(all_profiles()[profile], model)  # type: ignore[arg-type]
        server = SimServer([device], refresh_s=0.05)
        _, port = await server.start_tcp()
        model.port = port  # type: ignore[attr-defined]
        return Storage(profile, model, lambda: model.setpoint, battery_id, server.stop)

    return make


def hybrid(family: str, profile: str) -> Callable[[], Any]:
    async def make() -> Storage:
        sim = HybridSimulator(family, soc=50.0, ramp_w_per_s=20000.0)
        await sim.start()
        return Storage(profile, sim, sim.target_w)

    return make


STORAGES = {
    "rct": rct,
    "sungrow_sh": hybrid("sungrow_sh", "sungrow_sh"),
    "goodwe_et": hybrid("goodwe_et", "goodwe_et"),
    "sma_stp_se": hybrid("sma_stp_se", "sma_sunny_tripower_smart_energy"),
    "victron_gx": modbus("victron_gx", "storage-battery"),
    "kostal_plenticore_battery": modbus("kostal_plenticore_battery", "storage"),
    "sma_sunny_island": modbus("sma_sunny_island", "storage"),
}


@pytest.fixture(params=list(STORAGES))
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    storage: Storage = await STORAGES[request.param]()
    storage.set_house(pv_w=3000.0, load_w=800.0)
    grid = StaticModel({("grid", "ActivePower"): 0.0})
    meter = SimulatedDevice(all_profiles()["siemens_sentron_pac2200"], grid)  # type: ignore[arg-type]
    grid_server = SimServer([meter], refresh_s=0.05)
    _, grid_port = await grid_server.start_tcp()
    config = SiteConfig.model_validate(
        {
            "server": {"port": free_port(), "data_dir": str(tmp_path)},
            "security": SecurityConfig.demo().model_dump(),
            "devices": [
                {
                    "id": "meter",
                    "profile": "siemens_sentron_pac2200",
                    "host": "127.0.0.1",
                    "port": grid_port,
                    "role": "grid",
                    "assets": {"grid": "grid"},
                    "poll_s": 0.2,
                },
                {
                    "id": "storage",
                    "profile": storage.profile,
                    "host": "127.0.0.1",
                    "port": storage.sim.port,
                    "poll_s": 0.2,
                },
            ],
            "control": {
                "cycle_s": 0.25,
                "grid_meter": "grid",
                "batteries": [
                    {
                        "id": storage.battery_id,
                        "reserve_soc_pct": 10,
                        "max_charge_w": 5000,
                        "max_discharge_w": 5000,
                    }
                ],
                "pv": [],
                "charge_points": [],
            },
        }
    )
    context = build_context(config)
    running = await start_site(config, await build_drivers(config, context))

    async def physics() -> None:  # the grid meter sees the house, the PV and the battery
        while True:
            sim = storage.sim
            grid.values[("grid", "ActivePower")] = sim.load_w - sim.pv_w - storage.battery_w()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(physics())
    try:
        yield storage, grid, running
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await running.stop()
        await context.aclose()
        await grid_server.stop()
        await (storage.stop() if storage.stop else storage.sim.stop())


async def until(check: Callable[[], bool], within_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


async def test_the_battery_evens_out_the_grid_through_its_own_mechanism(site: Any) -> None:
    storage, grid, _ = site

    def held() -> float:
        value = storage.device_setpoint()
        return float("nan") if value is None else value

    def grid_w() -> float:
        return float(grid.values[("grid", "ActivePower")])

    # daytime: 2200 W surplus, the control charges the battery with it
    await until(lambda: -2600.0 < held() < -1800.0)
    await until(lambda: abs(grid_w()) < 400.0)
    # night: 1500 W load, the battery covers it
    storage.set_house(pv_w=0.0, load_w=1500.0)
    await until(lambda: 1100.0 < held() < 1900.0)
    await until(lambda: abs(grid_w()) < 400.0)


@pytest.mark.parametrize("site", ["rct"], indirect=True)
async def test_a_battery_that_refuses_shows_it_in_the_write_status(site: Any) -> None:
    storage, _, running = site
    status = running.server.get_node(
        running.node_id("site.Control.Setpoints.storage-battery.BatteryPowerSetpoint.WriteStatus")
    )

    async def status_text() -> str:
        return str(await status.read_value())

    await until(lambda: storage.device_setpoint() is not None)  # the control drives it
    storage.sim.settings["battery.bat_status"] = 1032  # the battery is calibrating: not ready
    storage.set_house(pv_w=0.0, load_w=2000.0)  # a new demand: the control writes again
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while "not ready" not in (text := await status_text()):
        assert loop.time() < deadline, text
        await asyncio.sleep(0.1)
    assert text.startswith("WriteError: ") and "bat_status = 1032" in text
    storage.sim.settings["battery.bat_status"] = 0
    while await status_text() != "Good":
        assert loop.time() < deadline + 20.0
        await asyncio.sleep(0.1)
