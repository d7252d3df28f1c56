"""Flexible loads and generators: what the SG-Ready relay board and the industrial demo cost.

* SG-Ready over UDP on loopback (the board simulator): one status read, and one state change
  with its relay commands and read-back (dwell times 0), in ms;
* the industrial demo: seconds from start until every kind's node reads Good over OPC UA, and
  the control cycle's duration there (``factory.Control.LastCycleDuration``, ms).

Prints medians (and the spread) of ``--runs`` runs.

    python bench/flexible_loads.py --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import statistics
import tempfile
import time
from pathlib import Path

from ampacity.drivers.sgready.driver import SgReadyConnection, SgReadyProfile, create_driver
from ampacity.server.app import start_site
from ampacity.server.demo_industrial import industrial_demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.kmtronic_udp import KmtronicBoardSimulator
from asyncua import Client, ua

KEYS = (
    "grid-meter.ActivePower",
    "battery.StateOfCharge",
    "dc1.ChargePowerLimit",
    "chp.RunState",
    "chp-heat.ThermalPower",
    "fuel-cell.ActivePower",
    "electrolyser.RunState",
    "hp1.SgReadyState",
    "hp2.SgReadyState",
    "rcr.Contact4",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summary(values: list[float], unit: str) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f} {unit}"
    return (
        f"median {statistics.median(values):.3f} {unit} "
        f"(min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"
    )


async def sgready(samples: int) -> tuple[list[float], list[float]]:
    board = KmtronicBoardSimulator()
    port = await board.start()
    profile = SgReadyProfile.model_validate(
        {
            "id": "bench",
            "driver": "sgready_kmtronic_udp",
            "manufacturer": "KMTronic",
            "products": ["bench"],
            "source": "bench/flexible_loads.py",
            "min_dwell_s": {1: 0, 2: 0, 3: 0, 4: 0},
            "assets": [{"key": "hp", "kind": "HeatPump"}],
        }
    )
    driver = create_driver("hp", "hp", profile, SgReadyConnection(host="127.0.0.1", port=port))
    reads, writes = [], []
    try:
        for i in range(samples):
            started = time.perf_counter()
            await driver.link.read()
            reads.append((time.perf_counter() - started) * 1000.0)
            started = time.perf_counter()
            await driver.write("hp", "SgReadyState", 4 if i % 2 == 0 else 2)
            writes.append((time.perf_counter() - started) * 1000.0)
    finally:
        await driver.link.close()
        await board.stop()
    return reads, writes


async def industrial(sample_s: float) -> tuple[float, list[float]]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as data:
        async with industrial_demo_site(Path(data), free_port()) as demo:
            config = demo.config
            context = build_context(config)
            site = await start_site(config, await build_drivers(config, context))
            try:
                async with Client(config.server.endpoint, timeout=10) as client:
                    ns = await client.get_namespace_index(config.site.namespace_uri)
                    while True:
                        values = [
                            await client.get_node(ua.NodeId(k, ns)).read_data_value(
                                raise_on_bad_status=False
                            )
                            for k in KEYS
                        ]
                        if all(v.StatusCode.is_good() for v in values):
                            break
                        await asyncio.sleep(0.1)
                    ready_s = time.monotonic() - started
                    cycles = []
                    node = client.get_node(ua.NodeId("factory.Control.LastCycleDuration", ns))
                    end = time.monotonic() + sample_s
                    while time.monotonic() < end:
                        cycles.append(float(await node.read_value()))
                        await asyncio.sleep(1.0)
            finally:
                await site.stop()
                await context.aclose()
    return ready_s, cycles


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200, help="SG-Ready reads/writes per run")
    parser.add_argument("--cycle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    read_medians, write_medians, ready, cycle_medians = [], [], [], []
    for _ in range(args.runs):
        reads, writes = await sgready(args.samples)
        read_medians.append(statistics.median(reads))
        write_medians.append(statistics.median(writes))
    for _ in range(args.runs):
        ready_s, cycles = await industrial(args.cycle_seconds)
        ready.append(ready_s)
        cycle_medians.append(statistics.median(cycles))
    print(f"SG-Ready status read (UDP, loopback):       {summary(read_medians, 'ms')}")
    print(f"SG-Ready state change with read-back:        {summary(write_medians, 'ms')}")
    print(f"industrial demo: start until all Good:       {summary(ready, 's')}")
    print(f"industrial demo: control cycle duration:     {summary(cycle_medians, 'ms')}")


if __name__ == "__main__":
    asyncio.run(main())
