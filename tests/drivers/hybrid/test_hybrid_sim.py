"""The hybrid driver against its simulators on loopback: each family's battery follows the
setpoint through the device's own mechanism with the simulated ramp, the values come back with
the model's signs, the battery stops at its SoC limit, and closing the driver hands the battery
back to the device's self-consumption control."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from ampacity.assets import Quality, Reading, WriteError
from ampacity.drivers.base import Driver
from ampacity.drivers.hybrid.driver import PROFILES, HybridProfile, create
from ampacity.drivers.modbus.plugin import ModbusConnection
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from ampacity.sim.hybrid import HybridSimulator

FAMILY_PROFILES = {
    "sungrow_sh": "sungrow_sh",
    "goodwe_et": "goodwe_et",
    "sma_stp_se": "sma_sunny_tripower_smart_energy",
}


class Sink:
    """Keeps the newest reading per node key; wakes waiters on every publication."""

    def __init__(self) -> None:
        self.latest: dict[str, Reading] = {}
        self._new = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.latest[reading.node_key] = reading
        self._new.set()

    async def until(self, key: str, check, within: float = 5.0) -> Reading:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(within):
            while True:
                reading = self.latest.get(key)
                if reading is not None and reading.quality is Quality.GOOD and check(reading.value):
                    return reading
                self._new.clear()
                await self._new.wait()

    async def until_quality(self, key: str, quality: Quality, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while (reading := self.latest.get(key)) is None or reading.quality is not quality:
                self._new.clear()
                await self._new.wait()


@contextlib.asynccontextmanager
async def running(
    family: str, **sim_args: float
) -> AsyncIterator[tuple[HybridSimulator, Driver, Sink]]:
    sim = HybridSimulator(family, **sim_args)
    await sim.start()
    profile = load_profile_file(Path(PROFILES) / f"{FAMILY_PROFILES[family]}.yaml")
    assert isinstance(profile, HybridProfile)
    context = BuildContext()
    entry = DeviceEntry(
        "h",
        profile,
        ModbusConnection(host="127.0.0.1", port=sim.port),
        {key: f"h-{key}" for key, _ in profile.asset_kinds()},
        poll_s=0.1,
    )
    driver = await create(entry, context)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        yield sim, driver, sink
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await context.aclose()
        await sim.stop()


@pytest.mark.parametrize("family", list(FAMILY_PROFILES))
async def test_the_battery_follows_the_setpoint_and_is_handed_back(family: str) -> None:
    async with running(family, pv_w=3000.0, load_w=800.0, soc=60.0, ramp_w_per_s=20000.0) as (
        sim,
        driver,
        sink,
    ):
        # on its own the device charges from the surplus (self-consumption): - = charge
        await sink.until("h-battery.ActivePower", lambda v: v == pytest.approx(-2200, abs=60))
        await sink.until("h-pv.ActivePower", lambda v: v == 3000)
        await sink.until("h-battery.StateOfCharge", lambda v: 59 <= v <= 61)
        await driver.write("h-battery", "BatteryPowerSetpoint", 1500.0)
        assert sim.target_w() == 1500.0
        await sink.until("h-battery.BatteryPowerSetpoint", lambda v: v == 1500.0)
        await sink.until("h-battery.ActivePower", lambda v: v == pytest.approx(1500, abs=60))
        await driver.write("h-battery", "BatteryPowerSetpoint", -2500.0)
        assert sim.target_w() == -2500.0
        await sink.until("h-battery.ActivePower", lambda v: v == pytest.approx(-2500, abs=60))
        await driver.write("h-battery", "BatteryPowerSetpoint", 0.0)
        await sink.until("h-battery.ActivePower", lambda v: v == pytest.approx(0, abs=60))
    assert sim.target_w() is None  # closed: back to the device's own control


def test_the_simulated_battery_ramps_and_stops_at_its_soc_limit() -> None:
    now = [100.0]
    sim = HybridSimulator(
        "goodwe_et", capacity_wh=1000.0, soc=99.0, ramp_w_per_s=1000.0, clock=lambda: now[0]
    )
    sim.write(47512, [4000])
    sim.write(47511, [11])  # charge battery at 4000 W
    now[0] += 1.0
    sim.step()
    assert sim.battery.power_w == pytest.approx(-1000.0)  # 1000 W/s ramp
    for _ in range(60):
        now[0] += 1.0
        sim.step()
    assert sim.battery.soc == pytest.approx(100.0)
    assert sim.battery.power_w == pytest.approx(0.0, abs=1.0)  # full: no more charge


async def test_a_silent_device_goes_uncertain_with_the_cause_and_comes_back() -> None:
    async with running("sungrow_sh", pv_w=1000.0, load_w=400.0) as (sim, driver, sink):
        await sink.until("h-battery.ActivePower", lambda v: True)
        port = sim.port
        await sim.stop()
        await sink.until_quality("h-battery.ActivePower", Quality.UNCERTAIN_LAST_USABLE)
        error = sink.latest["h-battery.Health.LastError"].value
        assert "127.0.0.1" in str(error)
        with pytest.raises(WriteError):
            await driver.write("h-battery", "BatteryPowerSetpoint", 500.0)
        await sim.start(port=port)
        await sink.until("h-battery.ActivePower", lambda v: True, within=15.0)
