"""Build the site's address space from the configured assets.

Layout (all instance NodeIds are strings in the site namespace, identical across restarts)::

    Objects
    └── <site-id>                      SiteType         s=<site-id>
        ├── <point>                    AnalogItemType   s=<site-id>.<Point>
        ├── <asset-id>                 <Kind>Type       s=<asset-id>          (single-asset device)
        │   ├── Identification                          s=<asset-id>.Identification
        │   │   └── Manufacturer ...                    s=<asset-id>.Identification.Manufacturer
        │   ├── Health                                  s=<asset-id>.Health(.Connected ...)
        │   └── ActivePower ...                         s=<asset-id>.ActivePower
        ├── <device-id>                FolderType       s=<device-id>            (several assets)
        │   └── <asset-id> ...
        └── <group>                    FolderType       s=<group>      (``server.folders``)
            └── <asset-id> | <device-id> ...

An asset carries the mandatory children of its type and only those optional points its device
provides, so no node stays Bad forever for a value the device does not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ampacity.assets import (
    HEALTH_POINTS,
    IDENTIFICATION_POINTS,
    SPECS,
    AssetKind,
    PointSpec,
)
from asyncua import Node, Server, ua

from .declarations import Declaration, read_type_declarations
from .nodes import DATA_TYPE_IDS
from .nodestore import BulkNodes, NodeShape, set_own
from .writer import NodeWriter

OBJECTS = ua.NodeId(ua.ObjectIds.ObjectsFolder)
FOLDER_TYPE = ua.NodeId(ua.ObjectIds.FolderType)
BASE_OBJECT_TYPE = ua.NodeId(ua.ObjectIds.BaseObjectType)
BASE_DATA_VARIABLE_TYPE = ua.NodeId(ua.ObjectIds.BaseDataVariableType)
ORGANIZES = ua.NodeId(ua.ObjectIds.Organizes)
HAS_COMPONENT = ua.NodeId(ua.ObjectIds.HasComponent)
WRITE_BITS = ua.AccessLevel.CurrentWrite.mask
WAITING = ua.DataValue(
    Value=ua.Variant(None, ua.VariantType.Null),
    StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData),
)
"""A point's value until its first reading: one DataValue for all (never changed in place; the
writer replaces it)."""


@dataclass(frozen=True, slots=True)
class AssetNodes:
    """What the builder needs to know of one asset."""

    asset_id: str
    kind: AssetKind
    points: tuple[str, ...]
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    display_name: str | None = None
    device_folder: str | None = None
    """Id of the device folder the asset sits in (stations with several connectors)."""
    group: str | None = None
    """Folder under the Site the asset (or its device folder) sits in (``server.folders``)."""


class AddressSpaceBuilder:
    """Creates the site's nodes in one batch per asset and registers them with the writer."""

    def __init__(self, server: Server, types_ns: int, site_ns: int, writer: NodeWriter) -> None:
        self._server = server
        self._types_ns = types_ns
        self._site_ns = site_ns
        self._writer = writer
        self._declarations: dict[AssetKind, list[Declaration]] = {}
        self._types: dict[str, Node] = {}
        self._nodes = BulkNodes(server.iserver.aspace)
        self._shapes: dict[object, NodeShape] = {}
        """Node shapes by declaration (``id``) or by object type and description."""
        self._values: list[tuple[ua.NodeId, ua.DataValue]] = []
        self._groups: set[str] = set()
        self.setpoint_nodes: dict[str, ua.NodeId] = {}
        """Writable points: ``<asset-id>.<Point>`` -> NodeId."""

    def node_id(self, key: str) -> ua.NodeId:
        return ua.NodeId(key, self._site_ns)

    async def _type_declarations(self, kind: AssetKind) -> list[Declaration]:
        if kind not in self._declarations:
            type_node = await self._type_node(kind.type_name)
            self._declarations[kind] = await read_type_declarations(type_node)
        return self._declarations[kind]

    async def _type_node(self, browse_name: str) -> Node:
        if not self._types:
            base = self._server.get_node(ua.ObjectIds.BaseObjectType)
            self._types = await _types_in_namespace(base, self._types_ns)
        if browse_name not in self._types:
            raise LookupError(f"type {browse_name} is not in the loaded nodeset")
        return self._types[browse_name]

    async def add_site(self, site_id: str, display_name: str) -> None:
        await self._add_asset(
            AssetNodes(
                site_id,
                AssetKind.SITE,
                SPECS[AssetKind.SITE].point_names,
                display_name=display_name,
            ),
            OBJECTS,
            ORGANIZES,
        )

    def _group_folder(self, site_id: str, group: str) -> ua.NodeId:
        """The folder ``s=<group>`` under the Site (made on first use)."""
        node_id = self.node_id(group)
        if group not in self._groups:
            self._groups.add(group)
            self._add_object(
                node_id,
                self.node_id(site_id),
                ORGANIZES,
                ua.QualifiedName(group, self._site_ns),
                group,
                FOLDER_TYPE,
                "A group of the site's devices (the site file's `group:`, or their kind).",
            )
        return node_id

    async def add_device_folder(
        self, site_id: str, device_id: str, display_name: str, group: str | None = None
    ) -> None:
        parent = self._group_folder(site_id, group) if group else self.node_id(site_id)
        self._add_object(
            self.node_id(device_id),
            parent,
            ORGANIZES,
            ua.QualifiedName(device_id, self._site_ns),
            display_name,
            FOLDER_TYPE,
            "A device that serves several assets (e.g. a station with two connectors).",
        )

    def add_object(self, parent_key: str, key: str, browse_name: str, description: str) -> None:
        """A plain object (``BaseObjectType``) under ``parent_key``, NodeId ``s=<key>``; for the
        server's own state (``Site.Control``, ``Site.Marketer``)."""
        self._add_object(
            self.node_id(key),
            self.node_id(parent_key),
            HAS_COMPONENT,
            ua.QualifiedName(browse_name, self._site_ns),
            browse_name,
            BASE_OBJECT_TYPE,
            description,
        )

    def add_variable(self, parent_key: str, point: PointSpec) -> str:
        """A variable ``<parent_key>.<point.name>`` kept current by the writer (BaseDataVariable
        for text and counts, AnalogItemType is not needed for server state); returns its key."""
        key = f"{parent_key}.{point.name}"
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(point.name)
        attrs.Description = ua.LocalizedText(point.description)
        attrs.DataType = ua.NodeId(DATA_TYPE_IDS[point.data_type])
        attrs.ValueRank = -1
        level = ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.HistoryRead.mask
        attrs.AccessLevel = attrs.UserAccessLevel = level
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = self.node_id(key)
        item.BrowseName = ua.QualifiedName(point.name, self._site_ns)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = self.node_id(parent_key)
        item.ReferenceTypeId = HAS_COMPONENT
        item.TypeDefinition = BASE_DATA_VARIABLE_TYPE
        item.NodeAttributes = attrs
        node_id = self.node_id(key)
        self._nodes.add(node_id, self.node_id(parent_key), HAS_COMPONENT, self._nodes.shape(item))
        self._register(key, point)
        return key

    async def add_asset(self, site_id: str, asset: AssetNodes) -> None:
        if asset.device_folder:
            parent = self.node_id(asset.device_folder)
        elif asset.group:
            parent = self._group_folder(site_id, asset.group)
        else:
            parent = self.node_id(site_id)
        reference = ORGANIZES if asset.device_folder or asset.group else HAS_COMPONENT
        await self._add_asset(asset, parent, reference)

    async def _add_asset(self, asset: AssetNodes, parent: ua.NodeId, reference: ua.NodeId) -> None:
        spec = SPECS[asset.kind]
        type_node = await self._type_node(asset.kind.type_name)
        object_id = self.node_id(asset.asset_id)
        self._add_object(
            object_id,
            parent,
            reference,
            ua.QualifiedName(asset.asset_id, self._site_ns),
            asset.display_name or asset.asset_id,
            type_node.nodeid,
            spec.description,
        )
        provided = set(asset.points)
        point_specs = {p.name: p for p in spec.points}
        for decl in await self._type_declarations(asset.kind):
            name = decl.browse_name.Name
            if not decl.mandatory and name not in provided:
                continue
            key = f"{asset.asset_id}.{name}"
            node_id = self._copy(decl, object_id, key)
            if name in point_specs:
                point = point_specs[name]
                self._register(key, point, node_id)
                if point.writable:
                    self.setpoint_nodes[key] = node_id
                if name in asset.ranges:
                    self._override_range(key, asset.ranges[name])
            elif name in ("Identification", "Health"):
                group = IDENTIFICATION_POINTS if name == "Identification" else HEALTH_POINTS
                for point in group:
                    self._register(f"{key}.{point.name}", point)

    def _register(self, key: str, point: PointSpec, node_id: ua.NodeId | None = None) -> None:
        """Give the point's node a writer slot and the Bad "waiting" value until its first one."""
        node_id = node_id or self.node_id(key)
        self._writer.add_slot(key, node_id, point)
        self._values.append((node_id, WAITING))

    def _override_range(self, key: str, value_range: tuple[float, float]) -> None:
        self._values.append(
            (
                self.node_id(f"{key}.EURange"),
                ua.DataValue(
                    Value=ua.Variant(
                        ua.Range(Low=value_range[0], High=value_range[1]),
                        ua.VariantType.ExtensionObject,
                    )
                ),
            )
        )

    def _add_object(
        self,
        node_id: ua.NodeId,
        parent: ua.NodeId,
        reference: ua.NodeId,
        browse_name: ua.QualifiedName,
        display_name: str,
        type_definition: ua.NodeId,
        description: str | None,
    ) -> None:
        """An object whose BrowseName and DisplayName are its own (an asset, a folder)."""
        key = ("object", type_definition, description)
        if key not in self._shapes:
            self._shapes[key] = self._nodes.shape(
                _object_item(
                    node_id,
                    parent,
                    reference,
                    browse_name,
                    display_name,
                    type_definition,
                    description,
                )
            )
        own = {
            ua.AttributeIds.BrowseName: ua.DataValue(
                ua.Variant(browse_name, ua.VariantType.QualifiedName)
            ),
            ua.AttributeIds.DisplayName: ua.DataValue(
                ua.Variant(ua.LocalizedText(display_name), ua.VariantType.LocalizedText)
            ),
        }
        self._nodes.add(node_id, parent, reference, self._shapes[key], own)

    def _copy(self, decl: Declaration, parent: ua.NodeId, key: str) -> ua.NodeId:
        """Queue a copy of ``decl`` and its children under ``parent``; returns its NodeId."""
        node_id = self.node_id(key)
        self._nodes.add(node_id, parent, decl.reference_type, self._shape(decl, node_id))
        for child in decl.children:
            self._copy(child, node_id, f"{key}.{child.browse_name.Name}")
        return node_id

    def _shape(self, decl: Declaration, node_id: ua.NodeId) -> NodeShape:
        """The shape of every node copied from ``decl`` (made at its first copy)."""
        if id(decl) in self._shapes:
            return self._shapes[id(decl)]
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = decl.browse_name
        item.ReferenceTypeId = decl.reference_type
        item.TypeDefinition = decl.type_definition
        if decl.node_class == ua.NodeClass.Object:
            item.NodeClass = ua.NodeClass.Object
            item.NodeAttributes = _object_item(
                node_id,
                node_id,
                decl.reference_type,
                decl.browse_name,
                decl.display_name.Text or decl.browse_name.Name,
                decl.type_definition,
                decl.description.Text if decl.description else None,
            ).NodeAttributes
        else:
            attrs = ua.VariableAttributes()
            attrs.DisplayName = decl.display_name
            if decl.description is not None:
                attrs.Description = decl.description
            attrs.DataType = decl.data_type or ua.NodeId(ua.ObjectIds.BaseDataType)
            attrs.ValueRank = decl.value_rank
            attrs.AccessLevel = decl.access_level
            attrs.UserAccessLevel = decl.access_level
            if decl.value is not None and decl.value.Value is not None:
                attrs.Value = decl.value
            item.NodeClass = ua.NodeClass.Variable
            item.NodeAttributes = attrs
        shape = self._shapes[id(decl)] = self._nodes.shape(item)
        return shape

    async def commit(self) -> None:
        """Create every queued node, then set initial values and ranges."""
        self._nodes.commit()
        aspace = self._server.iserver.aspace
        for node_id, data_value in self._values:
            node = aspace.get(node_id)
            if node is not None:  # a range for a point without EURange (an enumeration)
                set_own(node, ua.AttributeIds.Value, data_value)
        self._values.clear()


def _object_item(
    node_id: ua.NodeId,
    parent: ua.NodeId,
    reference: ua.NodeId,
    browse_name: ua.QualifiedName,
    display_name: str,
    type_definition: ua.NodeId,
    description: str | None,
) -> ua.AddNodesItem:
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(display_name)
    if description:
        attrs.Description = ua.LocalizedText(description)
    attrs.EventNotifier = 0
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = node_id
    item.BrowseName = browse_name
    item.NodeClass = ua.NodeClass.Object
    item.ParentNodeId = parent
    item.ReferenceTypeId = reference
    item.TypeDefinition = type_definition
    item.NodeAttributes = attrs
    return item


async def _types_in_namespace(base: Node, namespace: int) -> dict[str, Node]:
    """Every ObjectType of one namespace below ``base``, by BrowseName."""
    found: dict[str, Node] = {}
    stack: list[Node] = [base]
    while stack:
        node = stack.pop()
        for child in await node.get_children(refs=ua.ObjectIds.HasSubtype):
            if child.nodeid.NamespaceIndex == namespace:
                found[(await child.read_browse_name()).Name] = child
            stack.append(child)
    return found


def iter_keys(assets: Iterable[AssetNodes]) -> Iterable[str]:
    for asset in assets:
        for point in asset.points:
            yield f"{asset.asset_id}.{point}"
