"""Modbus client path benchmark: many Modbus TCP devices polled at 1 s, drivers only.

The fleet is ``--points`` / 12 Janitza UMG 604 meters (12 polled points each, one read block per
poll) behind ``--endpoints`` Modbus TCP endpoints (gateways with several unit ids each), served
by the project's simulator in a child process of its own, every value changing at every poll.
This process runs only the drivers (as ``ampacity run`` builds them) with a sink that counts
readings, so the figures are the Modbus client path's own:

* **updates/s** of data points delivered to the sink, next to the rate the devices offer (every
  point at every poll): equal means the poll keeps up;
* **CPU %** of one core this process used (``time.process_time`` over wall time);
* **CPU µs per update**; and the simulators' CPU (a saturated simulator would cap the rate);
* the part of that CPU spent in the kernel (socket calls), and the **garbage collector's** CPU.

As the server does once its site is built, what lives as long as the drivers is frozen out of
the collector's runs after they are built (``--no-freeze``: not). Medians of ``--runs`` windows.
``--profile`` prints the top entries of a cProfile of one window (by own time; it counts CPU time,
so the figures hold on a loaded machine, but its own cost slows the process down). Nothing here
passes or fails.

    python bench/modbus_path.py [--points 10000] [--endpoints 100] [--runs 3] [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import math
import os
import pstats
import statistics
import sys
import time

from ampacity.assets import Quality, Reading
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.loopwatch import freeze_long_lived
from ampacity.sim.fleet import FLEET_PROFILE as PROFILE
from ampacity.sim.fleet import POINTS_PER_METER, serve_fleet

POLL_S = 1.0
WARM_UP_S = 20.0
STOP_TIMEOUT_S = 10.0


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class GcCpu:
    """CPU seconds the garbage collector used (thread CPU time around each run)."""

    def __init__(self) -> None:
        self.total_s = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.total_s += time.thread_time() - self._started


class CountingSink:
    """Counts the readings of data points (not Health, not Identification)."""

    def __init__(self) -> None:
        self.updates = 0
        self.not_good = 0
        """Readings that are not Good (a poll that failed or came too late)."""

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            if "." not in reading.point:
                self.updates += 1
                if reading.quality is not Quality.GOOD:
                    self.not_good += 1


async def main(
    points: int, endpoints: int, runs: int, window_s: float, profile: bool, freeze: bool
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        str(points),
        "--endpoints",
        str(endpoints),
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    assert process.stdout is not None
    devices = json.loads(await process.stdout.readline())
    config = SiteConfig.model_validate({"devices": devices})
    context = build_context(config)
    drivers = await build_drivers(config, context)
    sink = CountingSink()
    tasks = [asyncio.create_task(d.run(sink)) for d in drivers]
    if freeze:
        # as the server's start-up does once the site is built: what lives as long as the site
        # (profiles, drivers, point caches) leaves the collector's full runs
        freeze_long_lived()
    n = len(devices) * POINTS_PER_METER
    print(f"Ampacity Modbus path ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(
        f"{len(devices)} {PROFILE} meters ({n} points) behind {endpoints} Modbus TCP endpoints, "
        f"poll {POLL_S:g} s, simulators in their own process; medians of {runs} windows "
        f"of {window_s:g} s"
    )
    try:
        # connect, read identification, and settle: 834 drivers connecting at once time out
        # some connects (the event loop is busy starting them) and back off for a few seconds
        await asyncio.sleep(WARM_UP_S)
        rates, cpus, sims, bad, gcs, kernel = [], [], [], [], [], []
        gc_cpu = GcCpu()
        profiler = cProfile.Profile(time.thread_time) if profile else None
        for run in range(runs):
            before, wall, cpu = sink.updates, time.perf_counter(), time.process_time()
            bad_before = sink.not_good
            gc_before = gc_cpu.total_s
            times = os.times()
            sim_cpu = process_cpu_s(process.pid)
            if profiler and run == 0:
                profiler.enable()
            await asyncio.sleep(window_s)
            if profiler and run == 0:
                profiler.disable()
            elapsed = time.perf_counter() - wall
            rates.append((sink.updates - before) / elapsed)
            bad.append((sink.not_good - bad_before) / elapsed)
            cpus.append((time.process_time() - cpu) / elapsed)
            sims.append((process_cpu_s(process.pid) - sim_cpu) / elapsed)
            gcs.append((gc_cpu.total_s - gc_before) / elapsed)
            kernel.append((os.times().system - times.system) / elapsed)
        rate, cpu_share = statistics.median(rates), statistics.median(cpus)
        print(
            f"updates/s {rate:.0f} of {n / POLL_S:.0f} offered ({statistics.median(bad):.0f}/s "
            f"not Good); CPU {100 * cpu_share:.1f} % of "
            f"one core ({100 * statistics.median(kernel):.1f} % in the kernel); "
            f"{1e6 * cpu_share / max(rate, 1):.1f} µs CPU per update; "
            f"simulators {100 * statistics.median(sims):.0f} % of a core; garbage collection "
            f"{1e3 * statistics.median(gcs):.0f} ms CPU/s"
        )
        if profiler:
            out = io.StringIO()
            order = os.environ.get("BENCH_PROFILE_SORT", "tottime")  # or "cumulative"
            top = int(os.environ.get("BENCH_PROFILE_TOP", "25"))
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
            print(out.getvalue())
    finally:
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        if stuck:  # reported, not waited for: the figures are printed already
            print(f"{len(stuck)} drivers did not stop within {STOP_TIMEOUT_S:g} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(context.aclose(), STOP_TIMEOUT_S)
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--profile", action="store_true", help="cProfile the first window")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the drivers in the collector's runs"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        meters = math.ceil(args.serve / POINTS_PER_METER)
        asyncio.run(serve_fleet(args.serve, math.ceil(meters / args.endpoints), POLL_S))
    else:
        asyncio.run(
            main(
                args.points,
                args.endpoints,
                args.runs,
                args.window,
                args.profile,
                not args.no_freeze,
            )
        )
