"""PV inverter families on loopback: how long until the first values, how long one poll takes,
and how long a limit write takes to reach the inverter.

Each family runs against its simulator (``sim/solaredge.py``, ``sim/sunspec.py`` for KOSTAL and
Fronius GEN24, the profile-derived register image for Sungrow and Huawei) through the driver the
server would build. Printed per family, medians over ``--runs`` runs: time from start to the
first Good ``ActivePower`` (Huawei includes its 1 s wait after connecting), one poll's duration
(``Health.PollDuration``, median over ``--polls`` polls) and one ``ActivePowerLimit`` write.

    python bench/pv_families.py --runs 5 --polls 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import (
    Backoff,
    LinkRegistry,
    ModbusDeviceConfig,
    ModbusDriver,
    TcpEndpoint,
    TcpLink,
)
from ampacity.drivers.registry import builtin_profiles
from ampacity.drivers.solaredge.driver import SolarEdgeDriver
from ampacity.drivers.sunspec.driver import SunSpecDriver
from ampacity.sim import FakeClock, SimServer, SimulatedDevice, SitePhysics
from ampacity.sim.solaredge import SolarEdgeSimulator
from ampacity.sim.sunspec import ConstantSource, SunSpecSimulator


class Sink:
    """Remembers when ``asset``'s ActivePower was first Good and every poll's duration; ``done``
    is set once both are there for ``polls`` polls."""

    def __init__(self, asset: str, polls: int) -> None:
        self.asset = asset
        self.polls = polls
        self.first_good: float | None = None
        self.poll_ms: list[float] = []
        self.done = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        now = time.perf_counter()
        for r in readings:
            if r.asset_id != self.asset:
                continue
            if r.point == "ActivePower" and r.quality is Quality.GOOD and self.first_good is None:
                self.first_good = now
            if r.point == "Health.PollDuration" and isinstance(r.value, float | int):
                self.poll_ms.append(float(r.value))
        if self.first_good is not None and len(self.poll_ms) >= self.polls:
            self.done.set()


Setup = Callable[[], Awaitable[tuple[Any, str, Callable[[], Awaitable[None]]]]]


def link(port: int) -> TcpLink:
    return TcpLink("127.0.0.1", port, timeout_s=1.0, backoff=Backoff(initial_s=0.05, cap_s=0.2))


async def solaredge() -> tuple[Any, str, Callable[[], Awaitable[None]]]:
    sim = SolarEdgeSimulator(ConstantSource(pv_available_w=6000.0), rated_w=10000.0)
    await sim.start()
    profile = builtin_profiles()["solaredge"]
    tcp = link(sim.port)
    driver = SolarEdgeDriver("se", tcp, profile=profile, poll_s=0.2)  # type: ignore[arg-type]

    async def stop() -> None:
        await tcp.close()
        await sim.stop()

    return driver, "se-inverter", stop


def sunspec(profile_id: str, units: dict[int, list[int]]) -> Setup:
    async def make() -> tuple[Any, str, Callable[[], Awaitable[None]]]:
        sim = SunSpecSimulator(units, ConstantSource(pv_available_w=6000.0), rated_w=8000.0)
        await sim.start()
        profile = builtin_profiles()[profile_id]
        tcp = link(sim.port)
        driver = SunSpecDriver("pv", tcp, profile=profile, poll_s=0.2)  # type: ignore[arg-type]

        async def stop() -> None:
            await tcp.close()
            await sim.stop()

        return driver, "pv-inverter", stop

    return make


def register_map(profile_id: str) -> Setup:
    async def make() -> tuple[Any, str, Callable[[], Awaitable[None]]]:
        physics = SitePhysics(FakeClock(datetime(2026, 6, 21, 10, 0, tzinfo=UTC)))
        physics.update()
        profile = builtin_profiles()[profile_id]
        device = SimulatedDevice(profile, physics.models()["sma_sunny_tripower"])  # type: ignore[arg-type]
        server = SimServer([device])
        host, port = await server.start_tcp()
        config = ModbusDeviceConfig(profile_id, tcp=TcpEndpoint(host, port), poll_s=0.2)
        registry = LinkRegistry()
        driver = ModbusDriver.from_profile_id(profile_id, config, registry=registry)

        async def stop() -> None:
            await registry.aclose()
            await server.stop()

        return driver, profile_id, stop

    return make


FAMILIES: dict[str, Setup] = {
    "solaredge": solaredge,
    "kostal_plenticore": sunspec("kostal_plenticore", {71: [1, 103, 120, 123, 160]}),
    "fronius_gen24": sunspec("fronius_gen24", {1: [1, 103, 120, 121, 123, 160], 200: [1, 203]}),
    "sungrow_sg": register_map("sungrow_sg"),
    "huawei_sun2000": register_map("huawei_sun2000"),
}


async def one_run(setup: Setup, polls: int) -> tuple[float, float, float]:
    started = time.perf_counter()
    driver, asset, stop = await setup()
    sink = Sink(asset, polls)
    if isinstance(driver, SunSpecDriver):
        await driver.discover(timeout_s=10)
    task = asyncio.create_task(driver.run(sink))
    try:
        await asyncio.wait_for(sink.done.wait(), timeout=60)
        assert sink.first_good is not None
        first = sink.first_good - started
        t0 = time.perf_counter()
        await driver.write(asset, "ActivePowerLimit", 3000.0)
        write_ms = (time.perf_counter() - t0) * 1000
        return first, statistics.median(sink.poll_ms[-polls:]), write_ms
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if hasattr(driver, "close"):
            await driver.close()
        await stop()


async def main(runs: int, polls: int) -> None:
    print(f"{'family':<20}{'first value s':>15}{'poll ms':>10}{'limit write ms':>16}")
    for name, setup in FAMILIES.items():
        results = [await one_run(setup, polls) for _ in range(runs)]
        first, poll, write = (statistics.median(col) for col in zip(*results, strict=True))
        print(f"{name:<20}{first:>15.2f}{poll:>10.1f}{write:>16.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.polls))
