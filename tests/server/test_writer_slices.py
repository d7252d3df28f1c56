"""A flush of a large burst lets the event loop run between slices, and still applies every
reading in order; and what the loop watch measures (GC pauses, stalls, frozen objects)."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ampacity.assets import SPECS, AssetKind, Quality, Reading
from ampacity.server import writer as writer_module
from ampacity.server.app import start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.loopwatch import (
    YOUNG_THRESHOLD,
    GcPauses,
    LoopStalls,
    collector_paused,
    freeze_long_lived,
)
from ampacity.server.security import SecurityConfig
from ampacity.server.writer import NodeWriter
from asyncua import Server, ua

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POWER = SPECS[AssetKind.ELECTRICITY_METER].point("ActivePower")
POINTS = 40


async def test_a_burst_is_applied_in_slices_with_the_loop_running_between_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_module, "SLICE_S", 0.0)  # every look at the clock ends a slice
    server = Server()
    await server.init()
    ns = await server.register_namespace("urn:test:slices")
    writer = NodeWriter(server.iserver.aspace)
    for i in range(POINTS):
        node = await server.nodes.objects.add_variable(ua.NodeId(f"m{i}.ActivePower", ns), "P", 0.0)
        writer.add_slot(f"m{i}.ActivePower", node.nodeid, POWER)
    burst = [
        Reading(f"m{n % POINTS}", "ActivePower", float(n), Quality.GOOD, T0)
        for n in range(10 * writer_module.SLICE_CHECK)
    ]
    seen_by_other_task: list[int] = []

    async def other_task() -> None:
        while writer.applied < len(burst):
            seen_by_other_task.append(writer.applied)
            await asyncio.sleep(0)

    writer.publish(burst)
    await asyncio.gather(writer.flush(), other_task())
    assert writer.applied == len(burst)
    between = [n for n in seen_by_other_task if 0 < n < len(burst)]
    assert between, "the loop never ran during the flush"
    assert all(n % writer_module.SLICE_CHECK == 0 for n in between)  # at slice ends only
    aspace = server.iserver.aspace
    for i in range(POINTS):  # the last reading of each point won
        dv = aspace.read_attribute_value(ua.NodeId(f"m{i}.ActivePower", ns), ua.AttributeIds.Value)
        assert dv.Value.Value == float(len(burst) - POINTS + i)


async def test_a_change_s_server_time_is_never_before_its_reading_was_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer takes one server time for up to ``SLICE_CHECK`` changes: readings published
    while a flush lets the loop run (their source time = when published) get a later one."""
    monkeypatch.setattr(writer_module, "SLICE_S", 0.0)  # every look at the clock ends a slice
    server = Server()
    await server.init()
    ns = await server.register_namespace("urn:test:server-time")
    writer = NodeWriter(server.iserver.aspace)
    aspace = server.iserver.aspace
    node_ids = {}
    for i in range(POINTS):
        key = f"m{i}.ActivePower"
        node = await server.nodes.objects.add_variable(ua.NodeId(key, ns), "P", 0.0)
        writer.add_slot(key, node.nodeid, POWER)
        node_ids[key] = node.nodeid
    written: list[ua.DataValue] = []
    writer.add_listener(
        lambda r: written.append(
            aspace.read_attribute_value(node_ids[r.node_key], ua.AttributeIds.Value)
        )
    )

    def publish_round(n: int) -> None:
        now = datetime.now(UTC)
        writer.publish(
            [
                Reading(f"m{i}", "ActivePower", float(n * POINTS + i), Quality.GOOD, now)
                for i in range(POINTS)
            ]
        )

    async def publisher() -> None:
        for n in range(4):
            await asyncio.sleep(0)  # runs while the flush yields between slices
            publish_round(n)

    for n in range(-4, 0):  # a burst of several slices first
        publish_round(n)
    await asyncio.gather(writer.flush(), publisher())
    await writer.flush()
    assert len(written) == 8 * POINTS
    late = [dv for dv in written if dv.SourceTimestamp > dv.ServerTimestamp]
    assert not late


def test_gc_pauses_are_measured_by_generation() -> None:
    pauses = GcPauses().install()
    try:
        mark = pauses.total_count
        gc.collect()
        gc.collect(0)
    finally:
        pauses.uninstall()
    assert pauses.count[2] >= 1 and pauses.count[0] >= 1
    new = pauses.pauses_since(mark)
    assert len(new) >= 2 and all(p >= 0 for p in new)
    assert pauses.max_s[2] == max(p for g, p in pauses.recent if g == 2)
    gc.collect()
    assert pauses.total_count == mark + len(new)  # uninstalled: no more records


def test_freezing_exempts_what_lives_now_and_unfreeze_returns_it() -> None:
    try:
        freeze_long_lived()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_freezing_without_collecting_runs_no_collection() -> None:
    runs: list[str] = []

    def record(phase: str, info: dict[str, int]) -> None:
        runs.append(phase)

    enabled = gc.isenabled()
    gc.disable()  # as during start-up: no automatic run may mix in
    gc.callbacks.append(record)
    try:
        kept = [[i] for i in range(1000)]  # tracked objects alive now
        freeze_long_lived(collect=False)
        assert runs == []
        assert gc.get_freeze_count() >= len(kept)
        gc.unfreeze()
        freeze_long_lived()
        assert runs == ["start", "stop"]  # by default: one collection first
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()
        if enabled:
            gc.enable()


async def test_a_blocked_loop_is_recorded_as_a_stall() -> None:
    stalls = LoopStalls(probe_s=0.001, limit_s=0.02)
    task = asyncio.create_task(stalls.run())
    await asyncio.sleep(0.01)
    time.sleep(0.05)  # noqa: ASYNC251 (blocks the loop on purpose)
    await asyncio.sleep(0.01)
    task.cancel()
    assert stalls.count == 1
    assert 0.02 < stalls.stalls[0] < 1.0


def test_collector_paused_holds_automatic_runs_and_restores_the_state_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("start-up failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # disabled before: left disabled
    finally:
        gc.enable()


async def test_start_up_runs_no_collection_and_leaves_the_collector_on(tmp_path: Path) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
    serve, nobody = ports  # no device answers on ``nobody``: start-up only
    config = SiteConfig.model_validate(
        {
            "site": {"id": "plant"},
            "server": {"port": serve, "data_dir": str(tmp_path)},
            "devices": [
                {"id": f"m{i}", "profile": "janitza_umg604", "host": "127.0.0.1", "port": nobody}
                for i in range(3)
            ],
            "security": SecurityConfig.demo().model_dump(),
        }
    )
    context = build_context(config)
    drivers = await build_drivers(config, context)
    runs: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            runs.append(info["generation"])

    gc.callbacks.append(record)
    thresholds = gc.get_threshold()
    try:
        site = await start_site(config, drivers)
        serving = gc.get_threshold()
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()  # the rest of the test session collects as usual
        gc.set_threshold(*thresholds)
    try:
        assert runs == []  # neither automatic runs nor a full one before freezing
        assert gc.isenabled()
        # serving, the youngest generation is collected less often, the others as before
        assert serving == (YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        await site.stop()
        await context.aclose()


async def test_a_stopped_site_is_freed_with_its_address_space(tmp_path: Path) -> None:
    """Nothing process-wide keeps a stopped site's server: once the caller lets it go, the server
    and its address space are collected (a process that starts sites again, as a test session
    does, does not grow by an address space per site; it once did through the security context)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = SiteConfig.model_validate(
        {
            "site": {"id": "plant"},
            "server": {"port": port, "data_dir": str(tmp_path)},
            "security": SecurityConfig.demo().model_dump(),
        }
    )
    context = build_context(config)
    site = await start_site(config, await build_drivers(config, context))
    await site.stop()
    await context.aclose()
    server, aspace = weakref.ref(site.server), weakref.ref(site.server.iserver.aspace)
    del site
    gc.collect()
    assert server() is None and aspace() is None
