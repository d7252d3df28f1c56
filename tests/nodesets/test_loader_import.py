"""``load_types`` builds exactly what asyncua's own ``import_xml`` builds from the nodeset."""

from __future__ import annotations

from ampacity.nodesets import NODESET_PATH, TYPES_NAMESPACE_URI
from ampacity.nodesets.loader import load_types
from asyncua import Server, ua


def _address_space(server: Server) -> dict[str, tuple[list[str], list[str]]]:
    """Every node: its attributes (the Value's variant, no timestamps) and its references, in
    their order (a browse answers in it)."""
    out = {}
    for node_id, node in server.iserver.aspace._nodes.items():
        attributes = []
        for attr, held in sorted(node.attributes.items()):
            value = held.value
            if isinstance(value, ua.DataValue):
                value = (value.Value, value.StatusCode)
            if attr != ua.AttributeIds.Value or node_id.NamespaceIndex != 0:
                attributes.append(f"{attr}={value!r}")
        references = [
            f"{r.ReferenceTypeId} {r.IsForward} {r.NodeId} {r.BrowseName} {r.NodeClass} "
            f"{r.TypeDefinition}"
            for r in node.references
        ]
        out[node_id.to_string()] = (attributes, references)
    return out


async def test_load_types_adds_the_nodes_and_references_import_xml_adds() -> None:
    own, reference = Server(), Server()
    await own.init()
    await reference.init()
    own_ns = await load_types(own)
    await reference.import_xml(str(NODESET_PATH))
    assert own_ns == await reference.get_namespace_index(TYPES_NAMESPACE_URI)
    mine, theirs = _address_space(own), _address_space(reference)
    assert mine.keys() == theirs.keys()
    assert [k for k in mine if mine[k] != theirs[k]] == []
    view = own.iserver.view_service
    assert "_suitable_reftype" not in vars(view)  # the browse is asyncua's own again
