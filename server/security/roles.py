"""Role -> permission rules, evaluated against the address space.

Every role browses, reads, subscribes and reads history. Beyond that:

* ``viewer``: calls only the read-only standard methods; writes nothing.
* ``operator``: writes the Value of writable nodes outside namespace 0 and outside ``Marketer``
  objects (the setpoints and modes); calls methods outside namespace 0 that are not under a
  ``Marketer`` object, the read-only standard methods and the alarm methods Acknowledge, Confirm
  and AddComment (``CONDITION_METHODS``; Enable and Disable are admin's).
* ``marketer``: calls the methods of ``Marketer`` objects and the read-only standard methods;
  writes nothing.
* ``admin``: everything asyncua allows, and alone HistoryUpdate, AddNodes, DeleteNodes,
  AddReferences and DeleteReferences.

"Read-only standard methods": Server.GetMonitoredItems, Server.ResendData,
ConditionRefresh, ConditionRefresh2. A ``Marketer`` object is an object with the BrowseName
``Marketer`` or a type whose BrowseName ends in ``MarketerType``, or any node below one.
A non-admin may call a method only on an object that has it (or whose type has it).
"""

from __future__ import annotations

from asyncua import ua
from asyncua.server.address_space import AddressSpace

from .config import Role

SAFE_METHODS = frozenset(
    ua.NodeId(i)
    for i in (
        ua.ObjectIds.Server_GetMonitoredItems,
        ua.ObjectIds.Server_ResendData,
        ua.ObjectIds.ConditionType_ConditionRefresh,
        ua.ObjectIds.ConditionType_ConditionRefresh2,
    )
)
CONDITION_METHODS = frozenset(
    ua.NodeId(i)
    for i in (
        ua.ObjectIds.AcknowledgeableConditionType_Acknowledge,
        ua.ObjectIds.AcknowledgeableConditionType_Confirm,
        ua.ObjectIds.ConditionType_AddComment,
    )
)
"""Alarm methods an operator may call (Enable/Disable stay with admin)."""
ADMIN_SERVICES = frozenset(
    {"HistoryUpdate", "AddNodes", "DeleteNodes", "AddReferences", "DeleteReferences"}
)
WRITE_BITS = (
    ua.AccessLevel.CurrentWrite.mask
    | ua.AccessLevel.HistoryWrite.mask
    | ua.AccessLevel.SemanticChange.mask
    | ua.AccessLevel.StatusWrite.mask
    | ua.AccessLevel.TimestampWrite.mask
)
_HIERARCHY_UP = frozenset(
    ua.NodeId(i)
    for i in (
        ua.ObjectIds.HasComponent,
        ua.ObjectIds.HasOrderedComponent,
        ua.ObjectIds.Organizes,
        ua.ObjectIds.HasProperty,
        ua.ObjectIds.HasNotifier,
    )
)
_COMPONENTS = frozenset(
    ua.NodeId(i) for i in (ua.ObjectIds.HasComponent, ua.ObjectIds.HasOrderedComponent)
)
MAX_DEPTH = 12


class AccessRules:
    """Answers "may this role do that to this node" from the address space."""

    def __init__(self, aspace: AddressSpace) -> None:
        self._aspace = aspace

    # --- services -------------------------------------------------------------------------

    @staticmethod
    def may_use_service(role: Role, service: str) -> bool:
        return role is Role.ADMIN or service not in ADMIN_SERVICES

    # --- write -----------------------------------------------------------------------------

    def may_write(self, role: Role, node_id: ua.NodeId, attribute: int) -> bool:
        if role is Role.ADMIN:
            return True
        if role is not Role.OPERATOR or attribute != ua.AttributeIds.Value:
            return False
        if node_id.NamespaceIndex == 0 or self.under_marketer(node_id):
            return False
        level = self._attribute(node_id, ua.AttributeIds.AccessLevel)
        return isinstance(level, int) and bool(level & ua.AccessLevel.CurrentWrite.mask)

    def user_access_level(self, role: Role, node_id: ua.NodeId, stored: int) -> int:
        if role is Role.ADMIN:
            return stored
        level = stored & ~WRITE_BITS
        if self.may_write(role, node_id, ua.AttributeIds.Value):
            level |= stored & ua.AccessLevel.CurrentWrite.mask
        return level

    # --- call ----------------------------------------------------------------------------

    def may_call(self, role: Role, object_id: ua.NodeId, method_id: ua.NodeId) -> bool:
        if role is Role.ADMIN:
            return True
        if not self.has_method(object_id, method_id):
            return False
        return self._method_allowed(role, method_id, object_id)

    def method_executable(self, role: Role, method_id: ua.NodeId) -> bool:
        """UserExecutable of a method node for ``role`` (on the object that holds it)."""
        if role is Role.ADMIN:
            return True
        parents = self._parents(method_id, _COMPONENTS)
        if not parents:
            return method_id in SAFE_METHODS
        return any(self._method_allowed(role, method_id, p) for p in parents)

    def _method_allowed(self, role: Role, method_id: ua.NodeId, object_id: ua.NodeId) -> bool:
        if method_id in SAFE_METHODS:
            return True
        if method_id in CONDITION_METHODS:
            return role is Role.OPERATOR
        if method_id.NamespaceIndex == 0:
            return False
        marketer = self.under_marketer(object_id) or self.under_marketer(method_id)
        if role is Role.MARKETER:
            return marketer
        if role is Role.OPERATOR:
            return not marketer
        return False

    def has_method(self, object_id: ua.NodeId, method_id: ua.NodeId) -> bool:
        """The object (or its type, or a supertype) has the method as a component."""
        if method_id in self._children(object_id, _COMPONENTS):
            return True
        type_id = self._type_definition(object_id)
        depth = 0
        while type_id is not None and depth < MAX_DEPTH:
            if method_id in self._children(type_id, _COMPONENTS):
                return True
            supers = self._parents(type_id, frozenset({ua.NodeId(ua.ObjectIds.HasSubtype)}))
            type_id = supers[0] if supers else None
            depth += 1
        return False

    # --- the Marketer subtree --------------------------------------------------------------

    def under_marketer(self, node_id: ua.NodeId) -> bool:
        seen: set[ua.NodeId] = set()
        frontier = [node_id]
        for _ in range(MAX_DEPTH):
            following: list[ua.NodeId] = []
            for current in frontier:
                if current in seen:
                    continue
                seen.add(current)
                if self._is_marketer(current):
                    return True
                following += self._parents(current, _HIERARCHY_UP)
            if not following:
                return False
            frontier = following
        return False

    def _is_marketer(self, node_id: ua.NodeId) -> bool:
        name = self._attribute(node_id, ua.AttributeIds.BrowseName)
        if isinstance(name, ua.QualifiedName) and name.Name == "Marketer":
            return True
        type_id = self._type_definition(node_id)
        if type_id is None:
            return False
        type_name = self._attribute(type_id, ua.AttributeIds.BrowseName)
        return isinstance(type_name, ua.QualifiedName) and type_name.Name.endswith("MarketerType")

    # --- address space helpers ------------------------------------------------------------

    def _attribute(self, node_id: ua.NodeId, attribute: int) -> object:
        node = self._aspace.get(node_id)
        if node is None:
            return None
        value = node.attributes.get(attribute)  # type: ignore[call-overload]
        if value is None or value.value is None or value.value.Value is None:
            return None
        return value.value.Value.Value

    def _children(self, node_id: ua.NodeId, types: frozenset[ua.NodeId]) -> list[ua.NodeId]:
        node = self._aspace.get(node_id)
        if node is None:
            return []
        return [r.NodeId for r in node.references if r.IsForward and r.ReferenceTypeId in types]

    def _parents(self, node_id: ua.NodeId, types: frozenset[ua.NodeId]) -> list[ua.NodeId]:
        node = self._aspace.get(node_id)
        if node is None:
            return []
        return [r.NodeId for r in node.references if not r.IsForward and r.ReferenceTypeId in types]

    def _type_definition(self, node_id: ua.NodeId) -> ua.NodeId | None:
        node = self._aspace.get(node_id)
        if node is None:
            return None
        for ref in node.references:
            if ref.IsForward and ref.ReferenceTypeId == ua.NodeId(ua.ObjectIds.HasTypeDefinition):
                return ref.NodeId
        return None
