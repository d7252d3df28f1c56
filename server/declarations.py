"""Read the instance declarations of an ObjectType, so instances can be built from them.

asyncua's ``instantiate`` creates either all optional children or none; an Ampacity asset carries
exactly the optional points its device provides. So the address-space builder copies declarations
itself: mandatory children always, optional ones on request, with every property below them
(EngineeringUnits, EURange, EnumValues, TrueState ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncua import Node, ua

MANDATORY = ua.NodeId(ua.ObjectIds.ModellingRule_Mandatory)
OPTIONAL = ua.NodeId(ua.ObjectIds.ModellingRule_Optional)
BASE_OBJECT_TYPE = ua.NodeId(ua.ObjectIds.BaseObjectType)

_CHILD_REFS = (ua.ObjectIds.HasComponent, ua.ObjectIds.HasProperty)


@dataclass(slots=True)
class Declaration:
    """One child of a type (or of another declaration)."""

    browse_name: ua.QualifiedName
    display_name: ua.LocalizedText
    description: ua.LocalizedText | None
    node_class: ua.NodeClass
    reference_type: ua.NodeId
    type_definition: ua.NodeId
    mandatory: bool
    data_type: ua.NodeId | None = None
    value_rank: int = -1
    access_level: int = 1
    value: ua.Variant | None = None
    children: list[Declaration] = field(default_factory=list)


async def _read_declaration(node: Node, reference_type: ua.NodeId) -> Declaration:
    node_class = await node.read_node_class()
    rule_refs = await node.get_references(ua.ObjectIds.HasModellingRule)
    mandatory = bool(rule_refs) and rule_refs[0].NodeId == MANDATORY
    type_refs = await node.get_references(ua.ObjectIds.HasTypeDefinition)
    decl = Declaration(
        browse_name=await node.read_browse_name(),
        display_name=await node.read_display_name(),
        description=(await node.read_attribute(ua.AttributeIds.Description)).Value.Value,
        node_class=node_class,
        reference_type=reference_type,
        type_definition=type_refs[0].NodeId if type_refs else ua.NodeId(),
        mandatory=mandatory,
    )
    if node_class == ua.NodeClass.Variable:
        decl.data_type = await node.read_data_type()
        decl.value_rank = await node.read_value_rank()
        decl.access_level = (await node.read_attribute(ua.AttributeIds.AccessLevel)).Value.Value
        decl.value = (await node.read_attribute(ua.AttributeIds.Value)).Value
    decl.children = await _read_children(node)
    return decl


async def _read_children(node: Node) -> list[Declaration]:
    children: list[Declaration] = []
    for ref_id in _CHILD_REFS:
        for ref in await node.get_references(
            ref_id, ua.BrowseDirection.Forward, includesubtypes=True
        ):
            child = Node(node.session, ref.NodeId)
            rules = await child.get_references(ua.ObjectIds.HasModellingRule)
            if not rules and ref_id != ua.ObjectIds.HasProperty:
                continue
            children.append(await _read_declaration(child, ref.ReferenceTypeId))
    return children


async def read_type_declarations(type_node: Node) -> list[Declaration]:
    """All instance declarations of an ObjectType, inherited ones included (subtype wins)."""
    chain: list[Node] = []
    current: Node | None = type_node
    while current is not None and current.nodeid != BASE_OBJECT_TYPE:
        chain.append(current)
        parents = await current.get_references(ua.ObjectIds.HasSubtype, ua.BrowseDirection.Inverse)
        current = Node(current.session, parents[0].NodeId) if parents else None
    by_name: dict[str, Declaration] = {}
    for level in reversed(chain):  # supertypes first, so subtypes override
        for decl in await _read_children(level):
            by_name[decl.browse_name.Name] = decl
    return list(by_name.values())
