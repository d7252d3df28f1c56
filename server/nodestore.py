"""Create many nodes at once in asyncua's address space, sharing what does not vary between them.

asyncua's AddNodes builds every attribute of every node from scratch (an ``AttributeValue`` with a
``DataValue`` and a ``Variant`` each, fifteen per variable), looks each reference's target up
again and scans the parent's references for duplicates: 14 s and about 39 KB of memory per point
for a 10,000-point site. The site's nodes are made from a few dozen declarations, so here:

* a **shape** (one per declaration) holds the attributes its nodes share; a node made from it gets
  the shape's attribute dictionary itself, or a copy of it when the node has attributes of its own
  (a variable's Value, an asset's DisplayName);
* the ``NodeId`` attribute is one shared value callback that answers with the NodeId read;
* the references to a type definition and to a parent are one ``ReferenceDescription`` shared by
  every node that has them (the parent's forward references stay one per child);
* nothing is looked up twice and no reference list is scanned (the nodes are new).

Shared values are never changed in place. A write to a shared attribute (``Historizing``, an
``EURange`` narrowed at run time) goes through the shared value's setter, which gives that node a
dictionary of its own with the new value; a subscription to a shared attribute does the same
first. Clients see the same attributes, values and references as with AddNodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.server.address_space import (
    AddressSpace,
    AttributeValue,
    NodeData,
    NodeManagementService,
)

_INTERNED_TYPES = (bool, int, float, str)
"""Values of these types written to a shared attribute are shared again (e.g. Historizing)."""


class SharedAttribute(AttributeValue):
    """An attribute value several nodes hold; writing it gives the writing node its own copy."""

    def __init__(self, value: ua.DataValue | None) -> None:
        super().__init__(value)  # type: ignore[arg-type]
        self.value_setter = _copy_on_write


_SHARED_DICTS: set[int] = set()
"""``id`` of attribute dictionaries held by several nodes (a shape's template)."""
_INTERNED: dict[tuple[ua.AttributeIds, ua.VariantType, Any], SharedAttribute] = {}


def _node_id_attribute(node_id: ua.NodeId, _attr: ua.AttributeIds) -> ua.DataValue:
    return ua.DataValue(ua.Variant(node_id, ua.VariantType.NodeId))


def _shared_node_id() -> SharedAttribute:
    attribute = SharedAttribute(None)
    attribute.value_callback = _node_id_attribute
    return attribute


def _own_attributes(node: NodeData) -> dict[ua.AttributeIds, AttributeValue]:
    """The node's attribute dictionary, copied first if other nodes hold it too."""
    if id(node.attributes) in _SHARED_DICTS:
        node.attributes = dict(node.attributes)
    return node.attributes


def _copy_on_write(node: NodeData, attr: ua.AttributeIds, value: ua.DataValue) -> None:
    """The setter of shared attributes: the node gets the new value, the others keep theirs."""
    variant = value.Value
    plain = (
        variant is not None
        and type(variant.Value) in _INTERNED_TYPES
        and value.StatusCode in (None, ua.StatusCode())
        and value.SourceTimestamp is None
        and value.ServerTimestamp is None
    )
    fresh: AttributeValue
    if plain:
        assert variant is not None
        key = (attr, variant.VariantType, variant.Value)
        if key not in _INTERNED:
            _INTERNED[key] = SharedAttribute(value)
        fresh = _INTERNED[key]
    else:
        fresh = AttributeValue(value)
    _own_attributes(node)[attr] = fresh


_NODE_ID = _shared_node_id()
"""The NodeId attribute of every node made here: it answers with the NodeId read."""


def set_own(node: NodeData, attr: ua.AttributeIds, value: ua.DataValue) -> None:
    """Give ``node`` an attribute value of its own (a variable's Value, which changes)."""
    _own_attributes(node)[attr] = AttributeValue(value)


def unshare(node: NodeData, attr: ua.AttributeIds) -> None:
    """Give ``node`` its own copy of ``attr`` (before a callback or setter is attached to it)."""
    attval = node.attributes.get(attr)
    if not isinstance(attval, SharedAttribute):
        return
    if attval.value_callback is _node_id_attribute:
        own = AttributeValue(_node_id_attribute(node.nodeid, attr))
    else:
        own = AttributeValue(attval.value)  # type: ignore[arg-type]
    _own_attributes(node)[attr] = own


def install(aspace: AddressSpace) -> None:
    """Make ``aspace`` unshare an attribute before it attaches a callback or setter to it."""
    if getattr(aspace, "_ampacity_shared", False):
        return
    for name in (
        "add_datachange_callback",
        "set_attribute_value_callback",
        "set_attribute_value_setter",
    ):
        setattr(aspace, name, _unsharing(aspace, getattr(aspace, name)))
    aspace._ampacity_shared = True  # type: ignore[attr-defined]


def _unsharing(aspace: AddressSpace, method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(nodeid: ua.NodeId, attr: ua.AttributeIds, *args: Any) -> Any:
        node = aspace.get(nodeid)
        if node is not None:
            unshare(node, attr)
        return method(nodeid, attr, *args)

    return wrapped


@dataclass(slots=True)
class NodeShape:
    """What the nodes made from one declaration share."""

    node_class: ua.NodeClass
    browse_name: ua.QualifiedName
    display_name: ua.LocalizedText
    type_definition: ua.NodeId
    attributes: dict[ua.AttributeIds, AttributeValue]


@dataclass(slots=True)
class _Pending:
    node_id: ua.NodeId
    parent: ua.NodeId
    reference_type: ua.NodeId
    shape: NodeShape
    own: dict[ua.AttributeIds, ua.DataValue] | None


class BulkNodes:
    """Queues nodes and creates them in one pass (``commit``)."""

    def __init__(self, aspace: AddressSpace) -> None:
        self._aspace = aspace
        self._service = NodeManagementService(aspace)
        self._pending: list[_Pending] = []
        self._to_type: dict[ua.NodeId, ua.ReferenceDescription] = {}
        self._to_parent: dict[tuple[ua.NodeId, ua.NodeId], ua.ReferenceDescription] = {}
        install(aspace)

    def shape(self, item: ua.AddNodesItem) -> NodeShape:
        """The shape of nodes like ``item`` (its NodeId and parent do not matter)."""
        scratch = NodeData(item.RequestedNewNodeId)
        self._service._add_node_attributes(scratch, item, add_timestamps=True)
        attributes: dict[ua.AttributeIds, AttributeValue] = {}
        for attr, attval in scratch.attributes.items():
            attributes[attr] = (
                _NODE_ID if attr == ua.AttributeIds.NodeId else SharedAttribute(attval.value)
            )
        _SHARED_DICTS.add(id(attributes))
        display = item.NodeAttributes.DisplayName
        return NodeShape(item.NodeClass, item.BrowseName, display, item.TypeDefinition, attributes)

    def add(
        self,
        node_id: ua.NodeId,
        parent: ua.NodeId,
        reference_type: ua.NodeId,
        shape: NodeShape,
        own: dict[ua.AttributeIds, ua.DataValue] | None = None,
    ) -> None:
        """Queue a node of ``shape``; ``own`` are attribute values of this node only."""
        self._pending.append(_Pending(node_id, parent, reference_type, shape, own))

    def __len__(self) -> int:
        return len(self._pending)

    def commit(self) -> None:
        """Create the queued nodes in order (a parent before its children).

        Per node: one dictionary insertion by NodeId (hashing a NodeId is a Python call) and one
        lookup of its parent unless it has the parent of the node before; the references to the
        parent and to the type are found by the identity of the parent's node and of the shape.

        Raises:
            RuntimeError: a NodeId exists already, or a parent or type definition does not.
        """
        nodes: dict[ua.NodeId, NodeData] = self._aspace._nodes
        made: dict[int, ua.ReferenceDescription] = {}
        """``id`` of each node made here -> the forward reference to it (names, class, type)."""
        to_parent: dict[tuple[int, int], ua.ReferenceDescription] = {}
        to_type: dict[int, ua.ReferenceDescription] = {}
        parent_id: ua.NodeId | None = None
        parent: NodeData | None = None
        try:
            for pending in self._pending:
                node_id = pending.node_id
                if pending.parent is not parent_id:
                    parent_id, parent = pending.parent, nodes.get(pending.parent)
                if parent is None:
                    raise RuntimeError(
                        f"cannot create node {node_id.to_string()}: BadParentNodeIdInvalid"
                    )
                shape = pending.shape
                node = NodeData(node_id)
                if nodes.setdefault(node_id, node) is not node:
                    raise RuntimeError(f"cannot create node {node_id.to_string()}: BadNodeIdExists")
                own = pending.own
                browse_name, display = shape.browse_name, shape.display_name
                if own:
                    node.attributes = dict(shape.attributes)
                    for attr, value in own.items():
                        node.attributes[attr] = AttributeValue(value)
                    if ua.AttributeIds.BrowseName in own:
                        browse_name = own[ua.AttributeIds.BrowseName].Value.Value  # type: ignore[union-attr]
                    if ua.AttributeIds.DisplayName in own:
                        display = own[ua.AttributeIds.DisplayName].Value.Value  # type: ignore[union-attr]
                else:
                    node.attributes = shape.attributes
                forward = ua.ReferenceDescription(
                    ReferenceTypeId=pending.reference_type,
                    IsForward=True,
                    NodeId=node_id,
                    BrowseName=browse_name,
                    DisplayName=display,
                    NodeClass=shape.node_class,
                    TypeDefinition=shape.type_definition,
                )
                parent.references.append(forward)
                made[id(node)] = forward
                key = (id(parent), id(pending.reference_type))
                inverse = to_parent.get(key)
                if inverse is None:
                    inverse = self._reference_to_parent(pending, parent, made.get(id(parent)))
                    to_parent[key] = inverse
                node.references.append(inverse)
                if not shape.type_definition.is_null():
                    to_shape_type = to_type.get(id(shape))
                    if to_shape_type is None:
                        to_shape_type = self._reference_to_type(node_id, shape.type_definition)
                        to_type[id(shape)] = to_shape_type
                    node.references.append(to_shape_type)
        finally:
            self._pending.clear()

    def _reference_to_parent(
        self, pending: _Pending, parent: NodeData, made: ua.ReferenceDescription | None
    ) -> ua.ReferenceDescription:
        """The inverse reference to ``parent``; ``made``: the forward reference to the parent
        where it was made in the same commit."""
        if made is not None:  # made here (so new): no lookups, nothing to keep for later
            typed = made.NodeClass in (ua.NodeClass.Object, ua.NodeClass.Variable)
            return ua.ReferenceDescription(
                ReferenceTypeId=pending.reference_type,
                IsForward=False,
                NodeId=pending.parent,
                BrowseName=made.BrowseName,
                DisplayName=made.DisplayName,
                NodeClass=made.NodeClass,
                TypeDefinition=made.TypeDefinition if typed else ua.ExpandedNodeId(),
            )
        key = (pending.parent, pending.reference_type)
        if key not in self._to_parent:
            item = ua.AddReferencesItem()
            item.ReferenceTypeId = pending.reference_type
            item.SourceNodeId = pending.node_id
            item.TargetNodeId = pending.parent
            item.TargetNodeClass = parent.attributes[ua.AttributeIds.NodeClass].value.Value.Value  # type: ignore[union-attr]
            item.IsForward = False
            self._to_parent[key] = self._describe(item)
        return self._to_parent[key]

    def _reference_to_type(
        self, node_id: ua.NodeId, type_definition: ua.NodeId
    ) -> ua.ReferenceDescription:
        if type_definition not in self._to_type:
            if type_definition not in self._aspace:
                raise RuntimeError(
                    f"cannot create node {node_id.to_string()}: BadTypeDefinitionInvalid"
                )
            item = ua.AddReferencesItem()
            item.SourceNodeId = node_id
            item.IsForward = True
            item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasTypeDefinition)
            item.TargetNodeId = type_definition
            item.TargetNodeClass = ua.NodeClass.Unspecified
            self._to_type[type_definition] = self._describe(item)
        return self._to_type[type_definition]

    def _describe(self, item: ua.AddReferencesItem) -> ua.ReferenceDescription:
        """The ReferenceDescription asyncua would store for ``item`` (made once, then shared)."""
        scratch = NodeData(item.SourceNodeId)
        self._service._add_reference_no_check(scratch, item)
        return scratch.references[0]


def write_unwatched(
    aspace: AddressSpace, node_id: ua.NodeId, attr: ua.AttributeIds, value: ua.DataValue
) -> ua.StatusCode | None:
    """asyncua's ``write_attribute_value`` without awaiting, for an attribute nobody watches.

    The same checks and the same effect (a shared attribute's setter gives the node its own
    value); returns ``None``, writing nothing, where data-change callbacks (a subscription)
    watch the attribute or the value is Bad: the caller awaits asyncua's write for those.
    """
    node = aspace.get(node_id)
    if node is None:
        return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
    attval = node.attributes.get(attr)
    if attval is None:
        return ua.StatusCode(ua.StatusCodes.BadAttributeIdInvalid)
    if attval.datachange_callbacks or (value.StatusCode is not None and value.StatusCode.is_bad()):
        return None
    if attr in (ua.AttributeIds.BrowseName, ua.AttributeIds.DisplayName):
        return None  # asyncua renames the references to the node too
    if not aspace._is_expected_variant_type(value, attval, node):
        return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
    if attval.value_setter is not None:
        attval.value_setter(node, attr, value)
    else:
        attval.value = value
        attval.value_callback = None
    return ua.StatusCode()


def add_references(aspace: AddressSpace, items: list[ua.AddReferencesItem]) -> list[ua.StatusCode]:
    """asyncua's ``add_references`` (one direction, as there) for many references at once.

    The description of a target (its class, names and type definition) is made once for all the
    references of one type and direction to it and shared by their sources; the same checks as
    asyncua's: unknown source or target, a reference already there (kept once), a reference of
    the same type to the same target in the other direction (``BadReferenceNotAllowed``).
    """
    service = NodeManagementService(aspace)
    described: dict[tuple[ua.NodeId, ua.NodeId, bool, ua.NodeClass], ua.ReferenceDescription] = {}
    results: list[ua.StatusCode] = []
    indexes: dict[int, dict[tuple[ua.NodeId, ua.NodeId], bool]] = {}
    """``id`` of a node with many references -> (type, target) -> direction, of each."""
    for item in items:
        source = aspace.get(item.SourceNodeId)
        if source is None:
            results.append(ua.StatusCode(ua.StatusCodes.BadSourceNodeIdInvalid))
            continue
        key = (item.TargetNodeId, item.ReferenceTypeId, item.IsForward, item.TargetNodeClass)
        desc = described.get(key)
        if desc is None:
            if item.TargetNodeId not in aspace:
                results.append(ua.StatusCode(ua.StatusCodes.BadTargetNodeIdInvalid))
                continue
            scratch = NodeData(item.SourceNodeId)
            service._add_reference_no_check(scratch, item)
            desc = described[key] = scratch.references[0]
        status = ua.StatusCode()
        refs = source.references
        if len(refs) < _SCAN_LIMIT:
            for ref in refs:
                if ref is desc or (
                    ref.ReferenceTypeId == desc.ReferenceTypeId and ref.NodeId == desc.NodeId
                ):
                    if ref.IsForward != desc.IsForward:
                        status = ua.StatusCode(ua.StatusCodes.BadReferenceNotAllowed)
                    break
            else:
                refs.append(desc)
        else:  # a node with many references (the Site): look them up, do not scan each time
            index = indexes.get(id(source))
            if index is None:
                index = indexes[id(source)] = {}
                for ref in refs:
                    index.setdefault((ref.ReferenceTypeId, ref.NodeId), ref.IsForward)
            pair = (desc.ReferenceTypeId, desc.NodeId)
            found = index.get(pair)
            if found is None:
                index[pair] = desc.IsForward
                refs.append(desc)
            elif found != desc.IsForward:
                status = ua.StatusCode(ua.StatusCodes.BadReferenceNotAllowed)
        results.append(status)
    return results


_SCAN_LIMIT = 32
"""A node with fewer references is scanned for a duplicate; one with more gets an index."""
