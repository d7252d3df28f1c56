"""Nodes created in bulk with shared attributes look to a client exactly like asyncua's AddNodes
ones, and a write to one of them never shows on another (copy on write)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from ampacity.server.nodestore import BulkNodes, add_references, write_unwatched
from asyncua import Client, Server, ua

NS_URI = "urn:ampacity:test:nodestore"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def variable_item(node_id: ua.NodeId, parent: ua.NodeId, ns: int) -> ua.AddNodesItem:
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText("ActivePower")
    attrs.Description = ua.LocalizedText("W, + import")
    attrs.DataType = ua.NodeId(ua.ObjectIds.Double)
    attrs.ValueRank = -1
    attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.Value = ua.Variant(ua.Range(Low=0.0, High=100.0), ua.VariantType.ExtensionObject)
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = node_id
    item.BrowseName = ua.QualifiedName("ActivePower", ns)
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.BaseDataVariableType)
    item.NodeAttributes = attrs
    return item


def property_item(node_id: ua.NodeId, parent: ua.NodeId, ns: int) -> ua.AddNodesItem:
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText("Unit")
    attrs.DataType = ua.NodeId(ua.ObjectIds.String)
    attrs.ValueRank = -1
    attrs.Value = ua.Variant("W", ua.VariantType.String)
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = node_id
    item.BrowseName = ua.QualifiedName("Unit", ns)
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.PropertyType)
    item.NodeAttributes = attrs
    return item


class Site:
    def __init__(self, server: Server, client: Client, ns: int) -> None:
        self.server, self.client, self.ns = server, client, ns

    def id(self, key: str) -> ua.NodeId:
        return ua.NodeId(key, self.ns)


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Site]:
    """asyncua builds ``plain.P`` (AddNodes), the bulk path ``bulk0.P`` .. ``bulk2.P``, all
    from the same item, each under an object of its own."""
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/nodestore"
    server.set_endpoint(endpoint)
    ns = await server.register_namespace(NS_URI)
    objects = server.get_node(ua.ObjectIds.ObjectsFolder)
    parents = ["plain", "bulk0", "bulk1", "bulk2"]
    for name in parents:
        await objects.add_object(ua.NodeId(name, ns), ua.QualifiedName(name, ns))
    plain = variable_item(ua.NodeId("plain.P", ns), ua.NodeId("plain", ns), ns)
    unit = property_item(ua.NodeId("plain.P.Unit", ns), plain.RequestedNewNodeId, ns)
    for result in server.iserver.node_mgt_service.add_nodes([plain, unit]):
        assert result.StatusCode.is_good()
    bulk = BulkNodes(server.iserver.aspace)
    shape = bulk.shape(variable_item(ua.NodeId("bulk0.P", ns), ua.NodeId("bulk0", ns), ns))
    unit_shape = bulk.shape(property_item(ua.NodeId("bulk0.P.Unit", ns), ua.NodeId(), ns))
    for name in parents[1:]:
        bulk.add(ua.NodeId(f"{name}.P", ns), ua.NodeId(name, ns), plain.ReferenceTypeId, shape)
        # a child of a node made in the same commit
        bulk.add(
            ua.NodeId(f"{name}.P.Unit", ns),
            ua.NodeId(f"{name}.P", ns),
            unit.ReferenceTypeId,
            unit_shape,
        )
    bulk.commit()
    await server.start()
    client = Client(endpoint, timeout=10)
    await client.connect()
    try:
        yield Site(server, client, ns)
    finally:
        await client.disconnect()
        await server.stop()


async def read_all(client: Client, node_id: ua.NodeId) -> dict[ua.AttributeIds, ua.DataValue]:
    node = client.get_node(node_id)
    values = await node.read_attributes(list(ua.AttributeIds))
    return dict(zip(ua.AttributeIds, values, strict=True))


async def test_bulk_nodes_read_and_browse_like_addnodes(site: Site) -> None:
    plain = await read_all(site.client, site.id("plain.P"))
    bulk = await read_all(site.client, site.id("bulk1.P"))
    for attr in ua.AttributeIds:
        want, got = plain[attr], bulk[attr]
        assert got.StatusCode == want.StatusCode, attr
        if attr == ua.AttributeIds.NodeId:
            assert got.Value.Value == site.id("bulk1.P")  # its own, though the attribute is shared
        else:
            assert got.Value == want.Value, attr
    assert bulk[ua.AttributeIds.Value].Value.Value == ua.Range(Low=0.0, High=100.0)

    parents = {"plain", "bulk1"}

    def shape(refs: list[ua.ReferenceDescription]) -> list[tuple[object, ...]]:
        """The references, with the parent's name and id written as PARENT."""

        def name(text: str | None) -> str | None:
            return "PARENT" if text in parents else text

        return [
            (
                r.ReferenceTypeId,
                r.IsForward,
                r.NodeClass,
                "PARENT"
                if r.NodeId in {site.id(p) for p in parents}
                else "CHILD"
                if r.NodeId in {site.id("plain.P.Unit"), site.id("bulk1.P.Unit")}
                else r.NodeId,
                # (the child's own id differs, of course)
                name(r.BrowseName.Name),
                name(r.DisplayName.Text),
                r.TypeDefinition,
            )
            for r in refs
        ]

    plain_node = site.client.get_node(site.id("plain.P"))
    bulk_node = site.client.get_node(site.id("bulk1.P"))
    assert shape(await bulk_node.get_references()) == shape(await plain_node.get_references())
    [to_plain] = await site.client.get_node(site.id("plain")).get_references(
        ua.ObjectIds.HasComponent
    )
    [to_bulk] = await site.client.get_node(site.id("bulk1")).get_references(
        ua.ObjectIds.HasComponent
    )
    assert to_bulk.NodeId == site.id("bulk1.P")
    to_bulk.NodeId = to_plain.NodeId
    assert shape([to_bulk]) == shape([to_plain])
    path = await site.client.get_node(site.id("bulk1")).get_child(f"{site.ns}:ActivePower")
    assert path.nodeid == site.id("bulk1.P")
    # the property's references (its parent was made in the same commit)
    parents.update({"plain.P", "bulk1.P", "ActivePower"})
    plain_unit = await site.client.get_node(site.id("plain.P.Unit")).get_references()
    bulk_unit = await site.client.get_node(site.id("bulk1.P.Unit")).get_references()
    assert shape(bulk_unit) == shape(plain_unit)
    assert bulk_unit[0].NodeId == site.id("bulk1.P")
    assert await site.client.get_node(site.id("bulk1.P.Unit")).read_value() == "W"


async def test_a_write_to_a_shared_attribute_changes_that_node_only(site: Site) -> None:
    aspace = site.server.iserver.aspace
    new = ua.DataValue(ua.Variant(ua.Range(Low=-5.0, High=5.0), ua.VariantType.ExtensionObject))
    status = await aspace.write_attribute_value(site.id("bulk1.P"), ua.AttributeIds.Value, new)
    assert status.is_good()
    historizing = ua.DataValue(ua.Variant(True, ua.VariantType.Boolean))
    status = await aspace.write_attribute_value(
        site.id("bulk1.P"), ua.AttributeIds.Historizing, historizing
    )
    assert status.is_good()

    async def read(key: str, attr: ua.AttributeIds) -> object:
        return (await site.client.get_node(site.id(key)).read_attribute(attr)).Value.Value

    assert await read("bulk1.P", ua.AttributeIds.Value) == ua.Range(Low=-5.0, High=5.0)
    assert await read("bulk1.P", ua.AttributeIds.Historizing) is True
    for other in ("bulk0.P", "bulk2.P"):
        assert await read(other, ua.AttributeIds.Value) == ua.Range(Low=0.0, High=100.0)
        assert await read(other, ua.AttributeIds.Historizing) is False


async def test_a_subscription_to_a_shared_attribute_sees_its_own_node_only(site: Site) -> None:
    seen: asyncio.Queue[object] = asyncio.Queue()

    class Handler:
        def datachange_notification(self, node, val, data) -> None:  # type: ignore[no-untyped-def]
            seen.put_nowait(val)

    subscription = await site.client.create_subscription(20, Handler())
    await subscription.subscribe_data_change(site.client.get_node(site.id("bulk0.P")))
    first = await asyncio.wait_for(seen.get(), 5)
    assert first == ua.Range(Low=0.0, High=100.0)
    aspace = site.server.iserver.aspace

    async def write(key: str, high: float) -> None:
        value = ua.Variant(ua.Range(Low=0.0, High=high), ua.VariantType.ExtensionObject)
        status = await aspace.write_attribute_value(
            site.id(key), ua.AttributeIds.Value, ua.DataValue(value)
        )
        assert status.is_good()

    await write("bulk2.P", 7.0)  # another node of the same shape: no notification
    await write("bulk0.P", 9.0)
    assert await asyncio.wait_for(seen.get(), 5) == ua.Range(Low=0.0, High=9.0)
    assert seen.empty()
    await subscription.delete()


async def test_an_unwatched_write_changes_that_node_only_and_a_watched_one_is_left_to_asyncua(
    site: Site,
) -> None:
    aspace = site.server.iserver.aspace
    historizing = ua.DataValue(ua.Variant(True, ua.VariantType.Boolean))
    status = write_unwatched(aspace, site.id("bulk1.P"), ua.AttributeIds.Historizing, historizing)
    assert status is not None and status.is_good()
    wrong = ua.DataValue(ua.Variant("yes", ua.VariantType.String))
    status = write_unwatched(aspace, site.id("bulk1.P"), ua.AttributeIds.Historizing, wrong)
    assert status == ua.StatusCode(ua.StatusCodes.BadTypeMismatch)  # as asyncua's write
    unknown = write_unwatched(aspace, site.id("nowhere"), ua.AttributeIds.Historizing, wrong)
    assert unknown == ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)

    async def read(key: str, attr: ua.AttributeIds) -> object:
        return (await site.client.get_node(site.id(key)).read_attribute(attr)).Value.Value

    assert await read("bulk1.P", ua.AttributeIds.Historizing) is True
    assert await read("bulk0.P", ua.AttributeIds.Historizing) is False  # the shape's value

    seen: asyncio.Queue[object] = asyncio.Queue()

    class Handler:
        def datachange_notification(self, node, val, data) -> None:  # type: ignore[no-untyped-def]
            seen.put_nowait(val)

    subscription = await site.client.create_subscription(20, Handler())
    await subscription.subscribe_data_change(site.client.get_node(site.id("bulk2.P")))
    await asyncio.wait_for(seen.get(), 5)  # the initial value
    value = ua.DataValue(ua.Variant(ua.Range(Low=0.0, High=3.0), ua.VariantType.ExtensionObject))
    # a subscription watches it: not written here, asyncua's write notifies
    assert write_unwatched(aspace, site.id("bulk2.P"), ua.AttributeIds.Value, value) is None
    assert await read("bulk2.P", ua.AttributeIds.Value) == ua.Range(Low=0.0, High=100.0)
    await subscription.delete()


async def test_references_added_in_bulk_browse_like_asyncuas(site: Site) -> None:
    aspace = site.server.iserver.aspace
    target = site.id("plain.P")
    organizes = ua.NodeId(ua.ObjectIds.Organizes)

    def item(source: str, forward: bool = True) -> ua.AddReferencesItem:
        ref = ua.AddReferencesItem()
        ref.SourceNodeId = site.id(source)
        ref.ReferenceTypeId = organizes
        ref.IsForward = forward
        ref.TargetNodeId = target
        ref.TargetNodeClass = ua.NodeClass.Variable
        return ref

    [asyncuas] = site.server.iserver.node_mgt_service.add_references([item("bulk0")])
    assert asyncuas.is_good()
    missing = item("bulk2")
    missing.TargetNodeId = site.id("nowhere")
    statuses = add_references(
        aspace, [item("bulk1"), item("bulk2"), item("bulk1"), item("bulk2", False), missing]
    )
    assert [s.value for s in statuses] == [
        ua.StatusCodes.Good,
        ua.StatusCodes.Good,
        ua.StatusCodes.Good,  # already there: kept once
        ua.StatusCodes.BadReferenceNotAllowed,  # the other direction
        ua.StatusCodes.BadTargetNodeIdInvalid,
    ]

    async def organized(source: str) -> list[ua.ReferenceDescription]:
        node = site.client.get_node(site.id(source))
        return await node.get_references(organizes, ua.BrowseDirection.Forward)

    want = await organized("bulk0")
    assert len(want) == 1 and want[0].NodeId == target
    for source in ("bulk1", "bulk2"):
        assert await organized(source) == want


async def test_a_commit_refuses_an_existing_node_id_and_an_unknown_parent(site: Site) -> None:
    aspace = site.server.iserver.aspace
    bulk = BulkNodes(aspace)
    shape = bulk.shape(property_item(ua.NodeId("x", site.ns), ua.NodeId(), site.ns))
    has_property = ua.NodeId(ua.ObjectIds.HasProperty)
    existing = aspace.get(site.id("bulk0.P.Unit"))
    bulk.add(site.id("bulk0.P.Unit"), site.id("bulk0.P"), has_property, shape)
    with pytest.raises(RuntimeError, match=r"bulk0\.P\.Unit: BadNodeIdExists"):
        bulk.commit()
    assert aspace.get(site.id("bulk0.P.Unit")) is existing  # not replaced
    bulk.add(site.id("orphan.Unit"), site.id("orphan"), has_property, shape)
    with pytest.raises(RuntimeError, match=r"orphan\.Unit: BadParentNodeIdInvalid"):
        bulk.commit()
    assert site.id("orphan.Unit") not in aspace
    assert len(bulk) == 0  # a failed commit leaves nothing queued


async def test_references_to_a_node_with_many_are_checked_like_the_few(site: Site) -> None:
    aspace = site.server.iserver.aspace
    organizes = ua.NodeId(ua.ObjectIds.Organizes)
    targets = [n for n in aspace._nodes if n.NamespaceIndex == 0][:60]

    def item(target: ua.NodeId, forward: bool = True) -> ua.AddReferencesItem:
        ref = ua.AddReferencesItem()
        ref.SourceNodeId = site.id("bulk2")
        ref.ReferenceTypeId = organizes
        ref.IsForward = forward
        ref.TargetNodeId = target
        ref.TargetNodeClass = ua.NodeClass.Unspecified
        return ref

    first = add_references(aspace, [item(t) for t in targets[:40]])  # past the scan limit
    assert all(s.is_good() for s in first)
    statuses = add_references(
        aspace, [item(targets[5]), item(targets[6], forward=False), item(targets[50])]
    )
    assert [s.value for s in statuses] == [
        ua.StatusCodes.Good,  # already there: kept once
        ua.StatusCodes.BadReferenceNotAllowed,
        ua.StatusCodes.Good,
    ]
    refs = aspace.get(site.id("bulk2")).references
    organized = [r.NodeId for r in refs if r.ReferenceTypeId == organizes and r.IsForward]
    assert organized == [*targets[:40], targets[50]]
