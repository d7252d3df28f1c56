"""Latency of a ripple-control contact change to the ``ActiveLimit`` reading at the sink.

    python bench/ripple_latency.py [--flips 50] [--poll 0.1] [--source modbus|kmtronic|both]

A simulated receiver on loopback (a Modbus TCP I/O module, a KMTronic board) and the real
driver: each flip changes the signalled stage (K1 <-> K2: 100 % <-> 60 %); the time from
``set_contact`` on the simulator to the ``ActiveLimit`` reading arriving at the sink is
measured. Flips are spaced by a random offset so they fall anywhere in the poll cycle. Prints
median, p95 and max in ms. Expect about half a poll interval plus one request on average, and at
most one poll interval plus one request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Callable

from ampacity.assets import Reading
from ampacity.drivers.modbus import LinkRegistry
from ampacity.drivers.signals import RippleReceiverConfig, RippleReceiverDriver
from ampacity.sim.signals import KmtronicSim, ModbusContactSim


class TimingSink:
    """Notes when each new ``ActiveLimit`` value arrives."""

    def __init__(self) -> None:
        self.limit: float | None = None
        self.arrived = asyncio.Event()
        self.at = 0.0

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            if reading.point == "ActiveLimit" and isinstance(reading.value, float):
                self.limit = reading.value
                self.at = time.perf_counter()
                self.arrived.set()


async def measure(
    entry: dict[str, object],
    flip: Callable[[int, bool], None],
    flips: int,
    poll_s: float,
    links: LinkRegistry,
) -> list[float]:
    sink = TimingSink()
    driver = RippleReceiverDriver(RippleReceiverConfig.model_validate(entry), links=links)
    task = asyncio.create_task(driver.run(sink))
    rng = random.Random(1)
    latencies: list[float] = []
    try:
        async with asyncio.timeout(5):
            while sink.limit != 100.0:
                sink.arrived.clear()
                await sink.arrived.wait()
        for i in range(flips):
            await asyncio.sleep(rng.uniform(0.0, poll_s))
            closed = i % 2 == 0
            want = 60.0 if closed else 100.0
            sink.arrived.clear()
            started = time.perf_counter()
            flip(2, closed)
            async with asyncio.timeout(5):
                while sink.limit != want:
                    sink.arrived.clear()
                    await sink.arrived.wait()
            latencies.append((sink.at - started) * 1000.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return latencies


def report(name: str, latencies: list[float], poll_s: float) -> None:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    print(
        f"{name:9s} poll {poll_s * 1000:.0f} ms, {len(latencies)} flips: "
        f"median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )


async def main(flips: int, poll_s: float, source: str) -> None:
    links = LinkRegistry()
    try:
        if source in ("modbus", "both"):
            async with ModbusContactSim() as sim:
                entry = {
                    "id": "rcr",
                    "poll_s": poll_s,
                    "source": {
                        "type": "modbus",
                        "host": sim.host,
                        "port": sim.port,
                        "addresses": [0, 1, 2, 3],
                    },
                }
                latencies = await measure(entry, sim.set_contact, flips, poll_s, links)
                report("modbus", latencies, poll_s)
        if source in ("kmtronic", "both"):
            async with KmtronicSim(user="admin", password="admin") as board:
                entry = {
                    "id": "rcr",
                    "poll_s": poll_s,
                    "source": {
                        "type": "kmtronic",
                        "url": board.url,
                        "user": "admin",
                        "password": "admin",
                        "elements": list(board.elements),
                    },
                }
                latencies = await measure(entry, board.set_contact, flips, poll_s, links)
                report("kmtronic", latencies, poll_s)
    finally:
        await links.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flips", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.1, help="poll interval, s")
    parser.add_argument("--source", choices=("modbus", "kmtronic", "both"), default="both")
    args = parser.parse_args()
    asyncio.run(main(args.flips, args.poll, args.source))
