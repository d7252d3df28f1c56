"""The historian's alarms with a real PostgreSQL that goes away (a TCP proxy the test cuts):
DatabaseUnreachable is raised and reaches a subscribed client; when the database is back,
"historian: database back" clears it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alarm_support import (
    PG_DB,
    PG_HOST,
    PG_PORT,
    SITE_ID,
    Events,
    alarm_site,
    drop_schema,
    event_filter,
    pg_user,
    until,
)
from asyncua import ua
from pg_proxy import PostgresProxy

pytestmark = pytest.mark.postgres

UNREACHABLE = f"{SITE_ID}.Historian.DatabaseUnreachable"


@pytest.fixture
async def proxy() -> AsyncIterator[PostgresProxy]:
    running = PostgresProxy(PG_HOST, PG_PORT)
    await running.start()
    yield running
    with contextlib.suppress(Exception):
        await running.cut()


async def test_database_outage_raises_and_clears_the_historian_alarms(
    tmp_path: Path, proxy: PostgresProxy
) -> None:
    user = pg_user()
    if user is None:
        pytest.skip("PostgreSQL is not reachable")
    schema = f"ampacity_alarm_{uuid.uuid4().hex[:10]}"
    storage = {
        "url": f"postgresql+psycopg://{user}@127.0.0.1:{proxy.port}/{PG_DB}",
        "pg_schema": schema,
        "retry_max_s": 1.0,  # the historian tries the database again every second
    }
    try:
        await _outage(tmp_path, proxy, storage)
    finally:
        drop_schema(user, schema)


async def _outage(tmp_path: Path, proxy: PostgresProxy, storage: dict[str, object]) -> None:
    async with alarm_site(tmp_path / "data", storage) as site:
        alarms = site.site.alarms
        assert alarms is not None
        await until(lambda: _connected(site), 30)
        admin = await site.client("admin")
        try:
            events = Events()
            sub = await admin.create_subscription(50, events)
            server = admin.get_node(ua.NodeId(ua.ObjectIds.Server))
            await sub.subscribe_events(server, evfilter=event_filter())
            await proxy.cut()
            unreachable = await events.wait_for(
                lambda e: e["NodeId"] == site.node(UNREACHABLE) and e["ActiveState/Id"], 30
            )
            assert unreachable["Message"].Text.startswith(
                "historian: database unreachable, writing to the disk buffer"
            )
            assert unreachable["SourceNode"] == site.node(f"{SITE_ID}.Historian")
            await proxy.start()  # the same port again
            back = await events.wait_for(
                lambda e: e["NodeId"] == site.node(UNREACHABLE) and e["ActiveState/Id"] is False,
                60,
            )
            assert back["Message"].Text == "historian: database back"
        finally:
            await admin.disconnect()


async def _connected(site) -> bool:  # type: ignore[no-untyped-def]
    return bool(site.site.historian.health().database_connected)
