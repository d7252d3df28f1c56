"""The Python servers of the subscription benchmark (``bench/datapath.py --peer``).

Each runs in a process of its own and speaks the line protocol of the node-opcua reference server
(``tests/nodeopcua/bench_server.js``): N Double points, 12 to an object, changed on command.

* ``ampacity``: a site built by ``start_site`` (address space, historian, GC freeze, the
  subscription fast path) whose N meter points are fed through its node writer;
* ``asyncua``: stock asyncua: N variables with EngineeringUnits and EURange properties, written
  with ``Server.write_attribute_value``.

    stdout, once ready: {"ready": true, "build_s": s, "namespace_uri": ..., "node_ids": [...]}
    stdin "mode paced|saturate|idle", "stats" -> {"changes", "gc_pauses_s", "stalls_s"}

    python bench/subscription_peers.py ampacity|asyncua POINTS PORT WORKDIR
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ampacity.assets import AssetKind, PointValue, Quality, Reading, WriteResult
from ampacity.drivers.base import AssetInfo
from ampacity.server.loopwatch import GcPauses, LoopStalls, freeze_long_lived
from asyncua import Server, ua

POINTS = (
    "ActivePower",
    "ActivePowerL1",
    "ActivePowerL2",
    "ActivePowerL3",
    "CurrentL1",
    "CurrentL2",
    "CurrentL3",
    "VoltageL1",
    "VoltageL2",
    "VoltageL3",
    "Frequency",
    "ReactivePower",
)
"""The 12 points of a bench meter (those the Janitza profile polls)."""
ASYNCUA_NS = "urn:ampacity:bench:asyncua"


class BenchMeter:
    """A driver with one meter whose readings the bench feeds into the node writer itself."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.assets = (AssetInfo(device_id, AssetKind.ELECTRICITY_METER, POINTS),)

    async def run(self, sink: Any) -> None:
        await asyncio.Event().wait()

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        raise NotImplementedError("bench meters are read-only")


class Feeder:
    """Changes every point: once a second (``paced``) or round after round (``saturate``)."""

    def __init__(self, apply: Any, keys: list[str]) -> None:
        self.apply = apply
        self.keys = keys
        self.mode = "idle"
        self.changes = 0
        self.round = 0
        self._wake = asyncio.Event()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        ticking = self.mode
        while True:
            if self.mode == "idle":
                self._wake.clear()
                await self._wake.wait()
                next_tick = loop.time()
                continue
            if self.mode != ticking:
                # a new mode counts its seconds from now: coming from "saturate", the paced
                # rounds would otherwise catch up every second since the last tick, flat out
                ticking, next_tick = self.mode, loop.time()
            if self.mode == "paced":
                next_tick += 1.0
            self.round += 1
            await self.apply(self.round, datetime.now(UTC))
            self.changes += len(self.keys)
            if self.mode == "paced":
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
            else:
                await asyncio.sleep(0)


async def ampacity_server(points: int, port: int, workdir: Path) -> tuple[Feeder, dict[str, Any]]:
    from ampacity.server.app import start_site
    from ampacity.server.config import SiteConfig

    drivers = [BenchMeter(f"meter{i:05d}") for i in range(math.ceil(points / len(POINTS)))]
    config = SiteConfig.model_validate(
        {
            "site": {"id": "bench", "name": "Subscription benchmark"},
            "server": {"host": "127.0.0.1", "port": port, "data_dir": str(workdir / "data")},
            "devices": [],
            "security": {"allow_none": True, "anonymous": "viewer", "anonymous_on_none": "viewer"},
        }
    )
    if drivers:  # the control cycle runs beside the data path (its overruns are part of the goal)
        from ampacity.control import ControlConfig

        config.control = ControlConfig.model_validate({"grid_meter": drivers[0].device_id})
    started = time.perf_counter()
    site = await start_site(config, drivers)
    build_s = time.perf_counter() - started
    keys = [f"{d.device_id}.{p}" for d in drivers for p in POINTS][:points]
    splits = [tuple(k.split(".", 1)) for k in keys]
    writer = site.writer

    async def apply(round_: int, now: datetime) -> None:
        writer.publish(
            [
                Reading(asset, point, float(round_ * 1000 + i), Quality.GOOD, now)
                for i, (asset, point) in enumerate(splits)
            ]
        )
        await writer.flush()

    ready = {"build_s": build_s, "namespace_uri": config.site.namespace_uri, "node_ids": keys}
    if site.control is not None:
        ready["_control"] = site.control.cycle
    if hasattr(site, "gc_pauses"):
        ready["_watch"] = (site.gc_pauses, site.loop_stalls)
    else:  # a checkout from before the site measured itself (a before/after comparison)
        ready["_watch"] = watch()
    return Feeder(apply, keys), ready


def watch() -> tuple[GcPauses, LoopStalls]:
    gc_pauses = GcPauses().install()
    stalls = LoopStalls()
    task = asyncio.get_running_loop().create_task(stalls.run())
    _keep.add(task)
    return gc_pauses, stalls


_keep: set[asyncio.Task[None]] = set()


async def asyncua_server(points: int, port: int, workdir: Path) -> tuple[Feeder, dict[str, Any]]:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(ASYNCUA_NS)
    started = time.perf_counter()
    objects = server.nodes.objects
    node_ids: list[ua.NodeId] = []
    keys: list[str] = []
    eu = ua.EUInformation(
        NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
        UnitId=5723475,
        DisplayName=ua.LocalizedText("W"),
    )
    for meter in range(math.ceil(points / len(POINTS))):
        name = f"meter{meter:05d}"
        parent = await objects.add_object(ua.NodeId(name, ns), ua.QualifiedName(name, ns))
        for point in POINTS[: points - meter * len(POINTS)]:
            key = f"{name}.{point}"
            var = await parent.add_variable(
                ua.NodeId(key, ns), ua.QualifiedName(point, ns), 0.0, ua.VariantType.Double
            )
            await var.add_property(ns, "EngineeringUnits", eu)
            await var.add_property(ns, "EURange", ua.Range(Low=-1e9, High=1e9))
            node_ids.append(var.nodeid)
            keys.append(key)
    build_s = time.perf_counter() - started
    await server.start()
    gc_pauses, stalls = watch()
    freeze_long_lived()  # the same advantage as Ampacity's server

    async def apply(round_: int, now: datetime) -> None:
        for i, node_id in enumerate(node_ids):
            await server.write_attribute_value(
                node_id,
                ua.DataValue(
                    ua.Variant(float(round_ * 1000 + i), ua.VariantType.Double),
                    SourceTimestamp=now,
                    ServerTimestamp=now,
                ),
            )

    ready: dict[str, Any] = {"build_s": build_s, "namespace_uri": ASYNCUA_NS, "node_ids": keys}
    ready["_watch"] = (gc_pauses, stalls)
    return Feeder(apply, keys), ready


async def serve(kind: str, points: int, port: int, workdir: Path) -> None:
    make = ampacity_server if kind == "ampacity" else asyncua_server
    feeder, ready = await make(points, port, workdir)
    gc_pauses, stalls = ready.pop("_watch")
    cycle = ready.pop("_control", None)
    print(json.dumps({"ready": True, **ready}), flush=True)
    feed = asyncio.create_task(feeder.run())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gc_mark, stall_mark = gc_pauses.total_count, stalls.count
    profile = cProfile.Profile()
    while line := await reader.readline():
        command, _, argument = line.decode().strip().partition(" ")
        if command == "mode":
            feeder.set_mode(argument)
        elif command == "profile":  # "profile start", "profile <file>": cProfile of the server
            if argument == "start":
                profile = cProfile.Profile()
                profile.enable()
            else:
                profile.disable()
                profile.dump_stats(argument)
                print(json.dumps({"profile": argument}), flush=True)
        elif command == "stats":
            new_stalls = list(stalls.stalls)[len(stalls.stalls) - (stalls.count - stall_mark) :]
            out = {
                "changes": feeder.changes,
                "gc_pauses_s": gc_pauses.pauses_since(gc_mark),
                "stalls_s": new_stalls if stalls.count > stall_mark else [],
            }
            if cycle is not None:
                out["control_cycles"] = cycle.stats.cycles
                out["control_overruns"] = cycle.stats.overruns
                out["control_last_s"] = cycle.stats.last_duration_s
            gc_mark, stall_mark = gc_pauses.total_count, stalls.count
            print(json.dumps(out), flush=True)
    feed.cancel()


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])))
