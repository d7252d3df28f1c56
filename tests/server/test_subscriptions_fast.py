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
from ampacity.server import writer as writer_module
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


async def test_a_deadband_set_by_modify_holds_back_small_changes(rig: Rig) -> None:
    """An item subscribed without a filter and given a deadband by ModifyMonitoredItems leaves
    the batched path for asyncua's per-item checks."""
    changes = Changes()
    subscription = await rig.client.create_subscription(20, changes)
    handle = await subscription.subscribe_data_change(rig.client.get_node(rig.site))
    await changes.until(1)
    rig.writer.publish([reading(1.0, Quality.GOOD, 1)])
    await rig.writer.flush()
    await changes.until(2)
    await subscription.modify_monitored_item(handle, 0, mod_filter_val=5)
    values = (2.0, 4.0, 10.0, 12.0, 30.0)
    rig.writer.publish([reading(v, Quality.GOOD, s) for s, v in enumerate(values, start=2)])
    await rig.writer.flush()
    await changes.until(4)
    await asyncio.sleep(0.1)
    assert [v for _, v, _, _ in changes.seen] == [0.0, 1.0, 10.0, 30.0]


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


async def test_items_made_and_deleted_after_a_write_are_routed_anew(rig: Rig) -> None:
    """The writer routes a node's data changes once and keeps the route: an item created after
    the node was written gets the next change, a deleted one no longer does."""
    first, second = Changes(), Changes()
    node = rig.client.get_node(rig.site)
    one = await rig.client.create_subscription(20, first)
    await one.subscribe_data_change(node)
    await first.until(1)
    rig.writer.publish([reading(1.0, Quality.GOOD, 1)])
    await rig.writer.flush()  # the route: one item
    await first.until(2)
    two = await rig.client.create_subscription(20, second)
    handle = await two.subscribe_data_change(node)
    await second.until(1)
    rig.writer.publish([reading(2.0, Quality.GOOD, 2)])
    await rig.writer.flush()
    await first.until(3)
    await second.until(2)
    await two.unsubscribe(handle)
    rig.writer.publish([reading(3.0, Quality.GOOD, 3)])
    await rig.writer.flush()
    await first.until(4)
    await asyncio.sleep(0.1)
    assert [v for _, v, _, _ in first.seen] == [0.0, 1.0, 2.0, 3.0]
    assert [v for _, v, _, _ in second.seen] == [1.0, 2.0]


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


class Received:
    """Every data-change notification of one client, by node: values in arrival order."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}
        self.count = 0
        self.event = asyncio.Event()

    def datachange_notification(self, node, val, data) -> None:  # type: ignore[no-untyped-def]
        self.values.setdefault(node.nodeid.Identifier, []).append(val)
        self.count += 1
        self.event.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(20):
            while self.count < count:
                self.event.clear()
                await self.event.wait()


async def test_a_burst_reaches_several_clients_once_each_through_one_call_per_subscription(
    served: Served, rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three clients over TCP, 40 points, 5 rounds written as one burst: every client gets
    every change exactly once, in order per point, and each subscription got them in batched
    calls (no per-item callback)."""
    points, rounds = 40, 5
    objects = served.server.nodes.objects
    keys = [f"burst{i}" for i in range(points)]
    nodes = []
    for key in keys:
        node = await objects.add_variable(ua.NodeId(f"{key}.ActivePower", served.site_ns), key, 0.0)
        rig.writer.add_slot(f"{key}.ActivePower", node.nodeid, POWER)
        nodes.append(node)
    batch_sizes: list[int] = []
    per_item = 0
    data_changes = FastMonitoredItemService.data_changes
    datachange_callback = FastMonitoredItemService.datachange_callback

    async def counted_batch(self: FastMonitoredItemService, changes: list[Any]) -> None:
        batch_sizes.append(len(changes))
        await data_changes(self, changes)

    async def counted_item(self: FastMonitoredItemService, *args: Any) -> None:
        nonlocal per_item
        per_item += 1
        await datachange_callback(self, *args)

    clients = []
    received = [Received() for _ in range(3)]
    try:
        for seen in received:
            client = Client(served.client.server_url.geturl(), timeout=10)
            await client.connect()
            clients.append(client)
            subscription = await client.create_subscription(50, seen)
            await subscription._subscribe(
                [client.get_node(n.nodeid) for n in nodes], ua.AttributeIds.Value, None, 10
            )
        for seen in received:
            await seen.until(points)  # the initial values
        monkeypatch.setattr(FastMonitoredItemService, "data_changes", counted_batch)
        monkeypatch.setattr(FastMonitoredItemService, "datachange_callback", counted_item)
        rig.writer.publish(
            [
                Reading(key, "ActivePower", float(r * 100 + i), Quality.GOOD, T0)
                for r in range(1, rounds + 1)
                for i, key in enumerate(keys)
            ]
        )
        await rig.writer.flush()
        for seen in received:
            await seen.until(points * (1 + rounds))
        await asyncio.sleep(0.2)  # nothing more arrives
    finally:
        for client in clients:
            await client.disconnect()
    expected = {
        f"{key}.ActivePower": [0.0] + [float(r * 100 + i) for r in range(1, rounds + 1)]
        for i, key in enumerate(keys)
    }
    for seen in received:
        assert seen.values == expected
    assert per_item == 0
    assert sum(batch_sizes) == 3 * points * rounds
    # one call per subscription per slice of the writer (at most SLICE_CHECK readings apart)
    assert len(batch_sizes) <= 3 * -(-points * rounds // writer_module.SLICE_CHECK)


async def test_an_item_with_a_deadband_falls_back_to_the_per_item_path_in_a_batch(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One subscription with a deadband item and a plain item on the same node: in one batch
    the deadband item goes through asyncua's per-item checks (small steps held back), the
    plain item gets every change."""
    plain, filtered = Changes(), Changes()
    subscription = await rig.client.create_subscription(20, plain)
    deadband = ua.DataChangeFilter(
        Trigger=ua.DataChangeTrigger.StatusValue,
        DeadbandType=ua.DeadbandType.Absolute,
        DeadbandValue=5.0,
    )
    node = rig.client.get_node(rig.site)
    await subscription._subscribe(node, ua.AttributeIds.Value, None, 10)
    other = await rig.client.create_subscription(20, filtered)
    await other._subscribe(node, ua.AttributeIds.Value, deadband, 10)
    await plain.until(1)
    await filtered.until(1)
    per_item: list[int] = []
    datachange_callback = FastMonitoredItemService.datachange_callback

    async def counted_item(self: FastMonitoredItemService, handle: int, *args: Any) -> None:
        per_item.append(handle)
        await datachange_callback(self, handle, *args)

    monkeypatch.setattr(FastMonitoredItemService, "datachange_callback", counted_item)
    values = (2.0, 4.0, 10.0, 12.0, 30.0)
    rig.writer.publish([reading(v, Quality.GOOD, s) for s, v in enumerate(values, start=1)])
    await rig.writer.flush()
    await plain.until(1 + len(values))
    await filtered.until(3)
    await asyncio.sleep(0.1)
    assert [v for _, v, _, _ in plain.seen[1:]] == list(values)
    assert [v for _, v, _, _ in filtered.seen[1:]] == [10.0, 30.0]
    assert len(per_item) == len(values)  # only the deadband item's changes, one call each


async def test_a_plain_filter_is_told_apart_from_one_that_holds_changes_back() -> None:
    assert subscriptions.is_plain_filter(None)
    assert subscriptions.is_plain_filter(ua.ExtensionObject())  # node-opcua's "no filter"
    assert subscriptions.is_plain_filter(
        ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue)  # no deadband
    )
    assert not subscriptions.is_plain_filter(ua.DataChangeFilter())  # the Status trigger
    assert not subscriptions.is_plain_filter(
        ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
    )
    assert not subscriptions.is_plain_filter(
        ua.DataChangeFilter(DeadbandType=ua.DeadbandType.Absolute, DeadbandValue=1.0)
    )
