"""Server memory and a logged-in client's read latency under an unauthenticated memory attack.

    python bench/unauthenticated_memory.py [--rounds 3] [--connections 10] [--mb 100]
    python bench/unauthenticated_memory.py --asyncua-defaults   # the server before issue 17

Starts a configured (secure) site in a child process and attacks it from this one, as in issue
17: per round, ``--connections`` raw TCP connections each send a Hello and then a chunk header
announcing 100 MB followed by its body, and as many send an OpenSecureChannel as endless
intermediate chunks, and as many open a channel (policy None, allowed for discovery) and send
GetEndpoints requests without reading the answers (each from its own loopback address, so that
the per-address cap does not hide what a connection may hold); each tries to send, or to be
answered, ``--mb`` MB. Meanwhile a logged-in viewer
reads a value in a loop. Prints the server's RSS before, at its peak during and after each round,
and the viewer's median read latency before and during the attacks.

``--asyncua-defaults`` runs the same site with asyncua's own transport (100 MB messages, 1,601
chunks, chunk size checked only after the whole chunk arrived, no per-address cap, 30 s
activation timeout) and UserName token policies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "server"))

from asyncua import ua
from security_support import SITE_ID, SecureSite, client_certs, connect
from transport_attack import (
    Target,
    endless_message,
    huge_chunk,
    request_sizes,
    rss_bytes,
    sources,
    unread_responses,
)

MIB = 1024 * 1024


def _serve(data_dir: str, defaults: bool, conn: Any) -> None:
    """Child process: run the site until the parent closes the pipe."""

    async def main() -> None:
        import ampacity.server.app as app
        import ampacity.server.security.server as sec
        from ampacity.server.security import SecurityConfig
        from ampacity.server.security.config import LoginThrottleSettings
        from security_support import start_secure_site

        if defaults:
            import asyncua
            from asyncua.common.connection import TransportLimits

            original = sec.configure_security

            async def configure(server: Any, config: Any) -> Any:
                context = await original(server, config)
                size = 100 * MIB
                server.limits = TransportLimits(65535, 65535, math.ceil(size / 65535), size)
                server.iserver.max_pending_activation_seconds = 30.0
                return context

            app.AmpacityServer = asyncua.Server  # type: ignore[misc]
            app.configure_security = configure  # type: ignore[assignment]
            sec._password_problem = lambda *_args: None  # type: ignore[assignment]
        site = await start_secure_site(
            Path(data_dir),
            SecurityConfig(login_throttle=LoginThrottleSettings(free_failures=100)),
            trusted=[client_certs().trusted.cert],
        )
        conn.send((site.site.config.server.port, site.ns))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await site.site.stop()

    asyncio.run(main())


async def _reads(client: Any, node: Any, until: Any, latencies: list[float]) -> None:
    """Read until ``until()``; a read that fails (the client gives up after 5 s) counts as
    infinitely slow and ends the reading."""
    while not until():
        started = time.perf_counter()
        try:
            await client.get_node(node).read_value()
        except (ConnectionError, TimeoutError, ua.UaError):
            latencies.append(math.inf)
            return
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)


def _all_done(tasks: list[asyncio.Task[int]]) -> Any:
    return lambda: all(t.done() for t in tasks)


async def run(args: argparse.Namespace) -> None:
    client_certs()  # made once, before the child inherits nothing but the folder
    data_dir = tempfile.mkdtemp(prefix="ampacity-bench-memory-")
    parent, child = mp.Pipe()
    process = mp.get_context("fork").Process(
        target=_serve, args=(data_dir, args.asyncua_defaults, child)
    )
    process.start()
    try:
        ready = await asyncio.get_running_loop().run_in_executor(None, parent.poll, 120)
        if not ready:
            raise SystemExit("the server did not start")
        port, ns = parent.recv()
        endpoint = f"opc.tcp://127.0.0.1:{port}/ampacity"
        site = SecureSite(_Fake(endpoint), Path(data_dir), ns)  # type: ignore[arg-type]
        viewer = await connect(site, user="viewer")
        node = site.node(f"{SITE_ID}.FeedInLimit")
        quiet: list[float] = []
        await _reads(viewer, node, lambda: len(quiet) >= 50, quiet)
        target = Target("127.0.0.1", port, endpoint)
        budget = args.mb * MIB
        label = "asyncua defaults" if args.asyncua_defaults else "Ampacity limits"
        print(f"{label}: 3 x {args.connections} connections, {args.mb} MB each")
        print(f"request sizes: {request_sizes()}")
        print(
            f"server RSS at start: {rss_bytes(process.pid) / MIB:.1f} MiB "
            f"(high-water mark {rss_bytes(process.pid, 'VmHWM') / MIB:.1f} MiB)"
        )
        attacked: list[float] = []
        for round_no in range(1, args.rounds + 1):
            before = rss_bytes(process.pid)
            addresses = sources(3 * args.connections)
            tasks = (
                [
                    asyncio.create_task(
                        unread_responses(target, budget, addresses[2 * args.connections + i])
                    )
                    for i in range(args.connections)
                ]
                + [
                    asyncio.create_task(huge_chunk(target, budget, addresses[i]))
                    for i in range(args.connections)
                ]
                + [
                    asyncio.create_task(
                        endless_message(target, budget, addresses[args.connections + i])
                    )
                    for i in range(args.connections)
                ]
            )
            peak = before
            done = _all_done(tasks)
            reader = asyncio.create_task(_reads(viewer, node, done, attacked))
            while not all(t.done() for t in tasks):
                peak = max(peak, rss_bytes(process.pid))
                await asyncio.sleep(0.05)
            await reader
            sent = sum(t.result() for t in tasks)
            await asyncio.sleep(2)
            after = rss_bytes(process.pid)
            high = rss_bytes(process.pid, "VmHWM")
            print(
                f"round {round_no}: RSS before {before / MIB:.1f} MiB, peak {peak / MIB:.1f} MiB "
                f"(+{(peak - before) / MIB:.1f}; high-water mark {high / MIB:.1f} MiB), "
                f"after {after / MIB:.1f} MiB; {sent / MIB:.0f} MiB accepted by the socket"
            )
        with contextlib.suppress(Exception):
            await viewer.disconnect()
        if math.inf in attacked:
            print("viewer: a read failed under attack (no answer within 5 s), client disconnected")
        print(
            f"viewer read latency: median {statistics.median(quiet) * 1e3:.2f} ms quiet, "
            f"{statistics.median(attacked) * 1e3:.2f} ms under attack "
            f"(max {max(attacked) * 1e3:.0f} ms, {len(attacked)} reads)"
        )
    finally:
        parent.send("stop")
        process.join(20)


class _Fake:
    """Just enough of ``RunningSite`` for ``security_support.connect``."""

    def __init__(self, endpoint: str) -> None:
        from ampacity.server.security import SecurityConfig

        server = type("ServerSettings", (), {"endpoint": endpoint})()
        self.config = type("SiteConfig", (), {"server": server, "security": SecurityConfig()})()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--asyncua-defaults", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
