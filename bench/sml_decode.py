"""SML decoding speed and frame-to-reading latency.

    python bench/sml_decode.py [--runs 5] [--seconds 2] [--frames 60]

1. Frames decoded per second on one core: the real captures of tests/drivers/sml/captures (20
   meters, 212-684 bytes) through the whole path of one frame - frame search and CRC check,
   smllib per entry, the model mapping with the sign rules - in one thread; the median of
   ``--runs`` runs of ``--seconds`` each.
2. Frame-to-reading latency: a simulated meter (a real Iskra MT175 frame replayed with 16.7.0
   set to a sequence number) sends over a pseudo-terminal (the optical-head path) and over TCP
   (a network IR reader) to the real driver; the time from writing a frame to its ActivePower
   reading arriving at the sink that feeds the address space. Median, p95, max in ms.
3. Frame-to-node latency: the same meter (pty) in a running server (``start_site``); the time
   from writing a frame to the node ``meter.ActivePower`` holding its value in the address space.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

from ampacity.assets import Reading
from ampacity.drivers.registry import load_profile_file
from ampacity.drivers.sml.decode import decode_entries
from ampacity.drivers.sml.driver import PROFILES
from ampacity.drivers.sml.frames import FrameReader
from ampacity.drivers.sml.meter import SmlMeter
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.sml import SmlReplay, SmlStreamServer

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "drivers" / "sml" / "captures"


def capture_frames() -> list[bytes]:
    frames = []
    for path in sorted(CAPTURES.glob("*.frame.hex")):
        data = bytes.fromhex(path.read_text().strip())
        if FrameReader().feed(data):
            frames.append(data)
    return frames


def decode_rate(frames: list[bytes], seconds: float) -> float:
    meter = SmlMeter()
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for data in frames:
            reader = FrameReader()
            for frame in reader.feed(data):
                meter.values(decode_entries(frame.payload), 0.0)
                done += 1
    return done / (time.perf_counter() - start)


class TimingSink:
    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.event = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        now = time.perf_counter()
        for reading in readings:
            if reading.point == "ActivePower" and isinstance(reading.value, float):
                self.arrived.setdefault(int(reading.value), now)
                self.event.set()


async def latency(transport: str, count: int) -> list[float]:
    replay = SmlReplay(bytes.fromhex((CAPTURES / "ISKRA_MT175_eHZ.frame.hex").read_text()))
    sent: dict[int, float] = {}
    seq = iter(range(1000, 1000 + 10 * count))

    def next_frame() -> bytes:
        n = next(seq)
        replay.set("1-0:16.7.0*255", float(n))
        data = replay.frame()
        sent[n] = time.perf_counter()
        return data

    server = SmlStreamServer(next_frame, period_s=0.1)
    entry: dict[str, object] = {"id": "meter", "profile": "sml"}
    if transport == "tcp":
        await server.start_tcp()
        entry.update(host=server.host, port=server.port)
    else:
        entry["serial"] = server.start_pty()
    profiles = {"sml": load_profile_file(PROFILES / "sml.yaml")}
    config = SiteConfig.model_validate({"devices": [entry]}, context={"profiles": profiles})
    [driver] = await build_drivers(config, build_context(config))
    sink = TimingSink()
    task = asyncio.create_task(driver.run(sink))
    try:
        async with asyncio.timeout(count * 0.1 + 15):
            while len(sink.arrived) < count + 2:
                sink.event.clear()
                await sink.event.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
    keys = sorted(sink.arrived)[2:]  # the first frames: start-up and discovery
    return [(sink.arrived[k] - sent[k]) * 1000.0 for k in keys if k in sent]


async def node_latency(count: int) -> list[float]:
    import tempfile

    from ampacity.server.app import start_site
    from ampacity.server.writer import NodeWriter

    replay = SmlReplay(bytes.fromhex((CAPTURES / "ISKRA_MT175_eHZ.frame.hex").read_text()))
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    enough = asyncio.Event()
    seq = iter(range(1000, 1000 + 10 * count))

    def next_frame() -> bytes:
        n = next(seq)
        replay.set("1-0:16.7.0*255", float(n))
        data = replay.frame()
        sent[n] = time.perf_counter()
        return data

    original = NodeWriter._apply

    def timed_apply(self: NodeWriter, reading: Reading) -> bool:
        changed = original(self, reading)
        is_power = reading.asset_id == "meter" and reading.point == "ActivePower"
        if is_power and isinstance(reading.value, float):
            arrived.setdefault(int(reading.value), time.perf_counter())
            if len(arrived) >= count + 2:
                enough.set()
        return changed

    NodeWriter._apply = timed_apply  # type: ignore[method-assign]
    server = SmlStreamServer(next_frame, period_s=0.1)
    path = server.start_pty()
    profiles = {"sml": load_profile_file(PROFILES / "sml.yaml")}
    with tempfile.TemporaryDirectory() as data_dir:
        config = SiteConfig.model_validate(
            {
                "server": {"port": 48999, "data_dir": data_dir},
                "devices": [{"id": "meter", "profile": "sml", "serial": path, "role": "grid"}],
            },
            context={"profiles": profiles},
        )
        drivers = await build_drivers(config, build_context(config))
        site = await start_site(config, drivers)
        try:
            async with asyncio.timeout(count * 0.1 + 20):
                await enough.wait()
        finally:
            await site.stop()
            await server.stop()
            NodeWriter._apply = original  # type: ignore[method-assign]
    keys = sorted(arrived)[2:]
    return [(arrived[k] - sent[k]) * 1000.0 for k in keys if k in sent]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    frames = capture_frames()
    rates = [decode_rate(frames, args.seconds) for _ in range(args.runs)]
    print(
        f"decode: {len(frames)} real frames, {args.runs} runs: median "
        f"{statistics.median(rates):.0f} frames/s on one core "
        f"(runs: {', '.join(f'{r:.0f}' for r in rates)})"
    )
    for transport in ("pty", "tcp"):
        values = asyncio.run(latency(transport, args.frames))
        values.sort()
        p95 = values[int(0.95 * (len(values) - 1))]
        print(
            f"frame-to-reading over {transport}: n={len(values)} median "
            f"{statistics.median(values):.2f} ms, p95 {p95:.2f} ms, max {values[-1]:.2f} ms"
        )
    values = sorted(asyncio.run(node_latency(args.frames)))
    p95 = values[int(0.95 * (len(values) - 1))]
    print(
        f"frame-to-node in a running server (pty): n={len(values)} median "
        f"{statistics.median(values):.2f} ms, p95 {p95:.2f} ms, max {values[-1]:.2f} ms"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
