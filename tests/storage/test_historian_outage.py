"""A PostgreSQL outage mid-ingest, and a restart during it, lose no sample.

The historian talks to PostgreSQL through a TCP proxy on loopback that the test controls:
cutting it drops every connection and refuses new ones, as a server that went away.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ampacity.assets import SPECS, AssetKind
from ampacity.storage import Historian, RecordingPolicy, StorageConfig
from historian_testkit import PG_HOST, PG_PORT, FakeClock, at, pg_url
from pg_proxy import PostgresProxy

pytestmark = pytest.mark.postgres

POWER = SPECS[AssetKind.PV_INVERTER].point("ActivePower")
KEY = "pv1.ActivePower"


async def flush_until_written(h: Historian, tries: int = 5) -> bool:
    for _ in range(tries):
        if await h.flush():
            return True
    return False


async def test_outage_and_restart_lose_no_sample(pg: tuple[str, str], tmp_path: Path) -> None:
    user, schema = pg
    proxy = PostgresProxy(PG_HOST, PG_PORT)
    await proxy.start()
    config = StorageConfig(url=pg_url(user, proxy.port), pg_schema=schema, fsync=False)
    clock = FakeClock(at(0))
    data = tmp_path / "data"
    h = Historian.open(config, data, clock=clock)
    await h.start(background=False)
    h.register_series(KEY, POWER, RecordingPolicy())
    n = 0

    def record(count: int) -> None:
        nonlocal n
        for _ in range(count):
            clock.now = at(n)
            h.record(KEY, float(n), 0, at(n), at(n))
            n += 1

    record(1000)
    assert await h.flush()

    # the server goes away while a large batch is on its way in
    record(50_000)
    writing = asyncio.create_task(h.flush())
    await asyncio.sleep(0.02)
    await proxy.cut()
    await writing  # committed before the cut or not at all: either way nothing is lost
    record(2000)
    assert not await h.flush()
    health = h.health()
    assert not health.database_connected
    assert health.last_error
    assert health.buffered >= 2000
    assert health.oldest_buffered is not None and health.oldest_buffered <= at(n - 2000)
    assert health.buffer_bytes > 0

    # the historian restarts while the database is still away: the buffer is on disk
    await h.stop(timeout_s=1.0)
    h = Historian.open(config, data, clock=clock)
    h.register_series(KEY, POWER, RecordingPolicy())
    await h.start(background=False)
    assert h.health().buffered >= 2000
    record(500)

    await proxy.restore()
    assert await flush_until_written(h)
    health = h.health()
    assert health.database_connected and health.buffered == 0 and health.dropped == 0

    values: list[float] = []
    resume = None
    while True:
        page = await h.read_raw(KEY, at(0), at(n + 1), resume_t=resume)
        values += [float(v.value) for v in page.values]  # type: ignore[arg-type]
        if page.next_t is None:
            break
        resume = page.next_t
    assert values == [float(i) for i in range(n)]  # every sample, once, in order
    await h.stop()
    await proxy.cut()
