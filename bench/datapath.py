"""Data-path benchmark: devices -> drivers -> nodes -> OPC UA clients.

For N simulated points (default 1,000 and 10,000) it prints:

* **sustained updates/s** from simulated devices into nodes (server and simulators in one process,
  every point changing at every poll), next to the rate the devices offer;
* **writer capacity**: node updates/s the node writer applies when fed directly (the ceiling of
  the path, to show it is not the bottleneck);
* **end-to-end latency** from a register change in a simulator to the data-change notification
  at a subscribed OPC UA client in another process than the server (p50, p99; the probe device is
  polled every ``PROBE_POLL_S``, which bounds the latency from below on average by half of it);
* **server RSS per point** (the server in its own process, RSS with the fleet minus RSS of an
  empty site, divided by N);
* **start-up time** of the server process until the endpoint answers and the probe reads Good.

The fleet is Janitza UMG 604 meters (12 polled points each, one read block per poll) served by
the project's Modbus simulator on loopback, up to 200 unit ids per TCP endpoint, in a child
process of its own so it does not share the server's core. Figures are
medians of ``--runs`` measurement windows. Nothing here passes or fails.

    python bench/datapath.py [--points 1000 10000] [--runs 3] [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from ampacity.assets import PointValue, Quality, Reading
from ampacity.drivers.profile import all_profiles
from ampacity.server.app import start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.server import SimServer, SimulatedDevice
from asyncua import Client, ua

PROFILE = "janitza_umg604"
POINTS_PER_METER = 12
"""Points the Janitza profile polls (ActivePower, L1..L3 power, current, voltage, Q, f, E)."""
UNITS_PER_ENDPOINT = 200
FLEET_POLL_S = 1.0
PROBE_POLL_S = 0.1
PROBE_ID = "probe"


@dataclass
class FleetModel:
    """Every value moves at every refresh, so every poll changes every node."""

    offset: float
    tick: int = 0
    values: dict[str, float] = field(default_factory=dict)

    def read(self, asset: str, point: str) -> PointValue:
        if point in self.values:
            return self.values[point]
        if point.startswith("Identification"):
            return None
        base = {"Voltage": 230.0, "Frequency": 50.0, "Current": 10.0, "Energy": 1.0e6}
        start = next((v for k, v in base.items() if point.startswith(k)), 1000.0)
        return start + self.offset + 0.01 * self.tick

    def write(self, asset: str, point: str, value: PointValue) -> None:
        pass


@dataclass
class Fleet:
    """The fleet's simulators run in a child process (so they do not share the server's core);
    the probe meter runs here, where the latency measurement changes its register."""

    process: asyncio.subprocess.Process
    probe_server: SimServer
    probe_model: FleetModel
    devices: list[dict[str, object]]

    async def stop(self) -> None:
        await self.probe_server.stop()
        self.process.terminate()
        await self.process.wait()


async def serve_fleet(points: int) -> None:
    """Child process: serve the meters, print their site entries as one JSON line, advance the
    values every half poll interval until terminated."""
    profile = all_profiles()[PROFILE]
    meters = math.ceil(points / POINTS_PER_METER)
    servers: list[SimServer] = []
    models: list[FleetModel] = []
    devices: list[dict[str, object]] = []
    for first in range(0, meters, UNITS_PER_ENDPOINT):
        batch = range(first, min(meters, first + UNITS_PER_ENDPOINT))
        sims = []
        for index in batch:
            model = FleetModel(offset=float(index))
            models.append(model)
            sims.append(SimulatedDevice(profile, model, unit_id=index - first + 1))
        server = SimServer(sims)
        host, port = await server.start_tcp("127.0.0.1", 0)
        servers.append(server)
        devices += [
            {
                "id": f"meter{index:05d}",
                "profile": PROFILE,
                "host": host,
                "port": port,
                "unit_id": index - first + 1,
                "poll_s": FLEET_POLL_S,
            }
            for index in batch
        ]
    print(json.dumps(devices), flush=True)
    while True:
        for model in models:
            model.tick += 1
        for server in servers:
            server.refresh()
        await asyncio.sleep(FLEET_POLL_S / 2)


async def start_fleet(points: int) -> Fleet:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-fleet",
        str(points),
        "--poll",
        str(FLEET_POLL_S),
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,  # the device list is one JSON line
    )
    assert process.stdout is not None
    devices: list[dict[str, object]] = json.loads(await process.stdout.readline())
    profile = all_profiles()[PROFILE]
    probe_model = FleetModel(offset=0.0)
    probe_server = SimServer([SimulatedDevice(profile, probe_model, unit_id=1)])
    host, port = await probe_server.start_tcp("127.0.0.1", 0)
    devices.append(
        {
            "id": PROBE_ID,
            "profile": PROFILE,
            "host": host,
            "port": port,
            "unit_id": 1,
            "poll_s": PROBE_POLL_S,
        }
    )
    return Fleet(process, probe_server, probe_model, devices)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_dict(devices: list[dict[str, object]], port: int, data_dir: Path) -> dict[str, object]:
    return {
        "site": {"id": "bench", "name": "Data-path benchmark"},
        "server": {"host": "127.0.0.1", "port": port, "data_dir": str(data_dir)},
        "devices": devices,
        # the benchmark's client reads over the unsecured endpoint on loopback
        "security": {"allow_none": True, "anonymous": "viewer", "anonymous_on_none": "viewer"},
    }


# --- in-process: sustained updates/s and writer capacity ------------------------------------------


async def measure_in_process(
    fleet: Fleet, workdir: Path, runs: int, window_s: float
) -> tuple[float, float, float]:
    """Returns (median sustained updates/s, offered updates/s, writer capacity updates/s)."""
    config = SiteConfig.model_validate(site_dict(fleet.devices, free_port(), workdir / "data"))
    context = build_context(config)
    drivers = await build_drivers(config, context)
    site = await start_site(config, drivers)
    data_updates = 0

    def count(reading: Reading) -> None:
        nonlocal data_updates
        if reading.asset_id.startswith("meter") and "." not in reading.point:
            data_updates += 1

    site.writer.add_listener(count)
    try:
        await asyncio.sleep(3 * FLEET_POLL_S)  # connect and warm up
        rates = []
        for _ in range(runs):
            before, started = data_updates, time.perf_counter()
            await asyncio.sleep(window_s)
            rates.append((data_updates - before) / (time.perf_counter() - started))
        # every point of the one read block changes at every poll (the energy counters too:
        # they sit in the same block, so reading them costs nothing extra)
        offered = (len(fleet.devices) - 1) * POINTS_PER_METER / FLEET_POLL_S
    finally:
        for task in site.tasks[1:]:
            task.cancel()  # stop the drivers, keep the writer for the capacity test
        await asyncio.sleep(0.1)
    try:
        capacity = await writer_capacity(site, runs)
    finally:
        await site.stop()
        await context.aclose()
    return statistics.median(rates), offered, capacity


async def writer_capacity(site, runs: int) -> float:  # type: ignore[no-untyped-def]
    """Feed the node writer directly: every point of every meter, new values each round."""
    keys = [k for k in site.writer.keys if k.startswith("meter") and ".Health" not in k]
    keys = [k for k in keys if ".Identification" not in k and not k.endswith(".Role")]
    rates = []
    for run in range(runs):
        now = datetime.now(UTC)
        batch = [
            Reading(*key.split(".", 1), float(run * 1000 + i), Quality.GOOD, now)
            for i, key in enumerate(keys)
        ]
        started = time.perf_counter()
        site.writer.publish(batch)
        await site.writer.flush()
        rates.append(len(batch) / (time.perf_counter() - started))
    return statistics.median(rates)


# --- server in its own process: start-up, RSS, latency ------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.asynccontextmanager
async def server_process(site: dict[str, object], workdir: Path):  # type: ignore[no-untyped-def]
    path = workdir / f"site-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(site), encoding="utf-8")
    log = (workdir / f"{path.stem}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ampacity.server.cli",
        "run",
        "--config",
        str(path),
        stdout=log,
        stderr=log,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
        log.close()


async def wait_good(endpoint: str, key: str | None, timeout_s: float) -> Client:
    deadline = time.monotonic() + timeout_s
    while True:
        client = Client(endpoint, timeout=30)
        try:
            await client.connect()
            if key is None:
                return client
            ns = await client.get_namespace_index("urn:ampacity:site")
            node = client.get_node(ua.NodeId(key, ns))
            while time.monotonic() < deadline:
                dv = await node.read_data_value(raise_on_bad_status=False)
                if dv.StatusCode.is_good():
                    return client
                await asyncio.sleep(0.02)
            raise TimeoutError(f"{key} not Good within {timeout_s} s")
        except (TimeoutError, OSError, ua.UaError):
            with contextlib.suppress(Exception):
                await client.disconnect()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def measure_process(
    fleet: Fleet, workdir: Path, samples: int
) -> tuple[float, float, float, float, float]:
    """Returns (start-up s, RSS MiB, RSS per point KiB, latency p50 ms, latency p99 ms)."""
    empty_port = free_port()
    async with server_process(site_dict([], empty_port, workdir / "empty"), workdir) as empty:
        client = await wait_good(f"opc.tcp://127.0.0.1:{empty_port}/ampacity", None, 60)
        await client.disconnect()
        await asyncio.sleep(1.0)
        baseline_kib = rss_kib(empty.pid)

    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/ampacity"
    started = time.perf_counter()
    async with server_process(site_dict(fleet.devices, port, workdir / "data"), workdir) as srv:
        client = await wait_good(endpoint, f"{PROBE_ID}.ActivePower", 300)
        startup_s = time.perf_counter() - started
        await asyncio.sleep(3 * FLEET_POLL_S)
        total_kib = rss_kib(srv.pid)
        try:
            latencies = await probe_latency(client, fleet, samples)
        finally:
            await client.disconnect()
    points = (len(fleet.devices) - 1) * POINTS_PER_METER
    per_point = (total_kib - baseline_kib) / points
    quantiles = statistics.quantiles(latencies, n=100)
    return startup_s, total_kib / 1024, per_point, quantiles[49] * 1e3, quantiles[98] * 1e3


async def probe_latency(client: Client, fleet: Fleet, samples: int) -> list[float]:
    """Change the probe meter's register at random moments; time the client's notification."""
    ns = await client.get_namespace_index("urn:ampacity:site")
    arrived: asyncio.Queue[tuple[float, float]] = asyncio.Queue()

    class Handler:
        def datachange_notification(self, node, val, data) -> None:  # type: ignore[no-untyped-def]
            arrived.put_nowait((time.perf_counter(), float(val)))

    subscription = await client.create_subscription(10, Handler())
    await subscription.subscribe_data_change(
        client.get_node(ua.NodeId(f"{PROBE_ID}.ActivePower", ns))
    )
    await asyncio.sleep(0.5)
    while not arrived.empty():
        arrived.get_nowait()
    latencies = []
    rng = __import__("random").Random(4840)
    for sample in range(samples):
        value = 100_000.0 + sample
        await asyncio.sleep(rng.uniform(0.05, 0.25))
        fleet.probe_model.values["ActivePower"] = value
        changed = time.perf_counter()
        fleet.probe_server.refresh()
        try:
            async with asyncio.timeout(10):
                while True:
                    at, seen = await arrived.get()
                    if seen == value:
                        latencies.append(at - changed)
                        break
        except TimeoutError:
            print(f"  latency sample {sample}: no notification within 10 s", file=sys.stderr)
    await subscription.delete()
    return latencies


async def main(points_list: list[int], runs: int, window_s: float, samples: int) -> None:
    print(f"Ampacity data-path benchmark ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(
        f"fleet: {PROFILE} meters, {POINTS_PER_METER} points each, poll {FLEET_POLL_S:g} s; "
        f"probe polled every {PROBE_POLL_S:g} s; medians of {runs} windows of {window_s:g} s\n"
    )
    header = (
        f"{'points':>7} {'updates/s':>10} {'offered/s':>10} {'writer cap/s':>12} "
        f"{'start-up s':>10} {'RSS MiB':>8} {'KiB/point':>9} {'p50 ms':>7} {'p99 ms':>7}"
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="ampacity-bench-") as tmp:
        for points in points_list:
            fleet = await start_fleet(points)
            try:
                workdir = Path(tmp) / str(points)
                workdir.mkdir()
                n = (len(fleet.devices) - 1) * POINTS_PER_METER
                sustained, offered, capacity = await measure_in_process(
                    fleet, workdir, runs, window_s
                )
                print(
                    f"{n:>7} {sustained:>10.0f} {offered:>10.0f} {capacity:>12.0f} ",
                    end="",
                    flush=True,
                )
                try:
                    startup, rss_mib, per_point, p50, p99 = await measure_process(
                        fleet, workdir, samples
                    )
                except (OSError, TimeoutError) as exc:
                    print(f"  server process: {type(exc).__name__}: {exc}", flush=True)
                    continue
            finally:
                await fleet.stop()
            print(
                f"{startup:>10.1f} {rss_mib:>8.0f} {per_point:>9.2f} {p50:>7.0f} {p99:>7.0f}",
                flush=True,
            )


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--samples", type=int, default=100, help="latency samples")
    parser.add_argument("--serve-fleet", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--poll", type=float, default=FLEET_POLL_S, help="fleet poll interval, s")
    args = parser.parse_args()
    FLEET_POLL_S = args.poll
    if args.serve_fleet:
        asyncio.run(serve_fleet(args.serve_fleet))
    else:
        asyncio.run(main(args.points, args.runs, args.window, args.samples))
