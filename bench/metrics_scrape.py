"""Cost of the Prometheus endpoint on the running demo.

    python bench/metrics_scrape.py [--scrapes 50] [--runs 3]

Starts the demo site (simulated devices on loopback, the real server, control and historian),
serves /metrics on loopback and scrapes it ``--scrapes`` times per run. Prints per run the median
and max time of one scrape (HTTP round trip, collecting every value on the event loop,
formatting), the size of the answer and its number of samples; then the median over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from ampacity.server.app import start_site
from ampacity.server.demo import demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.operations import operations
from ampacity.server.systemd import Notifier, ServiceManager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def one_run(scrapes: int) -> tuple[float, float, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        async with demo_site(data_dir=Path(folder), port=free_port()) as demo:
            context = build_context(demo.config)
            drivers = await build_drivers(demo.config, context)
            site = await start_site(demo.config, drivers)
            try:
                quiet = ServiceManager(Notifier(""))
                async with operations(site, "127.0.0.1:0", service=quiet) as ops:
                    assert ops.metrics_address is not None
                    url = f"http://127.0.0.1:{ops.metrics_address[1]}/metrics"
                    await asyncio.sleep(3)  # the first polls
                    times = []
                    async with aiohttp.ClientSession() as session:
                        for _ in range(scrapes):
                            started = time.perf_counter()
                            async with session.get(url) as response:
                                body = await response.read()
                            times.append((time.perf_counter() - started) * 1000)
                            await asyncio.sleep(0.05)
                    lines = [x for x in body.decode().splitlines() if x and not x.startswith("#")]
                    return statistics.median(times), max(times), len(body), len(lines)
            finally:
                await site.stop()
                await context.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    medians = []
    for run in range(args.runs):
        median, worst, size, samples = await one_run(args.scrapes)
        medians.append(median)
        print(
            f"run {run + 1}: scrape median {median:.2f} ms, max {worst:.2f} ms, "
            f"{size} bytes, {samples} samples"
        )
    print(f"median of the runs' medians: {statistics.median(medians):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
