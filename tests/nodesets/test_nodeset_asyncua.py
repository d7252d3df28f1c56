"""The nodeset in a real asyncua server, browsed by a real asyncua client over TCP."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from ampacity.assets import (
    HEALTH_POINTS,
    IDENTIFICATION_POINTS,
    SPECS,
    AssetKind,
    PointSpec,
    ValueKind,
)
from ampacity.assets.units import UNECE_NAMESPACE_URI
from ampacity.nodesets import TYPES_NAMESPACE_URI
from ampacity.nodesets.loader import (
    asset_type_id,
    energy_asset_type_id,
    instantiate_asset,
    load_types,
)
from asyncua import Client, Node, Server, ua

pytestmark = pytest.mark.asyncio(loop_scope="module")

SITE_NAMESPACE_URI = "urn:ampacity:test-site"
POINTS = ("ActivePower", "OperatingState", "ActivePowerLimit")
MANDATORY = ua.NodeId(ua.ObjectIds.ModellingRule_Mandatory)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    server: Server
    client: Client
    types_ns: int
    """As the client resolved it from the namespace URI."""
    site_ns: int


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack() -> AsyncIterator[Stack]:
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/ampacity/"
    server.set_endpoint(endpoint)
    server_types_ns = await load_types(server)
    site_ns = await server.register_namespace(SITE_NAMESPACE_URI)
    folder = await server.nodes.objects.add_folder(ua.NodeId("Assets", site_ns), "Assets")
    await instantiate_asset(folder, AssetKind.PV_INVERTER, "pv1", site_ns, server_types_ns, POINTS)
    await instantiate_asset(server.nodes.objects, AssetKind.SITE, "site", site_ns, server_types_ns)
    async with server:
        client = Client(endpoint, timeout=10)
        async with client:
            types_ns = await client.get_namespace_index(TYPES_NAMESPACE_URI)
            assert types_ns == server_types_ns
            yield Stack(
                server, client, types_ns, await client.get_namespace_index(SITE_NAMESPACE_URI)
            )


async def supertype(node: Node) -> ua.NodeId:
    refs = await node.get_references(ua.ObjectIds.HasSubtype, ua.BrowseDirection.Inverse)
    assert len(refs) == 1
    return refs[0].NodeId


async def modelling_rule(node: Node) -> ua.NodeId:
    refs = await node.get_references(ua.ObjectIds.HasModellingRule, ua.BrowseDirection.Forward)
    assert len(refs) == 1, node
    return refs[0].NodeId


async def children_by_name(node: Node) -> dict[str, Node]:
    """Components and properties (not subtypes) by BrowseName."""
    children = await node.get_children(refs=ua.ObjectIds.Aggregates)
    return {(await c.read_browse_name()).Name: c for c in children}


async def test_energy_asset_type_is_abstract_with_identification_and_health(stack: Stack) -> None:
    node = stack.client.get_node(energy_asset_type_id(stack.types_ns))
    assert await node.read_browse_name() == ua.QualifiedName("EnergyAssetType", stack.types_ns)
    assert (await node.read_attribute(ua.AttributeIds.IsAbstract)).Value.Value is True
    assert await supertype(node) == ua.NodeId(ua.ObjectIds.BaseObjectType)
    children = await children_by_name(node)
    assert set(children) == {"Identification", "Health"}
    expected = {
        "Identification": {p.name for p in IDENTIFICATION_POINTS},
        "Health": {p.name for p in HEALTH_POINTS},
    }
    for name, points in expected.items():
        assert await modelling_rule(children[name]) == MANDATORY
        assert set(await children_by_name(children[name])) == points


@pytest.mark.parametrize("kind", list(AssetKind), ids=lambda k: k.value)
async def test_kind_type_is_an_energy_asset_with_every_point(stack: Stack, kind: AssetKind) -> None:
    node = stack.client.get_node(asset_type_id(kind, stack.types_ns))
    assert await node.read_browse_name() == ua.QualifiedName(kind.type_name, stack.types_ns)
    assert await supertype(node) == energy_asset_type_id(stack.types_ns)
    children = await children_by_name(node)
    assert set(children) == set(SPECS[kind].point_names)
    for spec in SPECS[kind].points:
        await check_point(children[spec.name], spec)


async def check_point(node: Node, spec: PointSpec) -> None:
    assert await modelling_rule(node) == ua.NodeId(ua.ObjectIds.ModellingRule_Optional)
    assert (await node.read_description()).Text == spec.description
    access = (await node.read_attribute(ua.AttributeIds.AccessLevel)).Value.Value
    user_access = (await node.read_attribute(ua.AttributeIds.UserAccessLevel)).Value.Value
    for level in (access, user_access):
        assert bool(level & ua.AccessLevel.CurrentWrite.mask) is spec.writable, spec.name
        assert level & ua.AccessLevel.CurrentRead.mask
    type_definition = await node.read_type_definition()
    props = await children_by_name(node)
    if spec.is_analog:
        assert type_definition == ua.NodeId(ua.ObjectIds.AnalogItemType)
        await check_analog(props, spec)
    elif spec.kind is ValueKind.DISCRETE:
        assert type_definition == ua.NodeId(ua.ObjectIds.TwoStateDiscreteType)
        assert (await props["TrueState"].read_value()).Text == spec.true_label
        assert (await props["FalseState"].read_value()).Text == spec.false_label
    elif spec.kind is ValueKind.ENUM:
        assert type_definition == ua.NodeId(ua.ObjectIds.MultiStateValueDiscreteType)
        values = await props["EnumValues"].read_value()
        assert {v.Value: v.DisplayName.Text for v in values} == spec.enum_values
        assert "ValueAsText" in props
    else:
        assert type_definition == ua.NodeId(ua.ObjectIds.BaseDataVariableType)


async def check_analog(props: dict[str, Node], spec: PointSpec) -> None:
    assert spec.unit is not None and spec.value_range is not None
    eu = await props["EngineeringUnits"].read_value()
    assert isinstance(eu, ua.EUInformation)
    if spec.unit.unece_code:
        assert eu.NamespaceUri == UNECE_NAMESPACE_URI
        assert eu.UnitId == spec.unit.unit_id
    else:
        assert eu.UnitId == -1
    assert eu.Description.Text == spec.unit.description
    eu_range = await props["EURange"].read_value()
    assert (eu_range.Low, eu_range.High) == spec.value_range


async def test_instance_has_mandatory_children_and_only_the_named_points(stack: Stack) -> None:
    pv = stack.client.get_node(ua.NodeId("pv1", stack.site_ns))
    assert await pv.read_type_definition() == asset_type_id(AssetKind.PV_INVERTER, stack.types_ns)
    children = await children_by_name(pv)
    assert set(children) == {"Identification", "Health", *POINTS}
    assert children["ActivePower"].nodeid == ua.NodeId("pv1.ActivePower", stack.site_ns)
    eu = stack.client.get_node(ua.NodeId("pv1.ActivePower.EngineeringUnits", stack.site_ns))
    assert (await eu.read_value()).DisplayName.Text == "W"
    connected = stack.client.get_node(ua.NodeId("pv1.Health.Connected", stack.site_ns))
    assert await connected.read_type_definition() == ua.NodeId(ua.ObjectIds.TwoStateDiscreteType)
    maker = stack.client.get_node(ua.NodeId("pv1.Identification.Manufacturer", stack.site_ns))
    assert await maker.read_type_definition() == ua.NodeId(ua.ObjectIds.PropertyType)
    site = await children_by_name(stack.client.get_node(ua.NodeId("site", stack.site_ns)))
    assert set(site) == {"Identification", "Health"}


async def test_instance_setpoint_is_writable_over_tcp(stack: Stack) -> None:
    limit = stack.client.get_node(ua.NodeId("pv1.ActivePowerLimit", stack.site_ns))
    await limit.write_value(ua.DataValue(ua.Variant(4200.0, ua.VariantType.Double)))
    assert await limit.read_value() == 4200.0
    measured = stack.client.get_node(ua.NodeId("pv1.ActivePower", stack.site_ns))
    level = (await measured.read_attribute(ua.AttributeIds.UserAccessLevel)).Value.Value
    assert not level & ua.AccessLevel.CurrentWrite.mask


async def test_unknown_point_is_refused(stack: Stack) -> None:
    with pytest.raises(KeyError):
        await instantiate_asset(
            stack.server.nodes.objects,
            AssetKind.GAS_METER,
            "gas1",
            stack.site_ns,
            stack.types_ns,
            ["ActivePower"],
        )
