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

With ``--peer node-opcua`` it compares subscriptions instead (see README, "Performance at
scale"): Ampacity (fed through its node writer, historian and control running), stock asyncua
and node-opcua's reference server (``tests/nodeopcua/bench_server.js``), each in its own process,
measured by node-opcua clients (``tests/nodeopcua/bench_client.js``) in the same sitting; it
prints every goal figure of the 10k-point case, ``--json`` one machine-readable object:

    python bench/datapath.py --points 10000 --peer node-opcua [--json] [--only ampacity ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from ampacity.assets import Quality, Reading
from ampacity.drivers.profile import all_profiles
from ampacity.server.app import start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.fleet import FLEET_PROFILE as PROFILE
from ampacity.sim.fleet import POINTS_PER_METER, MovingModel, serve_fleet
from ampacity.sim.server import SimServer, SimulatedDevice
from asyncua import Client, Server, ua

"""Points the Janitza profile polls (ActivePower, L1..L3 power, current, voltage, Q, f, E)."""
UNITS_PER_ENDPOINT = 200
FLEET_POLL_S = 1.0
PROBE_POLL_S = 0.1
PROBE_ID = "probe"


@dataclass
class Fleet:
    """The fleet's simulators run in a child process (so they do not share the server's core);
    the probe meter runs here, where the latency measurement changes its register."""

    process: asyncio.subprocess.Process
    probe_server: SimServer
    probe_model: MovingModel
    devices: list[dict[str, object]]

    async def stop(self) -> None:
        await self.probe_server.stop()
        self.process.terminate()
        await self.process.wait()


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
    probe_model = MovingModel(offset=0.0)
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


# --- subscription comparison: Ampacity, stock asyncua and node-opcua in the same sitting ---------

BENCH_DIR = Path(__file__).resolve().parent
NODEOPCUA_DIR = BENCH_DIR.parent / "tests" / "nodeopcua"
PUBLISH_MS = 250.0
"""Publishing interval of every benchmark subscription (ms)."""
QUEUE_SIZE = 10
"""Queue size of every monitored item (saturated rounds come faster than publishes)."""
WARMUP_S = 3.0
CLIENTS = 3
"""Subscribed clients in the paced case (the goal: 3 SCADA clients)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (s), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class LineProcess:
    """A child speaking a JSON-lines protocol: commands on stdin, one JSON answer per line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *argv: str, cwd: Path | None = None) -> LineProcess:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=64 * 1024 * 1024,
        )
        return cls(process)

    async def answer(self, timeout_s: float = 600) -> dict[str, object]:
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
            if not line:
                raise RuntimeError(f"{self.process.pid} ended (exit {self.process.returncode})")
            if line.startswith(b"{"):
                return dict(json.loads(line))

    async def ask(self, command: str, reply: bool = True) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.answer(60) if reply else {}

    async def stop(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Peer:
    """One server under comparison, running in its own process."""

    name: str
    server: LineProcess
    ready: dict[str, object]
    startup_s: float
    endpoint: str

    @property
    def pid(self) -> int:
        return self.server.process.pid


async def start_peer(name: str, points: int, workdir: Path) -> Peer:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a bench, before timing)
    if name == "node-opcua":
        argv = ["node", "bench_server.js", str(points), str(port), str(workdir / "pki")]
        cwd: Path | None = NODEOPCUA_DIR
        endpoint = f"opc.tcp://127.0.0.1:{port}/bench"
    else:
        script = str(BENCH_DIR / "subscription_peers.py")
        argv = [sys.executable, script, name, str(points), str(port), str(workdir)]
        cwd = None
        path = "ampacity" if name == "ampacity" else "bench"
        endpoint = f"opc.tcp://127.0.0.1:{port}/{path}"
    started = time.perf_counter()
    server = await LineProcess.start(*argv, cwd=cwd)
    ready = await server.answer()
    return Peer(name, server, ready, time.perf_counter() - started, endpoint)


async def start_client(peer: Peer, ids_file: Path, read_probe: bool) -> LineProcess:
    options = {
        "endpoint": peer.endpoint,
        "namespace_uri": peer.ready["namespace_uri"],
        "ids_file": str(ids_file),
        "publishing_ms": PUBLISH_MS,
        "queue_size": QUEUE_SIZE,
        "read_probe": read_probe,
    }
    client = await LineProcess.start(
        "node", "bench_client.js", json.dumps(options), cwd=NODEOPCUA_DIR
    )
    await client.answer()
    return client


@dataclass
class Window:
    seconds: float
    cpu_s: float
    delivered: list[float]
    """Notifications/s at each client."""
    latency_p99_ms: float | None
    read_p99_ms: float | None
    gc_pauses_s: list[float]
    stalls_s: list[float]
    control: tuple[int, int] | None
    """Control cycles and overruns in the window (Ampacity)."""
    offered: float
    """Changes/s the server's feed made in the window."""


async def window(peer: Peer, clients: list[LineProcess], seconds: float) -> Window:
    await asyncio.gather(*(c.ask("window") for c in clients))
    before = await peer.server.ask("stats")
    cpu_before = cpu_seconds(peer.pid)
    await asyncio.sleep(seconds)
    answers = await asyncio.gather(*(c.ask("window") for c in clients))
    cpu = cpu_seconds(peer.pid) - cpu_before
    stats = await peer.server.ask("stats")
    elapsed = statistics.median(float(a["seconds"]) for a in answers)  # type: ignore[arg-type]
    latency = [a["latency_ms"][1] for a in answers if a["latency_ms"]]  # type: ignore[index]
    reads = [a["read_ms"][1] for a in answers if a["read_ms"]]  # type: ignore[index]
    return Window(
        elapsed,
        cpu,
        [float(a["count"]) / float(a["seconds"]) for a in answers],  # type: ignore[arg-type]
        max(latency) if latency else None,
        max(reads) if reads else None,
        list(stats["gc_pauses_s"]),  # type: ignore[call-overload]
        list(stats["stalls_s"]),  # type: ignore[call-overload]
        (
            int(stats["control_cycles"]) - int(before["control_cycles"]),  # type: ignore[call-overload]
            int(stats["control_overruns"]) - int(before["control_overruns"]),  # type: ignore[call-overload]
        )
        if "control_cycles" in stats
        else None,
        (float(stats["changes"]) - float(before["changes"])) / elapsed,  # type: ignore[arg-type]
    )


def median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


async def compare_peer(
    name: str, points: int, workdir: Path, runs: int, window_s: float, paced: bool
) -> dict[str, object]:
    """Start-up, memory, the saturated one-client case and (``paced``) the 3-client case."""
    log_progress(f"{name}: empty server for the memory baseline")
    empty = await start_peer(name, 0, workdir / f"{name}-empty")
    await asyncio.sleep(1.0)
    baseline_kib = rss_kib(empty.pid)
    await empty.server.stop()
    log_progress(f"{name}: {points} points")
    peer = await start_peer(name, points, workdir / name)
    out: dict[str, object] = {"startup_s": peer.startup_s, "build_s": peer.ready["build_s"]}
    clients: list[LineProcess] = []
    try:
        ids_file = workdir / f"{name}-ids.json"
        ids_file.write_text(json.dumps(peer.ready["node_ids"]))
        await asyncio.sleep(1.0)
        out["kb_per_point"] = (rss_kib(peer.pid) - baseline_kib) / points
        clients.append(await start_client(peer, ids_file, read_probe=True))
        await peer.server.ask("mode saturate", reply=False)
        await asyncio.sleep(WARMUP_S)
        saturated = []
        for run in range(runs):
            saturated.append(await window(peer, clients, window_s))
            log_progress(f"{name}: saturated window {run + 1}: {saturated[-1].delivered[0]:.0f}/s")
        delivered = [w.delivered[0] for w in saturated]
        out["delivered_per_s"] = statistics.median(delivered)
        out["cpu_us_per_update"] = median_or_none(
            [
                w.cpu_s / (w.delivered[0] * w.seconds) * 1e6 if w.delivered[0] else None
                for w in saturated
            ]
        )
        out["latency_p99_ms"] = median_or_none([w.read_p99_ms for w in saturated])
        out["saturated_stalls"] = sum(len(w.stalls_s) for w in saturated)
        out["saturated_gc_max_ms"] = max(max(w.gc_pauses_s, default=0) for w in saturated) * 1e3
        if paced:
            await peer.server.ask("mode paced", reply=False)
            try:
                for _ in range(CLIENTS - 1):
                    clients.append(await start_client(peer, ids_file, read_probe=False))
            except (RuntimeError, TimeoutError) as exc:
                log_progress(f"{name}: a client could not subscribe in the paced case: {exc}")
                out["paced_clients_subscribed"] = len(clients)
                return out
            await asyncio.sleep(WARMUP_S)
            windows = []
            for run in range(runs):
                windows.append(await window(peer, clients, window_s))
                log_progress(f"{name}: paced window {run + 1}: {windows[-1].delivered}")
            out["paced_delivered_per_s"] = statistics.median(min(w.delivered) for w in windows)
            out["paced_offered_per_s"] = statistics.median(w.offered for w in windows)
            out["paced_cpu_pct"] = statistics.median(w.cpu_s / w.seconds * 100 for w in windows)
            out["paced_latency_p99_ms"] = median_or_none([w.latency_p99_ms for w in windows])
            out["paced_stalls"] = sum(len(w.stalls_s) for w in windows)
            pauses = [p for w in windows for p in w.gc_pauses_s]
            out["paced_gc_pauses"] = len(pauses)
            control = [w.control for w in windows if w.control is not None]
            if control:
                out["paced_control_cycles"] = sum(c[0] for c in control)
                out["paced_control_overruns"] = sum(c[1] for c in control)
            out["paced_gc_max_ms"] = max(pauses, default=0.0) * 1e3
            out["paced_gc_total_ms_per_s"] = sum(pauses) / sum(w.seconds for w in windows) * 1e3
    finally:
        for client in clients:
            await client.stop()
        await peer.server.stop()
    return out


def log_progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def history_read_ms(runs: int) -> tuple[float, float]:
    """Median ms to HistoryRead one day at 1 s (86,400 values, raw, continuation points after
    34,914 values: the 1 MiB page of a Double) from a server in this process: through an
    asyncua client (also in this process, so its decoding shares the core) and through
    node-opcua in its own process."""
    from ampacity.server.history import enable_history
    from ampacity.storage import Historian, StorageConfig
    from historian import DAY, T0, Clock, day_series  # bench/historian.py

    asyncua_ms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ampacity-bench-") as tmp:
        h = Historian.open(StorageConfig(), Path(tmp), clock=Clock())
        await h.start(background=False)
        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/bench"
        server = Server()
        await server.init()
        server.set_endpoint(endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace("urn:bench")
        node = await server.nodes.objects.add_variable(ua.NodeId("bench.Day", ns), "Day", 0.0)
        try:
            await day_series(h, T0 + DAY * 3)
            await enable_history(server, h, {"bench.Day": node}, ns)
            async with server, Client(endpoint, timeout=120) as client:
                remote = client.get_node(node.nodeid)
                for _ in range(runs):
                    started = time.perf_counter()
                    values = await remote.read_raw_history(T0, T0 + DAY, return_bounds=False)
                    asyncua_ms.append((time.perf_counter() - started) * 1e3)
                    assert len(values) == 86_400, len(values)
                options = {
                    "endpoint": endpoint,
                    "namespace_uri": "urn:bench",
                    "node": "bench.Day",
                    "start": T0.isoformat(),
                    "end": (T0 + DAY).isoformat(),
                    "runs": runs,
                }
                reader = await LineProcess.start(
                    "node", "bench_history.js", json.dumps(options), cwd=NODEOPCUA_DIR
                )
                answer = await reader.answer()
                await reader.stop()
                assert answer["values"] == 86_400, answer
        finally:
            await h.stop()
    node_ms = [s * 1e3 for s in answer["seconds"]]  # type: ignore[attr-defined]
    return statistics.median(asyncua_ms), statistics.median(node_ms)


JSON_KEYS = ("delivered_per_s", "cpu_us_per_update", "kb_per_point", "build_s", "latency_p99_ms")


async def compare(
    points: int,
    peer: str | None,
    runs: int,
    window_s: float,
    as_json: bool,
    only: list[str] | None = None,
) -> None:
    names = ["ampacity", "node-opcua"] if as_json else ["ampacity", "asyncua"]
    if peer and peer not in names:
        names.append(peer)
    if only:
        names = [n for n in names if n in only]
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="ampacity-bench-") as tmp:
        for name in names:
            try:
                results[name] = await compare_peer(
                    name, points, Path(tmp), runs, window_s, paced=not as_json
                )
            except (RuntimeError, TimeoutError, OSError) as exc:
                log_progress(f"{name}: failed: {type(exc).__name__}: {exc}")
                results[name] = {}
    reference = results.get("node-opcua")
    ratio = (
        float(results["ampacity"]["delivered_per_s"]) / float(reference["delivered_per_s"])  # type: ignore[arg-type]
        if reference and results.get("ampacity") and reference.get("delivered_per_s")
        else None
    )
    if as_json:
        out = {
            "points": points,
            "ampacity": {k: results["ampacity"].get(k) for k in JSON_KEYS},
            "node_opcua": {k: results["node-opcua"].get(k) for k in JSON_KEYS},
            "ratio_delivered": ratio,
        }
        print(json.dumps(out))
        return
    history_ms = await history_read_ms(runs) if "ampacity" in names else None
    print_comparison(points, names, results, ratio, history_ms, runs, window_s)


ROWS: tuple[tuple[str, str, str], ...] = (
    ("delivered_per_s", "updates/s delivered to 1 client (server CPU-bound)", "{:,.0f}"),
    ("cpu_us_per_update", "server CPU per delivered update, µs", "{:.1f}"),
    ("kb_per_point", "memory per point (RSS), KB", "{:.1f}"),
    ("build_s", "address space build, s", "{:.2f}"),
    ("startup_s", "start-up until the endpoint serves, s", "{:.1f}"),
    ("latency_p99_ms", "read latency p99 while updating, ms", "{:.0f}"),
    ("saturated_stalls", "event-loop stalls > 100 ms, saturated", "{:.0f}"),
    ("saturated_gc_max_ms", "longest GC pause, saturated, ms", "{:.0f}"),
    ("paced_offered_per_s", f"{CLIENTS} clients, 1 s changes: changes made/s", "{:,.0f}"),
    ("paced_delivered_per_s", f"{CLIENTS} clients, 1 s changes: delivered/s (slowest)", "{:,.0f}"),
    ("paced_cpu_pct", f"{CLIENTS} clients, 1 s changes: server CPU, % of a core", "{:.0f}"),
    ("paced_latency_p99_ms", f"{CLIENTS} clients: change-to-notification p99, ms", "{:.0f}"),
    ("paced_stalls", f"{CLIENTS} clients: event-loop stalls > 100 ms", "{:.0f}"),
    ("paced_gc_max_ms", f"{CLIENTS} clients: longest GC pause, ms", "{:.0f}"),
    ("paced_gc_total_ms_per_s", f"{CLIENTS} clients: GC time, ms per s", "{:.1f}"),
    ("paced_control_cycles", f"{CLIENTS} clients: control cycles run", "{:.0f}"),
    ("paced_control_overruns", f"{CLIENTS} clients: control cycle overruns", "{:.0f}"),
    ("paced_clients_subscribed", f"{CLIENTS} clients: only this many could subscribe", "{:.0f}"),
)


def print_comparison(
    points: int,
    names: list[str],
    results: dict[str, dict[str, object]],
    ratio: float | None,
    history_ms: tuple[float, float] | None,
    runs: int,
    window_s: float,
) -> None:
    print(
        f"Subscription comparison, {points:,} points ({os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}); publishing {PUBLISH_MS:g} ms, queue {QUEUE_SIZE}; "
        f"medians of {runs} windows of {window_s:g} s; clients: node-opcua"
    )
    width = max(len(r[1]) for r in ROWS)
    print(f"{'':<{width}} " + " ".join(f"{n:>12}" for n in names))
    for key, label, fmt in ROWS:
        cells = []
        for name in names:
            value = results[name].get(key)
            cells.append(f"{fmt.format(value) if value is not None else '-':>12}")
        print(f"{label:<{width}} " + " ".join(cells))
    if ratio is not None:
        print(f"Ampacity / node-opcua delivered: {ratio:.2f} (goal >= 0.5)")
    if history_ms is not None:
        print(
            "HistoryRead raw, 86,400 values: "
            f"{history_ms[1]:.0f} ms through node-opcua, {history_ms[0]:.0f} ms through an "
            "asyncua client in the server's process (goal <= 300)"
        )
    paced = PUBLISH_MS + 100
    print(
        f"goals (Ampacity): paced CPU <= 50 %, p99 <= {paced:g} ms, no stall > 100 ms, "
        "<= 6 KB/point, build <= 3 s, start-up <= 10 s"
    )


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
    parser.add_argument(
        "--peer",
        choices=["node-opcua", "asyncua"],
        help="compare subscriptions with a reference server run in the same sitting",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object (with --peer)")
    parser.add_argument(
        "--only", nargs="+", help="with --peer: only these servers (ampacity asyncua node-opcua)"
    )
    args = parser.parse_args()
    FLEET_POLL_S = args.poll
    if args.serve_fleet:
        asyncio.run(serve_fleet(args.serve_fleet, UNITS_PER_ENDPOINT, args.poll))
    elif args.peer or args.json:
        asyncio.run(
            compare(args.points[0], args.peer, args.runs, args.window, args.json, args.only)
        )
    else:
        asyncio.run(main(args.points, args.runs, args.window, args.samples))
