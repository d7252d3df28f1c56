"""Load the Ampacity types into a running asyncua server and instantiate assets of them.

Usage (in the server)::

    types_ns = await load_types(server)
    site_ns = await server.register_namespace("urn:ampacity:site:<name>")
    pv = await instantiate_asset(
        objects, AssetKind.PV_INVERTER, "pv1", site_ns, types_ns,
        points=["ActivePower", "EnergyProduced", "ActivePowerLimit"],
    )

``instantiate_asset`` creates the asset object ``ns=<site>;s=pv1`` with its mandatory
``Identification`` (``s=pv1.Identification.Manufacturer`` …) and ``Health``
(``s=pv1.Health.Connected`` …) and only the optional points named, as ``s=pv1.<Point>`` with
their standard properties (``s=pv1.ActivePower.EngineeringUnits``, ``s=pv1.ActivePower.EURange`` …)
copied from the type. Children keep the BrowseNames of the type (namespace ``types_ns``).

Doing it by hand: ``asyncua.common.instantiate_util.instantiate(parent, type_node,
nodeid=ua.NodeId("pv1", site_ns), bname=..., instantiate_optional=False)`` gives the object with its
mandatory children; :func:`add_points` adds the optional ones. Do not instantiate with
``instantiate_optional=True`` and delete what a device lacks: that creates and deletes up to 20
variables with properties per asset for nothing.

asyncua inserts a node in time linear in its parent's number of children, so adding all children
of one parent is quadratic: keep the assets of a large site under a few folders (a few hundred
children each at most), not all under ``Objects``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from ampacity.assets import SPECS, AssetKind
from asyncua import Node, Server, ua
from asyncua.common.instantiate_util import _instantiate_node, instantiate
from asyncua.common.xmlimporter import XmlImporter

from . import NODESET_PATH, TYPES_NAMESPACE_URI
from .nodeids import BLOCKS, kind_block, owner_id

__all__ = [
    "add_points",
    "asset_type_id",
    "energy_asset_type_id",
    "instantiate_asset",
    "load_types",
]


async def load_types(server: Server) -> int:
    """Import ``Ampacity.NodeSet2.xml`` into ``server`` and return the types' namespace index.

    Importing twice is an error (the nodes exist); call it once, before instantiating assets.
    """
    await _TypesImporter(server).import_xml(str(NODESET_PATH))
    return await server.get_namespace_index(TYPES_NAMESPACE_URI)


class _TypesImporter(XmlImporter):  # type: ignore[misc]
    """asyncua's importer (``Server.import_xml``), the same nodes and references, faster.

    After adding the nodes it browses every new node for all its references, to add the reverse
    ones a nodeset left out; asyncua's browse then walks the reference-type tree down from
    ``References`` again for each reference found (about 80,000 walks for this nodeset, a third
    of the import). While it does, the subtypes of a reference type are listed once and kept:
    that pass only browses (the references it adds afterwards are added without a browse), so
    the tree does not change meanwhile.
    """

    async def _add_missing_reverse_references(self, new_nodes: list[Any]) -> Any:
        with _reference_subtypes_kept(self.session.iserver.view_service):
            return await super()._add_missing_reverse_references(new_nodes)


_NULL = ua.NodeId(ua.ObjectIds.Null)


@contextlib.contextmanager
def _reference_subtypes_kept(view: Any) -> Iterator[None]:
    """Within the block, ``view`` (asyncua's ViewService) answers "is this reference type
    ``ref1`` or one of its subtypes" from a set made once per ``ref1``, with the same answers
    as its own walk of the tree as long as no reference type is added."""
    subtypes: dict[ua.NodeId, frozenset[ua.NodeId]] = {}
    walk = view._suitable_reftype

    def suitable(ref1: ua.NodeId, ref2: ua.NodeId, include_subtypes: bool) -> bool:
        if not include_subtypes or ref1 in (ref2, _NULL):
            return bool(walk(ref1, ref2, include_subtypes))
        below = subtypes.get(ref1)
        if below is None:
            below = subtypes[ref1] = frozenset(view._get_sub_ref(ref1))
        return ref2 in below

    view._suitable_reftype = suitable
    try:
        yield
    finally:
        del view._suitable_reftype  # asyncua's method again


def asset_type_id(kind: AssetKind, types_ns: int) -> ua.NodeId:
    """The NodeId of ``<Kind>Type`` in the namespace ``types_ns`` (from :func:`load_types`).

    Numeric and fixed (``PvInverterType`` is ``i=100000``, ``SiteType`` ``i=230000``; see
    :mod:`ampacity.nodesets.nodeids`); the namespace index is whatever the server assigned.
    """
    return ua.NodeId(owner_id(kind_block(kind)), types_ns)


def energy_asset_type_id(types_ns: int) -> ua.NodeId:
    """The NodeId of the abstract ``EnergyAssetType``."""
    return ua.NodeId(owner_id(BLOCKS["EnergyAssetType"]), types_ns)


async def instantiate_asset(
    parent: Node,
    kind: AssetKind,
    asset_id: str,
    site_ns: int,
    types_ns: int,
    points: Iterable[str] = (),
    display_name: str | None = None,
) -> Node:
    """Create an asset of ``kind`` under ``parent`` with only the optional ``points`` named.

    Args:
        parent: the folder or object the asset hangs under (HasComponent, Organizes for folders).
        kind: the asset kind; its type must have been loaded by :func:`load_types`.
        asset_id: the configured asset id; the object's NodeId is ``ns=site_ns;s=<asset_id>``.
        site_ns: the namespace index of the instances.
        types_ns: the namespace index returned by :func:`load_types`.
        points: BrowseNames of the kind's points the device provides.
        display_name: the object's DisplayName; the asset id when omitted.

    Returns:
        The asset object.

    Raises:
        KeyError: a point is not one of the kind's.
    """
    type_node = Node(parent.session, asset_type_id(kind, types_ns))
    nodes = await instantiate(
        parent,
        type_node,
        nodeid=ua.NodeId(asset_id, site_ns),
        bname=ua.QualifiedName(asset_id, site_ns),
        dname=ua.LocalizedText(display_name or asset_id),
        instantiate_optional=False,
    )
    asset = nodes[0]
    await add_points(asset, kind, points, types_ns)
    return asset


async def add_points(asset: Node, kind: AssetKind, points: Iterable[str], types_ns: int) -> None:
    """Add optional points of ``kind`` to an existing asset, as ``s=<asset-id>.<Point>``.

    The asset's NodeId must be a string NodeId; each point copies the type's instance declaration
    (DataType, AccessLevel, Description, TypeDefinition and its mandatory properties).
    """
    spec = SPECS[kind]
    type_node = Node(asset.session, asset_type_id(kind, types_ns))
    for name in points:
        spec.point(name)  # KeyError for a point the kind does not have
        declaration = await type_node.get_child(ua.QualifiedName(name, types_ns))
        await _add_point(asset, declaration)


async def _add_point(asset: Node, declaration: Node) -> None:
    rdesc = ua.ReferenceDescription()
    rdesc.NodeId = declaration.nodeid
    rdesc.BrowseName = await declaration.read_browse_name()
    rdesc.DisplayName = await declaration.read_display_name()
    rdesc.NodeClass = ua.NodeClass.Variable
    rdesc.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
    rdesc.TypeDefinition = await declaration.read_type_definition()
    # asyncua's own recursive copy from an instance declaration (what `instantiate` does for
    # mandatory children); string NodeIds of the children follow `<parent>.<BrowseName>`.
    node_id = f"{asset.nodeid.Identifier}.{rdesc.BrowseName.Name}"
    await _instantiate_node(
        asset.session,
        declaration,
        asset.nodeid,
        rdesc,
        ua.NodeId(node_id, asset.nodeid.NamespaceIndex),
        rdesc.BrowseName,
    )
