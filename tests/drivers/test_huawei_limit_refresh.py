"""Huawei SUN2000: the inverter keeps an active-power limit (the fixed-value derating 40126) only
for its "schedule instruction valid duration" (42019, here 60 s) and then goes back to full power.
The driver built from the shipped profile re-sends the limit through the runtime's setpoint
memory before that happens; without the refresh the simulated inverter's limit lapses.

Time runs on a fast clock shared by the driver and the simulator (100 device seconds per real
second), so five device minutes take three real seconds and nothing waits for the device's
timers.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from ampacity.assets import Reading
from ampacity.drivers.modbus import LinkRegistry, ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from ampacity.drivers.registry import all_profiles
from ampacity.sim.pv_inverter import RampedPvInverter
from ampacity.sim.server import SimServer, SimulatedDevice

SPEED = 100.0
"""Device seconds per real second."""
VALID_S = 60.0
"""The inverter's schedule instruction valid duration (42019), s."""


class FastClock:
    """Monotonic time, wall time and sleeping, all ``SPEED`` times faster than real time."""

    def __init__(self) -> None:
        self._real0 = time.monotonic()
        self._start = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return (time.monotonic() - self._real0) * SPEED

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / SPEED)


class Sink:
    """Remembers which points have been published."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def publish(self, readings: list[Reading]) -> None:
        self.keys.update(r.node_key for r in readings)


def without_refresh(profile: Profile) -> Profile:
    """The shipped profile with the limit written once, never re-sent."""
    data = profile.model_dump()
    data["assets"][0]["points"]["ActivePowerLimit"]["write"]["refresh_s"] = None
    return Profile.model_validate(data)


async def limit_after(profile: Profile, device_seconds: float) -> RampedPvInverter:
    """Write a 3 kW limit, let ``device_seconds`` pass; returns the simulated inverter."""
    clock = FastClock()
    pv = RampedPvInverter(
        10000.0, 9000.0, ramp_w_per_s=float("inf"), clock=clock.monotonic, limit_valid_s=VALID_S
    )
    server = SimServer([SimulatedDevice(profile, pv)])  # type: ignore[arg-type]
    host, port = await server.start_tcp()
    config = ModbusDeviceConfig("huawei", tcp=TcpEndpoint(host, port), timeout_s=1.0)
    registry = LinkRegistry(clock=clock)  # the link's connect delay and request gap: fast too
    driver = ModbusDriver(profile, config, registry=registry, clock=clock)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        for _ in range(500):  # connected and read once (1 s wait after connect, device time)
            if "huawei.NominalPower" in sink.keys:
                break
            await asyncio.sleep(0.01)
        await driver.write("huawei", "ActivePowerLimit", 3000.0)
        assert pv.limit_w == 3000.0
        start = clock.monotonic()
        while clock.monotonic() - start < device_seconds:
            pv.step()
            await asyncio.sleep(0.02)
        pv.step()
        return pv
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await registry.aclose()
        await server.stop()


async def test_the_refresh_keeps_the_limit_for_five_minutes() -> None:
    profile = all_profiles()["huawei_sun2000"]
    refresh_s = profile.assets[0].points["ActivePowerLimit"].write.refresh_s  # type: ignore[union-attr]
    assert refresh_s is not None and refresh_s < VALID_S
    pv = await limit_after(profile, 300.0)
    assert pv.lapses == 0
    assert pv.limit_w == 3000.0
    assert pv.power_w == pytest.approx(3000.0)
    # one write, then a re-send every refresh_s of the 300 s (the last one may be due just now)
    assert pv.limit_writes >= 1 + int(300.0 / refresh_s) - 1


async def test_without_the_refresh_the_limit_lapses_after_the_valid_duration() -> None:
    pv = await limit_after(without_refresh(all_profiles()["huawei_sun2000"]), 2 * VALID_S)
    assert pv.limit_writes == 1
    assert pv.lapses == 1
    assert pv.limit_w == 10000.0  # back to full power
    assert pv.power_w == pytest.approx(9000.0)
