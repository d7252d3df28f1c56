"""The industrial demo (``ampacity run --demo industrial``) seen by a real OPC UA client: every
kind of device is served, peak shaving holds the import limit, the electrolyser and the heat
pumps take a PV surplus, the CHP runs by the heat store, and the grid operator's block puts the
heat pumps into SG-Ready 1 through the relay boards.

The simulators run in real time on loopback; the physics is steered through its knobs (PV,
load, vehicles, heat store), never through the time of day. Powers W (grid + import)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ampacity.server.app import start_site
from ampacity.server.demo_industrial import (
    IMPORT_LIMIT_W,
    IndustrialDemo,
    industrial_control,
    industrial_demo_site,
)
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.industrial import IndustrialPhysics
from asyncua import Client, ua

pytestmark = pytest.mark.asyncio(loop_scope="module")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    def __init__(self, demo: IndustrialDemo, client: Client, ns: int) -> None:
        self.demo = demo
        self.client = client
        self.ns = ns

    @property
    def physics(self) -> IndustrialPhysics:
        return self.demo.site.physics

    async def value(self, key: str) -> Any:
        return await self.client.get_node(ua.NodeId(key, self.ns)).read_value()

    async def good(self, key: str) -> Any:
        data = await self.client.get_node(ua.NodeId(key, self.ns)).read_data_value(
            raise_on_bad_status=False
        )
        assert data.StatusCode.is_good(), (key, data.StatusCode)
        return data.Value.Value


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.2)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    physics = IndustrialPhysics(pv_override_w=0.0, load_override_w=350_000.0, heat_store_c=50.0)
    physics.dc_connected = {"dc1": True, "dc2": True}
    data_dir: Path = tmp_path_factory.mktemp("industrial")
    control = industrial_control(on_delay_s=2.0, min_on_s=5.0)
    async with industrial_demo_site(
        data_dir,
        free_port(),
        physics=physics,
        control=control,
        heat_pump_dwell_s={1: 0, 2: 1, 3: 3, 4: 3},
    ) as demo:
        config = demo.config
        context = build_context(config)
        site = await start_site(config, await build_drivers(config, context))
        try:
            async with Client(config.server.endpoint, timeout=10) as client:
                ns = await client.get_namespace_index(config.site.namespace_uri)
                yield Running(demo, client, ns)
        finally:
            await site.stop()
            await context.aclose()


async def test_every_kind_is_served(running: Running) -> None:
    keys = [
        "grid-meter.ActivePower",
        "pv.ActivePower",
        "battery.StateOfCharge",
        "dc1.ChargePowerLimit",
        "wallbox-socket2.ChargeCurrentLimit",
        "chp.RunState",
        "chp-heat.ReturnTemperature",
        "fuel-cell.ActivePower",
        "electrolyser.HydrogenFlow",
        "hp1.SgReadyState",
        "hp2.SgReadyState",
        "rcr.Contact4",
    ]

    async def all_good() -> bool:
        for key in keys:
            data = await running.client.get_node(ua.NodeId(key, running.ns)).read_data_value(
                raise_on_bad_status=False
            )
            if not data.StatusCode.is_good():
                return False
        return True

    await until(all_good)
    assert await running.value("chp.Identification.DeviceProfile") == "example_chp"
    assert await running.value("hp1.Identification.DeviceProfile") == "sgready_kmtronic_udp"
    assert await running.value("factory.Control.Strategy") == "peak-shaving"


async def test_peak_shaving_holds_the_import_limit_and_the_chp_runs_by_heat(
    running: Running,
) -> None:
    # 350 kW load, two DC vehicles at up to 150 kW each, no sun: far above the 300 kW limit
    async def shaved() -> bool:
        grid = await running.good("grid-meter.ActivePower")
        battery = await running.good("battery.ActivePower")
        return bool(grid <= IMPORT_LIMIT_W + 15_000 and battery > 100_000)

    await until(shaved, timeout_s=40)
    dc = [await running.good(f"dc{n}.ChargePowerLimit") for n in (1, 2)]
    assert sum(dc) < 300_000, dc  # the chargers were reduced where the battery did not suffice
    # the heat store (50 °C) is below the CHP's start temperature (55 °C): heat-led, full power
    assert await running.good("chp.PowerSetpoint") == 50_000
    await until(lambda: _equals(running, "chp.RunState", 2))
    assert await running.good("chp-heat.ThermalPower") > 0
    assert await running.good("fuel-cell.PowerSetpoint") > 0  # the fuel cell covers import


async def test_surplus_goes_to_the_electrolyser_and_the_heat_pumps(running: Running) -> None:
    p = running.physics
    p.dc_connected = {"dc1": False, "dc2": False}
    p.load_override_w, p.pv_override_w = 40_000.0, 380_000.0
    p.battery.soc = 100.0  # full: the surplus goes on down the order

    async def electrolysing() -> bool:
        power = await running.good("electrolyser.ActivePower")
        return bool(power >= 20_000 and await running.good("electrolyser.RunState") == 2)

    await until(electrolysing, timeout_s=40)
    assert await running.good("electrolyser.HydrogenFlow") > 0.3  # kg/h, ≥ 20 kW / 55 kWh/kg
    level = await running.good("electrolyser.HydrogenTankLevel")
    assert 0.0 < level <= 100.0  # %, the store the fuel cell draws from
    assert await running.good("electrolyser.HydrogenPressure") > 0.0  # bar while it runs
    await until(lambda: _at_least(running, "hp1.SgReadyState", 3))
    assert running.demo.site.boards["hp1"].sg_ready_state in (3, 4)


async def test_the_grid_operators_block_reaches_the_relays(running: Running) -> None:
    running.demo.site.ripple.set_contact(4, True)
    try:
        await until(lambda: _equals(running, "hp1.SgReadyState", 1), timeout_s=15)
        await until(lambda: _equals(running, "hp2.SgReadyState", 1), timeout_s=15)
        assert running.demo.site.boards["hp1"].relays[:2] == [True, False]
    finally:
        running.demo.site.ripple.set_contact(4, False)
    await until(lambda: _at_least(running, "hp1.SgReadyState", 2), timeout_s=15)


async def _equals(running: Running, key: str, want: float) -> bool:
    return bool(await running.value(key) == want)


async def _at_least(running: Running, key: str, want: float) -> bool:
    value = await running.value(key)
    return value is not None and value >= want


async def test_a_locked_chp_refuses_a_start_with_a_clear_error(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.physics.chp.locked = True  # maintenance: the unit answers Modbus exception 4
    try:
        node = running.client.get_node(ua.NodeId("chp.PowerSetpoint", running.ns))
        with pytest.raises(ua.UaStatusCodeError) as refused:
            await node.write_value(ua.DataValue(ua.Variant(30_000.0, ua.VariantType.Double)))
        assert refused.value.code == ua.StatusCodes.BadCommunicationError
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "write chp.PowerSetpoint failed" in line and "Modbus exception 4" in line
            for line in lines
        ), lines
        await until(lambda: _equals(running, "chp.RunState", 4))  # Fault: asked to run, locked
        assert await running.good("chp.ActivePower") < 50_000
    finally:
        running.physics.chp.locked = False
