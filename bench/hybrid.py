"""The hybrid driver's poll and setpoint round trip against its simulators on loopback.

    python bench/hybrid.py [--polls 40]

For each family (Sungrow SH, GoodWe ET, SMA STP SE): one poll (the family's register blocks
through the shared Modbus link) and one BatteryPowerSetpoint write with its read-back; median,
p95 and max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from ampacity.drivers.hybrid.driver import PROFILES, HybridProfile, create
from ampacity.drivers.modbus.plugin import ModbusConnection
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from ampacity.sim.hybrid import HybridSimulator

FAMILIES = {
    "sungrow_sh": "sungrow_sh",
    "goodwe_et": "goodwe_et",
    "sma_stp_se": "sma_sunny_tripower_smart_energy",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(family: str, polls: int) -> tuple[list[float], list[float]]:
    sim = HybridSimulator(family, pv_w=3000.0, load_w=800.0)
    await sim.start()
    profile = load_profile_file(Path(PROFILES) / f"{FAMILIES[family]}.yaml")
    assert isinstance(profile, HybridProfile)
    context = BuildContext()
    entry = DeviceEntry(
        "h",
        profile,
        ModbusConnection(host="127.0.0.1", port=sim.port),
        {key: f"h-{key}" for key, _ in profile.asset_kinds()},
    )
    driver = await create(entry, context)
    reads, writes = [], []
    try:
        for _ in range(polls):
            start = time.perf_counter()
            await driver.read_once()
            reads.append((time.perf_counter() - start) * 1000.0)
        for i in range(max(5, polls // 3)):
            start = time.perf_counter()
            await driver.write("h-battery", "BatteryPowerSetpoint", 500.0 * (i % 5) - 1000.0)
            writes.append((time.perf_counter() - start) * 1000.0)
    finally:
        await driver.link.close()  # type: ignore[attr-defined]
        await context.aclose()
        await sim.stop()
    return reads, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=40)
    args = parser.parse_args()
    for family in FAMILIES:
        reads, writes = asyncio.run(measure(family, args.polls))
        print(
            f"{family}: poll median {statistics.median(reads):.2f} ms, p95 {pct(reads, 0.95):.2f}"
            f" ms; setpoint median {statistics.median(writes):.2f} ms, max {max(writes):.2f} ms"
        )


if __name__ == "__main__":
    main()
