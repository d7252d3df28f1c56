"""Surplus charging and § 14a dimming end to end with the new chargers: a site (OPC UA server,
drivers, control) whose grid meter and charger are simulators speaking their real protocols on
loopback - KEBA P30 over UDP, Hardy Barth eCB1 over HTTP, Mennekes AMTRON (HCC3), Webasto Live /
AMTRON Professional (Bender), an Alpitronic DC connector, and the chargers that pause through their
own enable register or coil (KEBA P30 Modbus, hesotec, wallbe) over Modbus TCP.

The house exports 9 kW (PV 9.5 kW, load 0.5 kW); the grid meter follows what the charger draws.
Each charger must start charging from the surplus, be capped by § 14a dimming to 4.2 kW (AC:
4200 W / (230 V x 3) = 6.09 A; DC: 4200 W), and pause when the surplus goes away.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ampacity.control.dimming import DimmedConsumer, DimmingConfig, dimming_demands
from ampacity.drivers.registry import all_profiles
from ampacity.server.app import start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import SecurityConfig
from ampacity.sim.hardybarth import EcbSimulator
from ampacity.sim.keba import KebaSimulator, KebaStation
from ampacity.sim.registers import StaticModel
from ampacity.sim.server import SimServer, SimulatedDevice

PV_W = 9500.0
LOAD_W = 500.0
AC_W_PER_A = 230.0 * 3


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Charger:
    """One charger under test: its device entry, its control entry, and what the simulator
    shows (the limit in force in the setpoint's unit, the power drawn)."""

    device: dict[str, Any]
    asset: str
    dc: bool
    limit: Callable[[], float]
    power_w: Callable[[], float]
    stop: Callable[[], Any]
    extra: list[Any] = field(default_factory=list)


async def keba() -> Charger:
    station = KebaStation(plugged=True, curr_user_ma=32000)
    bind = free_port(socket.SOCK_DGRAM)
    sim = KebaSimulator(station, reply_port=bind)
    await sim.start()
    device = {
        "id": "keba",
        "profile": "keba_p30",
        "host": "127.0.0.1",
        "port": sim.port,
        "bind": f"127.0.0.1:{bind}",
        "poll_s": 0.3,
    }
    return Charger(
        device,
        "keba",
        False,
        lambda: station.max_curr_ma() / 1000.0,
        lambda: station.power_mw() / 1000.0,
        sim.stop,
    )


async def hardybarth() -> Charger:
    sim = EcbSimulator()
    sim.plugged = True
    sim.car_max_a = 32.0
    await sim.start()
    device = {"id": "hb", "profile": "hardybarth_cph1", "url": sim.url, "poll_s": 0.3}
    return Charger(
        device,
        "hb",
        False,
        lambda: sim.amps if sim.started else 0.0,
        sim.power_w,
        sim.stop,
    )


async def modbus_charger(profile_id: str, asset_key: str, dc: bool) -> Charger:
    profile = all_profiles()[profile_id]
    model = StaticModel({(asset_key, "VehicleConnected"): True, (asset_key, "Charging"): False})
    setpoint = "ChargePowerLimit" if dc else "ChargeCurrentLimit"
    model.values[(asset_key, setpoint)] = 0.0
    device = SimulatedDevice(profile, model)  # type: ignore[arg-type]
    server = SimServer([device], refresh_s=0.1)
    _, port = await server.start_tcp()
    device_id = "dev"

    def limit() -> float:
        return float(model.values.get((asset_key, setpoint)) or 0.0)

    def power() -> float:
        value = limit()
        if dc:
            return value if value >= 5000 else 0.0
        return value * AC_W_PER_A if value >= 6 else 0.0

    def physics() -> None:  # the car draws what the limit allows
        model.values[(asset_key, "ActivePower")] = power()
        model.values[(asset_key, "Charging")] = power() > 0

    multi = len(profile.asset_kinds()) > 1
    asset = f"{device_id}-{asset_key}" if multi else device_id
    entry = {"id": device_id, "profile": profile_id, "host": "127.0.0.1", "port": port}
    entry["poll_s"] = 0.3
    charger = Charger(entry, asset, dc, limit, power, server.stop)
    charger.extra = [physics]
    return charger


CHARGERS = {
    "keba_p30 (UDP)": keba,
    "hardybarth_cph1 (HTTP)": hardybarth,
    "mennekes_amtron_hcc3": lambda: modbus_charger("mennekes_amtron_hcc3", "chargepoint", False),
    "bender_cc613 (Webasto Live, AMTRON Professional)": lambda: modbus_charger(
        "bender_cc613", "chargepoint", False
    ),
    "alpitronic_hypercharger (DC)": lambda: modbus_charger(
        "alpitronic_hypercharger", "connector1", True
    ),
    "wallbe_phoenix (enable coil)": lambda: modbus_charger("wallbe_phoenix", "chargepoint", False),
    "keba_p30_modbus (enable register)": lambda: modbus_charger(
        "keba_p30_modbus", "chargepoint", False
    ),
    "hesotec_esat (pause register)": lambda: modbus_charger("hesotec_esat", "chargepoint", False),
}


@dataclass
class Site:
    charger: Charger
    grid: StaticModel
    grid_server: SimServer
    pv_w: float = PV_W


@pytest.fixture(params=list(CHARGERS), ids=list(CHARGERS))
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    charger = await CHARGERS[request.param]()
    grid = StaticModel({("grid", "ActivePower"): LOAD_W - PV_W})
    grid_device = SimulatedDevice(all_profiles()["siemens_sentron_pac2200"], grid)  # type: ignore[arg-type]
    grid_server = SimServer([grid_device], refresh_s=0.05)
    _, grid_port = await grid_server.start_tcp()
    state = Site(charger, grid, grid_server)
    cp: dict[str, Any] = {
        "id": charger.asset,
        "mode": 3,  # Surplus
        "start_delay_s": 0,
        "stop_delay_s": 0,
        "plug_in_check_s": 0,
        "stop_margin_w": 0,
    }
    if charger.dc:
        cp |= {"dc": True, "min_power_w": 5000, "max_power_w": 50000}
    else:
        cp |= {"min_current_a": 6, "max_current_a": 32}
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
                charger.device,
            ],
            "control": {
                "cycle_s": 0.25,
                "grid_meter": "grid",
                "batteries": [],
                "pv": [],
                "charge_points": [cp],
            },
        }
    )
    context = build_context(config)
    running = await start_site(config, await build_drivers(config, context))

    async def physics() -> None:
        while True:
            for step in charger.extra:
                step()
            grid.values[("grid", "ActivePower")] = LOAD_W - state.pv_w + charger.power_w()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(physics())
    try:
        yield state, running
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await running.stop()
        await context.aclose()
        await grid_server.stop()
        await charger.stop()


async def until(check: Callable[[], bool], within_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


async def test_surplus_charging_dimming_and_pause(site: Any) -> None:
    state, running = site
    charger: Charger = state.charger
    # 1. the surplus (9 kW) starts charging
    if charger.dc:
        await until(lambda: charger.limit() >= 5000)
    else:
        await until(lambda: charger.limit() >= 6)
        await until(lambda: charger.power_w() > 3 * AC_W_PER_A)  # more than 3 A: from surplus
    # 2. § 14a dimming caps it at the guaranteed minimum of 4.2 kW
    kind = "dc_charge_point" if charger.dc else "charge_point"
    dimming = DimmingConfig(consumers=(DimmedConsumer(id=charger.asset, kind=kind),))
    assert running.control is not None
    for demand in dimming_demands(dimming, "test"):
        running.control.put(demand)
    running.control.trigger()
    if charger.dc:
        await until(lambda: 0 < charger.limit() <= 4200.0 or charger.limit() == 1547.0)
    else:
        # 4200 W / 690 W/A = 6.087 A, written at the device's resolution (0.1 A: 6.1 A, 4209 W)
        await until(lambda: 0 < charger.limit() <= 4200.0 / AC_W_PER_A + 0.05)
    await until(lambda: charger.power_w() <= 4200.0 + 0.05 * AC_W_PER_A)
    running.control.withdraw("grid-operator-14a")
    # 3. no surplus any more: the charger pauses instead of drawing from the grid
    state.pv_w = 0.0
    if charger.dc:
        await until(lambda: charger.limit() == 1547.0)  # 0 W would end the session
    else:
        await until(lambda: charger.limit() == 0.0)
    await until(lambda: charger.power_w() == 0.0)
