"""Address-space build benchmark: time and memory of a large site's start-up, without devices.

For each N it configures N / 12 Janitza UMG 604 meters (12 points each, like ``datapath.py``'s
fleet) on a loopback port nobody listens on, and prints, as medians of ``--runs`` fresh
processes:

* **build s**: the address-space builder alone (``add_asset`` for every asset + ``commit``);
* **start-up s**: ``start_site`` as ``ampacity run`` calls it (server, nodeset, address space,
  historian, drivers started), the drivers built before;
* **KiB/point**: Python heap traced by ``tracemalloc`` over the builder (the nodes, their
  attributes and properties, the writer's slots), divided by N, in one more process of its own
  (tracing slows the build); and the process RSS growth over the whole start-up divided by N
  (RSS includes the allocator's slack, the drivers' tasks and the historian).

``--profile`` prints the top entries of a cProfile of one build (cumulative time),
``--profile-startup`` of one whole start-up (cumulative and own time). The start-up is also given
as CPU seconds of the process (all threads), steadier than wall time on a shared machine. Nothing
here passes or fails.

    python bench/addressspace_build.py [--points 1000 10000 50000] [--runs 3] [--profile]
        [--profile-startup]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import math
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

PROFILE = "janitza_umg604"
POINTS_PER_METER = 12


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def site_dict(points: int, data_dir: Path, folders: bool) -> dict[str, object]:
    meters = math.ceil(points / POINTS_PER_METER)
    devices: list[dict[str, object]] = [
        {
            "id": f"meter{index:05d}",
            "profile": PROFILE,
            "host": "127.0.0.1",
            "port": 9,  # discard: nobody answers, the drivers back off
            "unit_id": 1 + index % 200,
            "poll_s": 1.0,
            **({"group": f"hall{index // 100:02d}"} if folders else {}),
        }
        for index in range(meters)
    ]
    return {
        "site": {"id": "bench", "name": "Build benchmark"},
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": str(data_dir)},
        "devices": devices,
        "security": {"allow_none": True, "anonymous": "viewer", "anonymous_on_none": "viewer"},
    }


async def one_run(
    points: int, profile: bool, folders: bool, trace: bool, profile_startup: bool = False
) -> dict[str, float]:
    """In a fresh process: build and start one site, return its figures."""
    import ampacity.server.addressspace as addressspace
    from ampacity.server.app import start_site
    from ampacity.server.config import SiteConfig
    from ampacity.server.factory import build_context, build_drivers

    with tempfile.TemporaryDirectory(prefix="ampacity-build-") as tmp:
        site = site_dict(points, Path(tmp) / "data", folders)
        site["server"]["port"] = free_port()  # type: ignore[index]
        config = SiteConfig.model_validate(site)
        context = build_context(config)
        drivers = await build_drivers(config, context)
        gc.collect()

        build = {"s": 0.0, "bytes": 0}
        original_commit = addressspace.AddressSpaceBuilder.commit
        original_add_site = addressspace.AddressSpaceBuilder.add_site
        profiler = cProfile.Profile() if profile else None

        async def add_site(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            if trace:
                tracemalloc.start()
                build["m0"] = tracemalloc.get_traced_memory()[0]
            build["t0"] = time.perf_counter()
            if profiler:
                profiler.enable()
            return await original_add_site(self, *args, **kwargs)

        async def commit(self):  # type: ignore[no-untyped-def]
            await original_commit(self)
            if profiler:
                profiler.disable()
            build["s"] = time.perf_counter() - build["t0"]
            if trace:
                gc.collect()
                build["bytes"] = tracemalloc.get_traced_memory()[0] - build["m0"]
                tracemalloc.stop()

        addressspace.AddressSpaceBuilder.add_site = add_site  # type: ignore[method-assign]
        addressspace.AddressSpaceBuilder.commit = commit  # type: ignore[method-assign]
        rss_before = rss_kib()
        whole = cProfile.Profile() if profile_startup else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if whole:
            whole.enable()
        running = await start_site(config, drivers)
        if whole:
            whole.disable()
        startup_s = time.perf_counter() - started
        startup_cpu_s = time.process_time() - cpu_started
        await asyncio.sleep(0.5)
        rss_after = rss_kib()
        n = len(running.writer.keys)
        await running.stop()
        await context.aclose()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue(), file=sys.stderr)
    if whole:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(whole, stream=out).sort_stats(order).print_stats(30)
            print(f"start-up, by {order}:\n{out.getvalue()}", file=sys.stderr)
    points_made = math.ceil(points / POINTS_PER_METER) * POINTS_PER_METER
    return {
        "build_s": build["s"],
        "startup_s": startup_s,
        "startup_cpu_s": startup_cpu_s,
        "heap_kib_per_point": build["bytes"] / 1024 / points_made,
        "rss_kib_per_point": (rss_after - rss_before) / points_made,
        "variables": n,
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(
    points_list: list[int], runs: int, profile: bool, folders: bool, profile_startup: bool
) -> None:
    print(f"Ampacity address-space build ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(f"{PROFILE} meters, {POINTS_PER_METER} points each; medians of {runs} processes\n")
    print(
        f"{'points':>7} {'variables':>9} {'build s':>8} {'start-up s':>10} {'CPU s':>6} "
        f"{'heap KiB/pt':>11} {'RSS KiB/pt':>10}"
    )
    for points in points_list:
        results = []
        for run in range(runs + 1):
            args = [sys.executable, __file__, "--one", str(points)]
            if run == runs:
                args.append("--trace")  # a run of its own: tracing slows the build down
            if profile and run == 0:
                args.append("--profile")
            if profile_startup and run == 0:
                args.append("--profile-startup")
            if folders:
                args.append("--folders")
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                raise SystemExit(f"run for {points} points failed")
            if (profile or profile_startup) and run == 0:
                print(done.stderr, file=sys.stderr)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))

        traced = results.pop()

        def med(key: str, rows: list[dict[str, float]] = results) -> float:
            return statistics.median(r[key] for r in rows)

        print(
            f"{points:>7} {med('variables'):>9.0f} {med('build_s'):>8.2f} "
            f"{med('startup_s'):>10.2f} {med('startup_cpu_s'):>6.2f} "
            f"{traced['heap_kib_per_point']:>11.2f} {med('rss_kib_per_point'):>10.2f}",
            flush=True,
        )


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the first build")
    parser.add_argument(
        "--profile-startup", action="store_true", help="cProfile the first whole start-up"
    )
    parser.add_argument("--folders", action="store_true", help="devices in groups of 100")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run = one_run(args.one, args.profile, args.folders, args.trace, args.profile_startup)
        print(json.dumps(asyncio.run(run)))
    else:
        main(args.points, args.runs, args.profile, args.folders, args.profile_startup)
