"""The active-power limit of each new PV family takes effect on its simulator: the driver built
from the shipped profile writes ``ActivePowerLimit``, the simulated inverter caps its AC output,
and the driver reads the capped power back. SolarEdge also falls back when the limit is not
refreshed within its command timeout (on a fake clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import Backoff, ModbusDeviceConfig, ModbusDriver, TcpEndpoint, TcpLink
from ampacity.drivers.registry import builtin_profiles
from ampacity.drivers.solaredge.driver import SolarEdgeDriver
from ampacity.drivers.sunspec.driver import SunSpecDriver
from ampacity.sim import FakeClock, SimServer, SimulatedDevice, SitePhysics
from ampacity.sim.solaredge import SolarEdgeSimulator
from ampacity.sim.sunspec import ConstantSource, SunSpecSimulator

AVAILABLE_W = 6000.0


class Sink:
    """Keeps the newest reading per ``asset.point``."""

    def __init__(self) -> None:
        self.latest: dict[str, Reading] = {}

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.latest[reading.node_key] = reading

    async def wait_good(self, keys: list[str]) -> None:
        for _ in range(500):
            if all(
                (r := self.latest.get(k)) is not None and r.quality is Quality.GOOD for k in keys
            ):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"not Good: {[self.latest.get(k) for k in keys]}")


class Monotonic:
    """A monotonic clock for the simulators that moves only when told to."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def link_to(port: int) -> TcpLink:
    return TcpLink("127.0.0.1", port, timeout_s=0.5, backoff=Backoff(initial_s=0.05, cap_s=0.2))


async def read_power(driver: SunSpecDriver, asset: str) -> float:
    sink = Sink()
    assert await driver._poll(sink)  # one poll, as the run loop does
    reading = sink.latest[f"{asset}.ActivePower"]
    assert isinstance(reading.value, float | int)
    return float(reading.value)


async def test_solaredge_dynamic_limit_caps_the_output_and_falls_back_after_the_timeout() -> None:
    clock = Monotonic()
    sim = SolarEdgeSimulator(
        ConstantSource(pv_available_w=AVAILABLE_W, load_w=500.0), rated_w=10000.0, clock=clock
    )
    await sim.start()
    profile = builtin_profiles()["solaredge"]
    driver = SolarEdgeDriver("se", link_to(sim.port), profile=profile, request_timeout_s=0.5)  # type: ignore[arg-type]
    try:
        assets = await driver.discover(timeout_s=5)
        inverter = next(a for a in assets if a.asset_id == "se-inverter")
        assert inverter.ranges["ActivePowerLimit"] == (0.0, 10000.0)
        assert await read_power(driver, "se-inverter") == pytest.approx(AVAILABLE_W)
        await driver.write("se-inverter", "ActivePowerLimit", 2500.0)
        assert sim.inverter_power_w == pytest.approx(2500.0)
        assert await read_power(driver, "se-inverter") == pytest.approx(2500.0)
        clock.t += 61  # no refresh within the 60 s command timeout: fallback 100 %
        sim.refresh()
        assert sim.inverter_power_w == pytest.approx(AVAILABLE_W)
        await driver.write("se-inverter", "ActivePowerLimit", 2500.0)  # a refresh restores it
        assert sim.inverter_power_w == pytest.approx(2500.0)
    finally:
        await driver.close()
        await sim.stop()


async def test_solaredge_without_edpc_reads_values_and_refuses_the_limit() -> None:
    sim = SolarEdgeSimulator(ConstantSource(pv_available_w=AVAILABLE_W), edpc=False)
    await sim.start()
    profile = builtin_profiles()["solaredge"]
    driver = SolarEdgeDriver("se", link_to(sim.port), profile=profile, request_timeout_s=0.5)  # type: ignore[arg-type]
    try:
        assets = await driver.discover(timeout_s=5)
        inverter = next(a for a in assets if a.asset_id == "se-inverter")
        assert "ActivePowerLimit" not in inverter.points
        assert await read_power(driver, "se-inverter") == pytest.approx(AVAILABLE_W)
    finally:
        await driver.close()
        await sim.stop()


@pytest.mark.parametrize(
    ("profile_id", "units", "unit"),
    [
        ("kostal_plenticore", {71: [1, 103, 120, 123, 160]}, 71),
        ("fronius_gen24", {1: [1, 103, 120, 121, 123, 160], 200: [1, 203]}, 1),
    ],
)
async def test_sunspec_families_apply_the_model_123_limit(
    profile_id: str, units: dict[int, list[int]], unit: int
) -> None:
    sim = SunSpecSimulator(units, ConstantSource(pv_available_w=AVAILABLE_W), rated_w=8000.0)
    await sim.start()
    profile = builtin_profiles()[profile_id]
    driver = SunSpecDriver("pv", link_to(sim.port), profile=profile, request_timeout_s=0.5)  # type: ignore[arg-type]
    try:
        await driver.discover(timeout_s=5)
        result = await driver.write("pv-inverter", "ActivePowerLimit", 3000.0)
        assert result.read_back == pytest.approx(3000.0)
        assert sim.inverter_power_w == pytest.approx(3000.0)
        assert await read_power(driver, "pv-inverter") == pytest.approx(3000.0)
    finally:
        await driver.close()
        await sim.stop()


@pytest.mark.parametrize("profile_id", ["sungrow_sg", "huawei_sun2000"])
async def test_register_map_families_apply_the_limit(profile_id: str) -> None:
    clock = FakeClock(datetime(2026, 6, 21, 10, 0, tzinfo=UTC))  # noon local: sun up
    physics = SitePhysics(clock)
    physics.update()
    available = physics.pv_w
    assert available > 3000.0
    profile = builtin_profiles()[profile_id]
    device = SimulatedDevice(profile, physics.models()["sma_sunny_tripower"])  # type: ignore[arg-type]
    server = SimServer([device])
    host, port = await server.start_tcp()
    config = ModbusDeviceConfig(profile_id, tcp=TcpEndpoint(host, port), timeout_s=0.5)
    driver = ModbusDriver.from_profile_id(profile_id, config)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await sink.wait_good([f"{profile_id}.NominalPower", f"{profile_id}.ActivePower"])
        await driver.write(profile_id, "ActivePowerLimit", 3000.0)
        step = physics.config.inverter_nominal_w / 1000  # Sungrow: 0.1 % steps
        assert physics.pv_limit_w == pytest.approx(3000.0, abs=step)
        clock.advance(5)
        physics.update()
        device.refresh()
        assert physics.pv_w == pytest.approx(3000.0, abs=step)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
