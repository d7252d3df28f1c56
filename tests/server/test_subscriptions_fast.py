"""The subscription fast path: a client over TCP sees exactly what asyncua's own path sends
(every change, in order, with its status and timestamps; filters and deadbands as before), and
the site's DataValues are shared instead of copied."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from ampacity.assets import SPECS, AssetKind, Quality, Reading
from ampacity.server import subscriptions
from ampacity.server.subscriptions import FastMonitoredItemService, install_fast_subscriptions
from ampacity.server.writer import NodeWriter
from asyncua import Client, Server, ua

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POWER = SPECS[AssetKind.ELECTRICITY_METER].point("ActivePower")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Served:
    server: Server
    client: Client
    site_ns: int
    other_ns: int


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served() -> AsyncIterator[Served]:
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/fast"
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    site_ns = await server.register_namespace("urn:test:site")
    other_ns = await server.register_namespace("urn:test:other")
    install_fast_subscriptions(server, {site_ns})
    async with server:
        client = Client(endpoint, timeout=10)
        async with client:
            yield Served(server, client, site_ns, other_ns)


@dataclass
class Rig:
    server: Server
    client: Client
    writer: NodeWriter
    site: ua.NodeId
    other: ua.NodeId
    """A variable outside the site namespace (asyncua's own path, with its copy)."""


@pytest_asyncio.fixture(loop_scope="module")
async def rig(served: Served, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """Fresh variables (0.0) for each test; the subscriptions it made are deleted after it."""
    name = request.node.name
    objects = served.server.nodes.objects
    site = await objects.add_variable(ua.NodeId(f"m.{name}", served.site_ns), name, 0.0)
    other = await objects.add_variable(ua.NodeId(f"x.{name}", served.other_ns), name, 0.0)
    writer = NodeWriter(served.server.iserver.aspace)
    writer.add_slot("m.ActivePower", site.nodeid, POWER)
    service = served.server.iserver.subscription_service
    before = set(service.subscriptions)
    yield Rig(served.server, served.client, writer, site.nodeid, other.nodeid)
    await service.delete_subscriptions([s for s in service.subscriptions if s not in before])


def new_subscriptions(rig: Rig) -> list[Any]:
    """The server's subscriptions that monitor this test's site variable."""
    subscriptions = rig.server.iserver.subscription_service.subscriptions.values()
    return [
        s
        for s in subscriptions
        if any(
            m.read_value_id.NodeId == rig.site
            for m in s.monitored_item_srv._monitored_items.values()
        )
    ]


class Changes:
    """Collects data-change notifications: (node, value, status, source timestamp)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object, int, datetime | None]] = []
        self.event = asyncio.Event()

    def datachange_notification(self, node, val, data) -> None:  # type: ignore[no-untyped-def]
        dv = data.monitored_item.Value
        self.seen.append((node.nodeid.Identifier, val, dv.StatusCode.value, dv.SourceTimestamp))
        self.event.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.seen) < count:
                self.event.clear()
                await self.event.wait()


def reading(value: float | None, quality: Quality, second: int) -> Reading:
    return Reading("m", "ActivePower", value, quality, T0 + timedelta(seconds=second))


async def test_every_change_arrives_in_order_with_status_and_source_time(rig: Rig) -> None:
    changes = Changes()
    subscription = await rig.client.create_subscription(20, changes)
    await subscription.subscribe_data_change(rig.client.get_node(rig.site))
    await changes.until(1)  # the initial value
    rig.writer.publish(
        [
            reading(100.0, Quality.GOOD, 1),
            reading(100.0, Quality.GOOD, 2),  # same value: no notification
            reading(100.0, Quality.UNCERTAIN_LAST_USABLE, 3),  # status change: one
            reading(-250.5, Quality.GOOD, 4),
        ]
    )
    await rig.writer.flush()
    await changes.until(4)
    await asyncio.sleep(0.1)  # nothing more arrives
    key = rig.site.Identifier
    assert changes.seen[1:] == [
        (key, 100.0, 0, T0 + timedelta(seconds=1)),
        (key, 100.0, ua.StatusCodes.UncertainLastUsableValue, T0 + timedelta(seconds=3)),
        (key, -250.5, 0, T0 + timedelta(seconds=4)),
    ]


async def test_the_site_values_are_shared_and_other_namespaces_copied(rig: Rig) -> None:
    changes = Changes()
    subscription = await rig.client.create_subscription(20, changes)
    await subscription.subscribe_data_change(
        [rig.client.get_node(rig.site), rig.client.get_node(rig.other)]
    )
    await changes.until(2)
    rig.writer.publish([reading(42.0, Quality.GOOD, 1)])
    await rig.writer.flush()
    await rig.server.write_attribute_value(rig.other, ua.DataValue(ua.Variant(7.0)))
    await changes.until(4)
    (internal,) = new_subscriptions(rig)
    service = internal.monitored_item_srv
    assert isinstance(service, FastMonitoredItemService)
    stored = {
        rig.site: rig.server.iserver.aspace.read_attribute_value(rig.site, ua.AttributeIds.Value),
        rig.other: rig.server.iserver.aspace.read_attribute_value(rig.other, ua.AttributeIds.Value),
    }
    items = {m.read_value_id.NodeId: m for m in service._monitored_items.values()}
    assert items[rig.site].mvalue.current_dvalue is stored[rig.site]
    assert items[rig.other].mvalue.current_dvalue is not stored[rig.other]
    assert items[rig.other].mvalue.current_dvalue == stored[rig.other]
    assert sorted(v for _, v, _, _ in changes.seen[2:]) == [7.0, 42.0]


async def test_a_deadband_filter_still_holds_back_small_changes(rig: Rig) -> None:
    changes = Changes()
    subscription = await rig.client.create_subscription(20, changes)
    deadband = ua.DataChangeFilter(
        Trigger=ua.DataChangeTrigger.StatusValue,
        DeadbandType=ua.DeadbandType.Absolute,
        DeadbandValue=5.0,
    )
    await subscription._subscribe(
        rig.client.get_node(rig.site),
        ua.AttributeIds.Value,
        deadband,
        queuesize=0,
    )
    await changes.until(1)
    for second, value in enumerate((2.0, 4.0, 10.0, 12.0, 30.0), start=1):
        rig.writer.publish([reading(value, Quality.GOOD, second)])
        await rig.writer.flush()
    await changes.until(3)
    await asyncio.sleep(0.1)
    assert [v for _, v, _, _ in changes.seen[1:]] == [10.0, 30.0]


async def test_a_deleted_item_no_longer_notifies(rig: Rig) -> None:
    changes = Changes()
    subscription = await rig.client.create_subscription(20, changes)
    handle = await subscription.subscribe_data_change(rig.client.get_node(rig.site))
    await changes.until(1)
    await subscription.unsubscribe(handle)
    rig.writer.publish([reading(5.0, Quality.GOOD, 1)])
    await rig.writer.flush()
    await asyncio.sleep(0.1)
    assert len(changes.seen) == 1
    service = rig.server.iserver.subscription_service
    (internal,) = [
        s
        for s in service.subscriptions.values()
        if s.data.SubscriptionId == subscription.subscription_id
    ]
    assert internal.monitored_item_srv._shared_handles == set()


@pytest.mark.parametrize("queue", [1, 3])
async def test_a_queue_keeps_the_newest_changes_between_publishes(rig: Rig, queue: int) -> None:
    changes = Changes()
    subscription = await rig.client.create_subscription(200, changes)
    await subscription._subscribe(
        rig.client.get_node(rig.site), ua.AttributeIds.Value, None, queuesize=queue
    )
    await changes.until(1)
    rig.writer.publish([reading(float(v), Quality.GOOD, v) for v in range(1, 6)])
    await rig.writer.flush()
    await changes.until(1 + queue)
    await asyncio.sleep(0.3)
    assert [v for _, v, _, _ in changes.seen[1:]] == [float(v) for v in range(6 - queue, 6)]


async def test_a_large_subscription_is_frozen_out_of_garbage_collection(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscriptions, "FREEZE_AFTER_ITEMS", 2)
    monkeypatch.setattr(subscriptions, "FREEZE_DELAY_S", 0.0)
    frozen = asyncio.Event()
    freeze = gc.freeze

    def observed_freeze() -> None:
        freeze()
        frozen.set()

    monkeypatch.setattr(gc, "freeze", observed_freeze)
    gc.unfreeze()
    try:
        changes = Changes()
        subscription = await rig.client.create_subscription(20, changes)
        await subscription.subscribe_data_change(rig.client.get_node(rig.site))
        await asyncio.sleep(0.05)
        assert not frozen.is_set()  # one item: nothing to freeze
        await subscription.subscribe_data_change(
            [rig.client.get_node(rig.site), rig.client.get_node(rig.other)]
        )
        async with asyncio.timeout(5):
            await frozen.wait()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
