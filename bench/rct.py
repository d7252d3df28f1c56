"""RCT Power: frame decoding speed, one poll against the simulator, setpoint round trip.

    python bench/rct.py [--runs 5] [--seconds 1] [--polls 30]

1. Frames decoded per second on one core: the shared real captures (tests/drivers/rct/fixtures:
   a battery.soc answer, the 64-byte device name, the RCT app's 7-request stream) through the
   stream decoder (start byte search, unstuffing, CRC check); the median of ``--runs`` runs.
2. Poll duration: one read of every object of the rct_power_storage_dc profile (18 objects,
   pipelined READ frames, answers matched by object id) from the RCT simulator on loopback;
   median, p95, max in ms over ``--polls`` reads.
3. Setpoint round trip: BatteryPowerSetpoint through the driver (state read, writes, read-back);
   median and max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from ampacity.drivers.rct.driver import PROFILES, RctConnection, RctProfile, create
from ampacity.drivers.rct.protocol import FrameReader
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from ampacity.sim.rct import RctSimulator

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "drivers" / "rct" / "fixtures"


def captures() -> list[bytes]:
    out = []
    for path in sorted(CAPTURES.glob("rctclient_*.hex")):
        if "payload" not in path.name:
            out.append(bytes.fromhex(path.read_text().strip()))
    return out


def decode_rate(streams: list[bytes], seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for data in streams:
            done += len(FrameReader().feed(data))
    return done / (time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def polls(count: int) -> tuple[list[float], list[float]]:
    sim = RctSimulator(pv_w=3000.0, load_w=800.0)
    await sim.start()
    profile = load_profile_file(Path(PROFILES) / "rct_power_storage_dc.yaml")
    assert isinstance(profile, RctProfile)
    entry = DeviceEntry(
        "rct",
        profile,
        RctConnection(host="127.0.0.1", port=sim.port),
        {a.key: f"rct-{a.key}" for a in profile.assets},
    )
    driver = await create(entry, BuildContext())
    reads, writes = [], []
    try:
        for _ in range(count):
            start = time.perf_counter()
            await driver.read_once()
            reads.append((time.perf_counter() - start) * 1000.0)
        for i in range(max(5, count // 3)):
            start = time.perf_counter()
            await driver.write("rct-battery", "BatteryPowerSetpoint", 500.0 * (i % 5) - 1000.0)
            writes.append((time.perf_counter() - start) * 1000.0)
    finally:
        await driver.link.close()  # type: ignore[attr-defined]
        await sim.stop()
    return reads, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--polls", type=int, default=30)
    args = parser.parse_args()
    streams = captures()
    rates = [decode_rate(streams, args.seconds) for _ in range(args.runs)]
    print(f"decode: {statistics.median(rates):,.0f} frames/s (median of {args.runs} runs)")
    reads, writes = asyncio.run(polls(args.polls))
    print(
        f"poll (18 objects): median {statistics.median(reads):.2f} ms, "
        f"p95 {pct(reads, 0.95):.2f} ms, max {max(reads):.2f} ms ({len(reads)} polls)"
    )
    print(
        f"setpoint round trip: median {statistics.median(writes):.2f} ms, "
        f"max {max(writes):.2f} ms ({len(writes)} writes)"
    )


if __name__ == "__main__":
    main()
