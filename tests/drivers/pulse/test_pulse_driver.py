"""The ``pulse`` driver against a simulated I/O module counter over Modbus TCP: energy and power
as the meter's pulses arrive (on a fake clock shared by module and driver), a 16-bit wrap, the
site-file keys, and bad answers (wrong register, silence) as located errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ampacity.assets import Quality, Reading
from ampacity.drivers.profile import Function, Profile
from ampacity.drivers.registry import all_profiles
from ampacity.drivers.runtime import DeviceError
from ampacity.server.config import ConfigError, SiteConfig, load_config
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.pty import VirtualSerialLine
from ampacity.sim.pulse import PulseCounterModule
from ampacity.sim.server import SimServer, SimulatedDevice


class Collector:
    def __init__(self) -> None:
        self.latest: dict[str, Reading] = {}

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.latest[reading.node_key] = reading


class _Steady:
    """A neighbour on the bus whose every value is 230."""

    def read(self, asset: str, point: str) -> float:
        return 230.0

    def write(self, asset: str, point: str, value: object) -> None:
        return None


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t


@pytest_asyncio.fixture
async def module() -> AsyncIterator[tuple[PulseCounterModule, SimServer, FakeClock]]:
    clock = FakeClock()
    counter = PulseCounterModule(pulses_per_kwh=1000, bits=16, address=8, clock=clock.monotonic)
    server = SimServer([counter])  # type: ignore[list-item]
    await server.start_tcp()
    try:
        yield counter, server, clock
    finally:
        await server.stop()


async def driver_for(server: SimServer, clock: FakeClock, **keys: Any):  # type: ignore[no-untyped-def]
    entry = {
        "id": "hp-meter",
        "profile": "pulse_meter",
        "host": "127.0.0.1",
        "port": server.port,
        "counter_address": 8,
        "counter_type": "u16",
        "pulses_per_kwh": 1000,
        **keys,
    }
    config = SiteConfig.model_validate({"devices": [entry]})
    context = build_context(config)
    [driver] = await build_drivers(config, context)
    driver.link.clock = clock
    return driver, context


def values(readings: list[Reading]) -> dict[str, Any]:
    return {r.node_key.split(".", 1)[1]: r.value for r in readings if r.quality is Quality.GOOD}


async def test_energy_and_power_follow_the_pulses(module) -> None:  # type: ignore[no-untyped-def]
    counter, server, clock = module
    counter.count = 65_530  # near the wrap
    counter.power_w = 3600.0  # 1 pulse (1 Wh) per second
    driver, context = await driver_for(server, clock, offset_wh=500.0)
    try:
        first = values(await driver.read_once())
        assert first["EnergyImported"] == pytest.approx(500.0 + 65_530)
        assert "ActivePower" not in first  # not known before two pulses
        clock.t += 3.0
        values(await driver.read_once())
        clock.t += 10.0  # ten pulses, through the 16-bit wrap
        got = values(await driver.read_once())
        assert got["EnergyImported"] == pytest.approx(500.0 + 65_530 + 13)
        assert got["ActivePower"] == pytest.approx(3600.0)
        counter.power_w = 0.0
        clock.t += 400.0
        assert values(await driver.read_once())["ActivePower"] == 0.0
    finally:
        await driver.link.close()
        await context.aclose()


async def test_a_wrong_register_gives_a_located_error(module, caplog) -> None:  # type: ignore[no-untyped-def]
    _counter, server, clock = module
    caplog.set_level(logging.INFO)
    driver, context = await driver_for(server, clock, counter_address=40)
    try:
        with pytest.raises(DeviceError) as failed:
            await driver.read_once()
        assert "illegal data address" in str(failed.value)
        assert "unit 1" in str(failed.value)
        assert "Traceback" not in caplog.text
    finally:
        await driver.link.close()
        await context.aclose()


async def test_a_silent_module_is_an_error_naming_it(module) -> None:  # type: ignore[no-untyped-def]
    _counter, server, clock = module
    driver, context = await driver_for(server, clock)
    try:
        assert values(await driver.read_once())["EnergyImported"] == pytest.approx(0.0)
        await server.stop()
        with pytest.raises((DeviceError, OSError, TimeoutError)) as failed:
            await driver.read_once()
        assert f"127.0.0.1:{server.port}" in str(failed.value) or isinstance(
            failed.value, TimeoutError
        )
    finally:
        await driver.link.close()
        await context.aclose()


async def test_the_input_table_when_the_module_keeps_counters_there(module) -> None:  # type: ignore[no-untyped-def]
    counter, server, clock = module
    counter.function = Function.INPUT
    counter.count = 42
    driver, context = await driver_for(server, clock, function="input")
    try:
        assert values(await driver.read_once())["EnergyImported"] == pytest.approx(42.0)
    finally:
        await driver.link.close()
        await context.aclose()


def test_the_site_file_must_say_where_the_counter_is_and_its_constant(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "devices:\n"
        "  - id: m\n"
        "    profile: pulse_meter\n"
        "    host: 192.0.2.9\n"
        "    counter_type: u24\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(site)
    text = "\n".join(error.value.errors)
    assert "devices[0].counter_address: Field required" in text
    assert "devices[0].pulses_per_kwh: Field required" in text
    assert "devices[0].counter_type" in text


async def test_a_counter_on_an_rs485_bus_next_to_a_meter() -> None:
    """Modbus RTU through the site's bus: the counter module on unit 5 of a pty line that also
    carries a simulated Janitza meter on unit 2; both read through one shared link."""
    clock = FakeClock()
    janitza = all_profiles()["janitza_umg604"]
    assert isinstance(janitza, Profile)
    meter_sim = SimulatedDevice(janitza, _Steady(), unit_id=2)
    counter = PulseCounterModule(pulses_per_kwh=500, bits=32, unit_id=5, clock=clock.monotonic)
    counter.count = 123_456
    line = VirtualSerialLine()
    line.open()
    server = SimServer([meter_sim, counter])  # type: ignore[list-item]
    await server.start_rtu(line.server_path, parity="N")
    config = SiteConfig.model_validate(
        {
            "buses": [{"id": "rs485", "device": line.client_path, "baudrate": 19200}],
            "devices": [
                {
                    "id": "counter",
                    "profile": "pulse_meter",
                    "bus": "rs485",
                    "unit_id": 5,
                    "counter_address": 0,
                    "pulses_per_kwh": 500,
                },
                {"id": "sub", "profile": "janitza_umg604", "bus": "rs485", "unit_id": 2},
            ],
        }
    )
    context = build_context(config)
    try:
        pulse, meter = await build_drivers(config, context)
        pulse.link.clock = clock
        got = values(await pulse.read_once())
        assert got["EnergyImported"] == pytest.approx(123_456 * 2.0)  # 500 imp/kWh: 2 Wh each
        sink = Collector()
        task = asyncio.create_task(meter.run(sink))
        try:
            for _ in range(200):  # the neighbour on the same link answers too
                if (r := sink.latest.get("sub.VoltageL1")) is not None and r.value == 230.0:
                    break
                await asyncio.sleep(0.02)
            assert sink.latest["sub.VoltageL1"].value == pytest.approx(230.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await context.aclose()
        await server.stop()
        line.close()
