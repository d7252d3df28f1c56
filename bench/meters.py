"""Meters: how long one complete read of a meter takes on loopback, and the pulse arithmetic.

For each Modbus meter profile, a simulated meter (the profile-derived simulator) on a loopback
Modbus TCP port is read completely once per run with the generic engine (every point, coalesced
requests); for the eCB1 the simulator's HTTP API is read; the pulse counter's ``update`` is timed
on its own. Medians of ``--runs`` runs; the machine's other load shows in the figures.

    python bench/meters.py --runs 21
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import LinkRegistry, ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from ampacity.drivers.pulse.counter import PulseCounter
from ampacity.drivers.registry import builtin_profiles
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim import SimServer, SimulatedDevice
from ampacity.sim.ecb1 import Ecb1Simulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sim"))
from simkit import sample_model

METERS = (
    "eastron_sdm630",
    "eastron_sdm220",
    "eastron_sdm72d",
    "carlo_gavazzi_em300",
    "carlo_gavazzi_em100",
    "janitza_umg604",
    "siemens_sentron_pac2200",
    "tq_energy_manager",
    "pqplus_mmb700",
    "socomec_diris_a40",
)


class _Sink:
    """Sets ``complete`` once every wanted point was read Good."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.good: set[str] = set()
        self.complete = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        for r in readings:
            if r.quality is Quality.GOOD:
                self.good.add(r.node_key)
        if self.wanted <= self.good:
            self.complete.set()


async def modbus_read_ms(profile: Profile, runs: int) -> tuple[float, int]:
    """Median ms until every point of the meter was read Good once, and the point count."""
    device = SimulatedDevice(profile, sample_model(profile))
    server = SimServer([device])
    host, port = await server.start_tcp()
    times: list[float] = []
    points = 0
    try:
        for _ in range(runs):
            registry = LinkRegistry()
            driver = ModbusDriver(
                profile, ModbusDeviceConfig("m", tcp=TcpEndpoint(host, port)), registry=registry
            )
            wanted = {f"{a.asset_id}.{p}" for a in driver.assets for p in a.points}
            points = len(wanted)
            sink = _Sink(wanted)
            started = time.perf_counter()
            task = asyncio.create_task(driver.run(sink))
            await asyncio.wait_for(sink.complete.wait(), 10)
            times.append((time.perf_counter() - started) * 1000)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await registry.aclose()
    finally:
        await server.stop()
    return statistics.median(times), points


async def ecb1_read_ms(runs: int) -> float:
    sim = Ecb1Simulator(power_w=1500.0)
    await sim.start()
    config = SiteConfig.model_validate(
        {"devices": [{"id": "e", "profile": "hardybarth_ecb1", "url": sim.url}]}
    )
    context = build_context(config)
    [driver] = await build_drivers(config, context)
    try:
        await driver.read_once()  # connection made
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await driver.read_once()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)
    finally:
        await driver.link.close()
        await context.aclose()
        await sim.stop()


def pulse_updates_per_s(runs: int) -> float:
    rates = []
    for _ in range(runs):
        counter = PulseCounter(pulses_per_kwh=1000, bits=16)
        n = 50_000
        started = time.perf_counter()
        for i in range(n):
            counter.update(i & 0xFFFF, i * 0.1)
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


async def main(runs: int) -> None:
    profiles = builtin_profiles()
    print(f"complete read of a simulated meter on loopback, median of {runs} runs:")
    for pid in METERS:
        profile = profiles[pid]
        assert isinstance(profile, Profile)
        ms, points = await modbus_read_ms(profile, runs)
        print(f"  {pid:26s} {points:3d} points  {ms:7.2f} ms")
    print(f"  {'hardybarth_ecb1 (HTTP)':26s}      read    {await ecb1_read_ms(runs):7.2f} ms")
    print(f"pulse counter: {pulse_updates_per_s(runs):,.0f} updates/s (one core)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    asyncio.run(main(parser.parse_args().runs))
