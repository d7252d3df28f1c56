"""The conditions in asyncua's address space: instances, events, methods, ConditionRefresh.

``AlarmService`` keeps one ``ConditionState`` per ``ConditionDef`` and shows it three ways:

* **Nodes.** Each condition is an object of its standard type (``OffNormalAlarmType``,
  ``DiscreteAlarmType``, ``ExclusiveLimitAlarmType``) under its SourceNode (``HasComponent`` and
  ``HasCondition``), NodeId ``ns=<site>;s=<source>.<ConditionName>``, with the standard fields as
  children (``<key>.ActiveState.Id`` ...). They are written on every change.
* **Events.** Every change is one event of the condition's type, sent to the monitored items of
  the source's, the Site's and the Server object's EventNotifier (asyncua's ``OfType`` compares
  types exactly; the where clause here admits subtypes and nested browse paths).
* **Methods.** ``Acknowledge``, ``Confirm``, ``AddComment``, ``Enable``, ``Disable`` answer for
  every condition (clients call the type's method with the condition as ObjectId; the session's
  role is checked before, in ``security/roles.py``); ``ConditionRefresh`` / ``ConditionRefresh2``
  replay every retained condition between a RefreshStartEvent and a RefreshEndEvent to the
  subscription's event items (those two regardless of the item's where clause).

Every transition is recorded by the historian as an ``alarm`` event (HistoryReadEvents).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from ampacity.assets import Reading
from asyncua import Server, ua
from asyncua.common.events import Event
from asyncua.server.monitored_item_service import WhereClauseEvaluator

from ..nodestore import BulkNodes, NodeShape, add_references, write_unwatched
from ..security.server import session_user
from .config import AlarmsConfig
from .sources import AlarmSources, ConditionDef, Signal
from .state import ConditionError, ConditionState, Transition

log = logging.getLogger(__name__)

TICK_S = 1.0
"""How often limit delays and the historian's health are checked, s."""

SYSTEM_KINDS = frozenset({"comm_lost", "historian_buffering", "historian_buffer_high"})
"""Condition kinds of the ``SystemConditionClassType`` (the others are process conditions)."""

STATE_TEXTS: dict[str, tuple[str, str]] = {
    "EnabledState": ("Enabled", "Disabled"),
    "ActiveState": ("Active", "Inactive"),
    "AckedState": ("Acknowledged", "Unacknowledged"),
    "ConfirmedState": ("Confirmed", "Unconfirmed"),
}
"""TrueState / FalseState texts of the two-state variables."""

COMPONENT_TYPES: dict[str, int] = {
    **dict.fromkeys(STATE_TEXTS, ua.ObjectIds.TwoStateVariableType),
    "Quality": ua.ObjectIds.ConditionVariableType,
    "LastSeverity": ua.ObjectIds.ConditionVariableType,
    "Comment": ua.ObjectIds.ConditionVariableType,
    "LimitState": ua.ObjectIds.ExclusiveLimitStateMachineType,
    "LimitState/CurrentState": ua.ObjectIds.FiniteStateVariableType,
}
"""Children that are components (the rest are properties) and their type definitions."""

EVENT_ONLY = frozenset({"NodeId", "LimitState"})
"""Fields that are no variable of the condition (ConditionId is its NodeId)."""


class EventRecorder(Protocol):
    def record_event(self, *args: Any, **kwargs: Any) -> None: ...


def _status_code(name: str) -> int:
    return int(getattr(ua.StatusCodes, name, ua.StatusCodes.BadInvalidState))


def _text(value: str) -> ua.Variant:
    return ua.Variant(ua.LocalizedText(value), ua.VariantType.LocalizedText)


class Condition:
    """One condition instance: its definition, state and NodeIds."""

    def __init__(self, definition: ConditionDef, state: ConditionState, site_ns: int) -> None:
        self.definition = definition
        self.state = state
        self.node_id = ua.NodeId(definition.key, site_ns)
        self.source_id = ua.NodeId(definition.source, site_ns)
        self.type_id = ua.NodeId(getattr(ua.ObjectIds, definition.spec.type_name))
        self.limit: float | None = None
        """The limit in force (W, grid-power sign) for limit alarms."""
        self.written: dict[str, ua.Variant] = {}

    def fields(self, receive_time: datetime) -> dict[str, ua.Variant]:
        """Every field of the condition's event (names as event select clauses give them)."""
        st = self.state
        d = self.definition
        system = d.kind in SYSTEM_KINDS
        class_id = (
            ua.ObjectIds.SystemConditionClassType
            if system
            else (ua.ObjectIds.ProcessConditionClassType)
        )
        out: dict[str, ua.Variant] = {
            "EventId": ua.Variant(st.event_id, ua.VariantType.ByteString),
            "EventType": ua.Variant(self.type_id, ua.VariantType.NodeId),
            "SourceNode": ua.Variant(self.source_id, ua.VariantType.NodeId),
            "SourceName": ua.Variant(d.source, ua.VariantType.String),
            "Time": ua.Variant(st.time, ua.VariantType.DateTime),
            "ReceiveTime": ua.Variant(receive_time, ua.VariantType.DateTime),
            "Message": _text(st.message),
            "Severity": ua.Variant(st.severity, ua.VariantType.UInt16),
            "ConditionClassId": ua.Variant(ua.NodeId(class_id), ua.VariantType.NodeId),
            "ConditionClassName": _text("System" if system else "Process"),
            "ConditionName": ua.Variant(d.spec.name, ua.VariantType.String),
            "BranchId": ua.Variant(ua.NodeId(), ua.VariantType.NodeId),
            "Retain": ua.Variant(st.retain, ua.VariantType.Boolean),
            "Quality": ua.Variant(ua.StatusCode(st.quality), ua.VariantType.StatusCode),
            "Quality/SourceTimestamp": ua.Variant(st.time, ua.VariantType.DateTime),
            "LastSeverity": ua.Variant(st.last_severity, ua.VariantType.UInt16),
            "LastSeverity/SourceTimestamp": ua.Variant(st.time, ua.VariantType.DateTime),
            "Comment": _text(st.comment),
            "Comment/SourceTimestamp": ua.Variant(
                st.comment_time or st.time, ua.VariantType.DateTime
            ),
            "ClientUserId": ua.Variant(st.user, ua.VariantType.String),
            "InputNode": ua.Variant(ua.NodeId(), ua.VariantType.NodeId),
            "SuppressedOrShelved": ua.Variant(False, ua.VariantType.Boolean),
            "NodeId": ua.Variant(self.node_id, ua.VariantType.NodeId),
        }
        flags = {
            "EnabledState": st.enabled,
            "ActiveState": st.active,
            "AckedState": st.acked,
        }
        if st.confirmable:
            flags["ConfirmedState"] = st.confirmed
        for name, flag in flags.items():
            true_text, false_text = STATE_TEXTS[name]
            out[name] = _text(true_text if flag else false_text)
            out[f"{name}/Id"] = ua.Variant(flag, ua.VariantType.Boolean)
            moment = st.transition_times.get(name.removesuffix("State"), st.time)
            out[f"{name}/TransitionTime"] = ua.Variant(moment, ua.VariantType.DateTime)
        if d.spec.type_name == "OffNormalAlarmType":
            out["NormalState"] = ua.Variant(ua.NodeId(), ua.VariantType.NodeId)
        if d.spec.limit is not None:
            limit_name = "HighLimit" if d.spec.limit == "high" else "LowLimit"
            state_name = "High" if d.spec.limit == "high" else "Low"
            limit = self.limit if self.limit is not None else 0.0
            out[limit_name] = ua.Variant(float(limit), ua.VariantType.Double)
            out["LimitState/CurrentState"] = _text(state_name if st.active else "")
            state_id = (
                ua.NodeId(getattr(ua.ObjectIds, f"ExclusiveLimitStateMachineType_{state_name}"))
                if st.active
                else ua.NodeId()
            )
            out["LimitState/CurrentState/Id"] = ua.Variant(state_id, ua.VariantType.NodeId)
        return out

    def event(self, receive_time: datetime) -> Event:
        event = Event()
        for name, variant in self.fields(receive_time).items():
            event.add_property(name, variant.Value, variant.VariantType)
        return event


# --- where clauses -------------------------------------------------------------------------


class SubtypeWhereEvaluator(WhereClauseEvaluator):  # type: ignore[misc]
    """asyncua's evaluator, with ``OfType`` admitting subtypes and nested browse paths
    (``ActiveState/Id``) resolved."""

    def __init__(self, aspace: Any, where: ua.ContentFilter, supertypes: Callable[..., Any]):
        super().__init__(log, aspace, where)
        self._supertypes = supertypes

    def _eval_el(self, index: int, event: Any) -> Any:
        el = self.elements[index]
        if el.FilterOperator == ua.FilterOperator.OfType:
            wanted = self._eval_op(el.FilterOperands[0], event)
            return wanted in self._supertypes(event.EventType)
        return super()._eval_el(index, event)

    def _eval_op(self, op: Any, event: Any) -> Any:
        if isinstance(op, ua.SimpleAttributeOperand) and op.BrowsePath:
            return getattr(event, "/".join(q.Name for q in op.BrowsePath), None)
        if isinstance(op, ua.SimpleAttributeOperand) and op.AttributeId == ua.AttributeIds.NodeId:
            return getattr(event, "NodeId", None)
        return super()._eval_op(op, event)


# --- the service ------------------------------------------------------------------------------


class AlarmService:
    """The site's conditions, kept current from its sources and shown through asyncua.

    Args:
        server: the asyncua server.
        site_ns: namespace index of the site's instance nodes.
        sources: the planned condition sources.
        config: the ``alarms:`` section.
        historian: where transitions are recorded (``None``: not recorded).
        clock: UTC now (injectable for tests).
    """

    def __init__(
        self,
        server: Server,
        site_ns: int,
        sources: AlarmSources,
        config: AlarmsConfig,
        historian: EventRecorder | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.server = server
        self.site_ns = site_ns
        self.sources = sources
        self.config = config
        self.historian = historian
        self.clock = clock
        self.conditions: dict[ua.NodeId, Condition] = {}
        self.by_key: dict[str, Condition] = {}
        self._signals: list[Signal] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._evaluators: weakref.WeakKeyDictionary[Any, tuple[Any, SubtypeWhereEvaluator]] = (
            weakref.WeakKeyDictionary()
        )
        """Monitored item -> (its filter, the evaluator of its where clause)."""
        self._supertype_cache: dict[ua.NodeId, frozenset[ua.NodeId]] = {}
        self.health: Callable[[], Any] | None = None
        """Returns the historian's health (``on_historian`` every tick); ``None``: not watched."""
        self.delivered = 0
        """Condition events handed to subscriptions since start (for the burst benchmark)."""

    # --- setup -----------------------------------------------------------------------------

    async def install(self) -> None:
        """Create the condition nodes and bind the methods (after the address space is built)."""
        now = self.clock()
        for definition in self.sources.conditions.values():
            settings = self.config.kind(definition.kind)
            state = ConditionState(
                settings.severity,
                definition.spec.off.format(src=definition.source, detail=""),
                now,
                confirmable=settings.confirm,
            )
            cond = Condition(definition, state, self.site_ns)
            self.conditions[cond.node_id] = cond
            self.by_key[definition.key] = cond
        await self._add_nodes(now)
        isession = self.server.iserver.isession
        methods: dict[int, Callable[..., Any]] = {
            ua.ObjectIds.AcknowledgeableConditionType_Acknowledge: self._acknowledge,
            ua.ObjectIds.AcknowledgeableConditionType_Confirm: self._confirm,
            ua.ObjectIds.ConditionType_AddComment: self._add_comment,
            ua.ObjectIds.ConditionType_Enable: self._enable,
            ua.ObjectIds.ConditionType_Disable: self._disable,
            ua.ObjectIds.ConditionType_ConditionRefresh: self._refresh,
            ua.ObjectIds.ConditionType_ConditionRefresh2: self._refresh2,
        }
        for method_id, callback in methods.items():
            isession.add_method_callback(ua.NodeId(method_id), callback)

    async def _add_nodes(self, now: datetime) -> None:
        nodes = _ConditionNodes(self.server.iserver.aspace)
        references: list[ua.AddReferencesItem] = []
        notifiers: set[ua.NodeId] = {ua.NodeId(self.sources.site_id, self.site_ns)}
        aspace = self.server.iserver.aspace
        for cond in self.conditions.values():
            if cond.source_id not in aspace:
                log.warning("alarms: no node %s for %s", cond.source_id, cond.definition.key)
                continue
            node_id = cond.node_id
            nodes.object(
                cond.source_id, node_id, cond.definition.spec.name, cond.type_id, _HAS_COMPONENT
            )
            fields = cond.fields(now)
            parents: dict[str, ua.NodeId] = {"": node_id}
            for name, variant in fields.items():
                if name in EVENT_ONLY:
                    continue
                parent_name, _, leaf = name.rpartition("/")
                parent = parents.get(parent_name)
                if parent is None:
                    parent = parents[parent_name] = _child(node_id, parent_name)
                if name == "LimitState/CurrentState":
                    nodes.object(
                        node_id,
                        parent,
                        "LimitState",
                        ua.NodeId(COMPONENT_TYPES["LimitState"]),
                        _HAS_COMPONENT,
                    )
                nodes.variable(
                    parent, _child(node_id, name), leaf, variant, COMPONENT_TYPES.get(name)
                )
            cond.written = fields
            references.append(_reference(cond.source_id, ua.ObjectIds.HasCondition, node_id))
            notifiers.add(cond.source_id)
        site = ua.NodeId(self.sources.site_id, self.site_ns)
        references.append(
            _reference(ua.NodeId(ua.ObjectIds.Server), ua.ObjectIds.HasNotifier, site)
        )
        references += [
            _reference(site, ua.ObjectIds.HasNotifier, n)
            for n in sorted(notifiers, key=str)
            if n != site
        ]
        nodes.commit()
        add_references(aspace, references)
        for node_id in notifiers:
            await _set_bit(aspace, node_id, ua.AttributeIds.EventNotifier, _SUBSCRIBE_TO_EVENTS)

    # --- inputs ----------------------------------------------------------------------------

    def on_reading(self, reading: Reading) -> None:
        """Writer listener (cheap: the state changes happen in ``run``)."""
        if not self.sources.watches(reading.node_key):
            return
        signals = self.sources.on_reading(reading, self.clock())
        if signals:
            self._signals += signals
            self._wake.set()

    async def run(self) -> None:
        """Apply signals as they come and check delays every ``TICK_S`` until cancelled."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, due - loop.time()))
            self._wake.clear()
            if loop.time() >= due:
                due = loop.time() + TICK_S
                self._signals += self.sources.tick(self.clock())
                if self.health is not None:
                    try:
                        h = self.health()
                        # unreachable: it failed (an error) or lost the connection it had;
                        # not merely "not yet connected" during the first seconds
                        down = not h.database_connected and bool(h.backend or h.last_error)
                        self._signals += self.sources.on_historian(
                            not down, h.buffer_bytes, h.buffered
                        )
                    except Exception:
                        log.exception("alarms: cannot read the historian's health")
            await self.apply_pending()

    async def apply_pending(self) -> int:
        """Apply the queued signals now; returns how many events were sent."""
        signals, self._signals = self._signals, []
        sent = 0
        for signal in signals:
            cond = self.by_key.get(signal.key)
            if cond is None:
                continue
            if signal.limit is not None:
                cond.limit = signal.limit
            transition = cond.state.set_active(signal.active, self.clock(), signal.message)
            if transition is not None:
                await self._report(cond, transition)
                sent += 1
        return sent

    # --- outputs ---------------------------------------------------------------------------

    async def _report(self, cond: Condition, transition: Transition, comment: str = "") -> None:
        async with self._lock:
            now = self.clock()
            await self._write_nodes(cond, now)
            event = cond.event(now)
            await self._deliver(event, self._chain(cond))
        self._record(cond, transition, comment)

    async def _write_nodes(self, cond: Condition, now: datetime) -> None:
        aspace = self.server.iserver.aspace
        fields = cond.fields(now)
        for name, variant in fields.items():
            if name in EVENT_ONLY or name == "ReceiveTime" or cond.written.get(name) == variant:
                continue
            await aspace.write_attribute_value(
                _child(cond.node_id, name), ua.AttributeIds.Value, ua.DataValue(variant)
            )
        cond.written = fields

    def _chain(self, cond: Condition) -> list[ua.NodeId]:
        site = ua.NodeId(self.sources.site_id, self.site_ns)
        return list(dict.fromkeys([cond.source_id, site, ua.NodeId(ua.ObjectIds.Server)]))

    def _supertypes(self, type_id: ua.NodeId) -> frozenset[ua.NodeId]:
        found = self._supertype_cache.get(type_id)
        if found is not None:
            return found
        aspace = self.server.iserver.aspace
        chain = [type_id]
        current: ua.NodeId | None = type_id
        subtype = ua.NodeId(ua.ObjectIds.HasSubtype)
        while current is not None and len(chain) < 16:
            node = aspace.get(current)
            parents = [
                r.NodeId
                for r in (node.references if node else [])
                if not r.IsForward and r.ReferenceTypeId == subtype
            ]
            current = parents[0] if parents else None
            if current is not None:
                chain.append(current)
        found = frozenset(chain)
        self._supertype_cache[type_id] = found
        return found

    def _evaluator(self, mdata: Any) -> SubtypeWhereEvaluator:
        cached = self._evaluators.get(mdata)
        if cached is not None and cached[0] is mdata.filter:  # not modified since
            return cached[1]
        where = getattr(mdata.filter, "WhereClause", None) or ua.ContentFilter()
        evaluator = SubtypeWhereEvaluator(self.server.iserver.aspace, where, self._supertypes)
        self._evaluators[mdata] = (mdata.filter, evaluator)
        return evaluator

    async def _deliver(
        self,
        event: Event,
        notifiers: Iterable[ua.NodeId],
        subscription_id: int | None = None,
        only: int | None = None,
        unfiltered: bool = False,
    ) -> None:
        """Send ``event`` to the event items on ``notifiers`` (of one subscription / item)."""
        subscriptions = self.server.iserver.subscription_service.subscriptions
        chosen = (
            [subscriptions[subscription_id]]
            if subscription_id in subscriptions
            else []
            if subscription_id is not None
            else list(subscriptions.values())
        )
        for sub in chosen:
            mis = sub.monitored_item_srv
            for node in notifiers:
                for mid in list(mis._monitored_events.get(node, ())):
                    if only is not None and mid != only:
                        continue
                    mdata = mis._monitored_items.get(mid)
                    if mdata is None or mdata.filter is None:
                        continue
                    if not unfiltered and not self._evaluator(mdata).eval(event):
                        continue
                    fields = ua.EventFieldList()
                    fields.ClientHandle = mdata.client_handle
                    fields.EventFields = [
                        _select(event, clause) for clause in mdata.filter.SelectClauses
                    ]
                    await mis.isub.enqueue_event(mid, fields, mdata.queue_size)
                    self.delivered += 1

    def _record(self, cond: Condition, transition: Transition, comment: str) -> None:
        if self.historian is None:
            return
        from ampacity.storage import EventKind

        st = cond.state
        self.historian.record_event(
            EventKind.ALARM,
            cond.definition.source,
            st.message
            if transition in (Transition.ACTIVATED, Transition.DEACTIVATED, Transition.CHANGED)
            else f"{cond.definition.spec.name} {transition.value}",
            time=st.time,
            severity=st.severity,
            user=st.user or None,
            status=st.quality,
            extra={
                "condition": cond.definition.key,
                "condition_name": cond.definition.spec.name,
                "type": cond.definition.spec.type_name,
                "transition": transition.value,
                "enabled": st.enabled,
                "active": st.active,
                "acked": st.acked,
                "confirmed": st.confirmed,
                "retain": st.retain,
                "comment": comment,
            },
        )

    # --- methods ---------------------------------------------------------------------------

    def _user(self) -> str:
        user = session_user.get()
        return str(getattr(user, "name", "") or "") if user is not None else ""

    async def _call(
        self,
        parent: ua.NodeId,
        action: Callable[[ConditionState, str, datetime], Transition],
        comment: str = "",
    ) -> ua.StatusCode | list[Any]:
        cond = self.conditions.get(parent)
        if cond is None:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdInvalid)
        try:
            transition = action(cond.state, self._user(), self.clock())
        except ConditionError as exc:
            log.info("alarms: %s on %s refused: %s", exc.code, cond.definition.key, exc)
            return ua.StatusCode(_status_code(exc.code))
        await self._report(cond, transition, comment)
        return []

    async def _acknowledge(self, parent: ua.NodeId, event_id: Any, comment: Any) -> Any:
        eid, text = _value(event_id), _comment(comment)
        if not isinstance(eid, bytes):
            return ua.StatusCode(ua.StatusCodes.BadEventIdUnknown)
        return await self._call(parent, lambda s, u, t: s.acknowledge(eid, text, u, t), text)

    async def _confirm(self, parent: ua.NodeId, event_id: Any, comment: Any) -> Any:
        eid, text = _value(event_id), _comment(comment)
        if not isinstance(eid, bytes):
            return ua.StatusCode(ua.StatusCodes.BadEventIdUnknown)
        return await self._call(parent, lambda s, u, t: s.confirm(eid, text, u, t), text)

    async def _add_comment(self, parent: ua.NodeId, event_id: Any, comment: Any) -> Any:
        eid, text = _value(event_id), _comment(comment)
        if not isinstance(eid, bytes):
            return ua.StatusCode(ua.StatusCodes.BadEventIdUnknown)
        return await self._call(parent, lambda s, u, t: s.add_comment(eid, text, u, t), text)

    async def _enable(self, parent: ua.NodeId) -> Any:
        return await self._call(parent, lambda s, u, t: s.enable(u, t))

    async def _disable(self, parent: ua.NodeId) -> Any:
        return await self._call(parent, lambda s, u, t: s.disable(u, t))

    async def _refresh(self, parent: ua.NodeId, subscription_id: Any) -> Any:
        return await self.refresh(int(_value(subscription_id)), None)

    async def _refresh2(self, parent: ua.NodeId, subscription_id: Any, item_id: Any) -> Any:
        return await self.refresh(int(_value(subscription_id)), int(_value(item_id)))

    async def refresh(self, subscription_id: int, item_id: int | None) -> Any:
        """ConditionRefresh(2): the retained conditions between RefreshStart and RefreshEnd."""
        subs = self.server.iserver.subscription_service.subscriptions
        sub = subs.get(subscription_id)
        if sub is None:
            return ua.StatusCode(ua.StatusCodes.BadSubscriptionIdInvalid)
        mis = sub.monitored_item_srv
        if item_id is not None and item_id not in mis._monitored_items:
            return ua.StatusCode(ua.StatusCodes.BadMonitoredItemIdInvalid)
        async with self._lock:
            notifiers = [n for n, mids in mis._monitored_events.items() if mids]
            now = self.clock()
            start = _system_event(ua.ObjectIds.RefreshStartEventType, now)
            await self._deliver(start, notifiers, subscription_id, item_id, unfiltered=True)
            for cond in self.conditions.values():
                if cond.state.retain:
                    chain = set(self._chain(cond))
                    await self._deliver(
                        cond.event(now),
                        [n for n in notifiers if n in chain],
                        subscription_id,
                        item_id,
                    )
            end = _system_event(ua.ObjectIds.RefreshEndEventType, now)
            await self._deliver(end, notifiers, subscription_id, item_id, unfiltered=True)
        return []

    async def acknowledge_all(self, user: str, comment: str = "") -> int:
        """Acknowledge every unacknowledged enabled condition (as ``user``); returns how many."""
        done = 0
        for cond in self.conditions.values():
            st = cond.state
            if st.enabled and not st.acked:
                await self._report(cond, st.acknowledge(st.event_id, comment, user, self.clock()))
                done += 1
        return done

    @property
    def retained(self) -> list[str]:
        """Keys of the conditions a client's alarm list shows now."""
        return [c.definition.key for c in self.conditions.values() if c.state.retain]


# --- helpers -----------------------------------------------------------------------------------


class _ConditionNodes:
    """The condition nodes, made in one pass (``nodestore.BulkNodes``): the nodes of one field of
    one condition type share their attributes but the value (AddNodes took about 1 ms a node).

    A field's shape is made from the ``AddNodesItem`` of its first node; the others are queued
    with their NodeId, parent and value only.
    """

    def __init__(self, aspace: Any) -> None:
        self._bulk = BulkNodes(aspace)
        self._shapes: dict[tuple[Any, ...], NodeShape] = {}

    def object(
        self, parent: ua.NodeId, node_id: ua.NodeId, name: str, type_id: ua.NodeId, reference: int
    ) -> None:
        key = (ua.NodeClass.Object, name, type_id, reference)
        shape = self._shapes.get(key)
        if shape is None:
            item = _object(parent, node_id, name, type_id, reference)
            shape = self._shapes[key] = self._bulk.shape(item)
        self._bulk.add(node_id, parent, _REFERENCE_TYPES[reference], shape)

    def variable(
        self,
        parent: ua.NodeId,
        node_id: ua.NodeId,
        name: str,
        variant: ua.Variant,
        component: int | None,
    ) -> None:
        key = (ua.NodeClass.Variable, name, component, variant.VariantType)
        shape = self._shapes.get(key)
        if shape is None:
            item = _variable(parent, node_id, name, variant, component)
            shape = self._shapes[key] = self._bulk.shape(item)
        reference = _HAS_PROPERTY if component is None else _HAS_COMPONENT
        own = {ua.AttributeIds.Value: ua.DataValue(variant)}
        self._bulk.add(node_id, parent, _REFERENCE_TYPES[reference], shape, own)

    def commit(self) -> None:
        self._bulk.commit()


_HAS_COMPONENT = ua.ObjectIds.HasComponent
_HAS_PROPERTY = ua.ObjectIds.HasProperty
_REFERENCE_TYPES = {r: ua.NodeId(r) for r in (_HAS_COMPONENT, _HAS_PROPERTY)}
"""One NodeId per reference type for every node (the shapes' and the parents' references)."""
_SUBSCRIBE_TO_EVENTS = ua.EventNotifier.SubscribeToEvents.mask


async def _set_bit(aspace: Any, node_id: ua.NodeId, attr: ua.AttributeIds, bit: int) -> None:
    """``Node.set_attr_bit`` on the server's own address space, written in place where no
    subscription watches the attribute."""
    current = aspace.read_attribute_value(node_id, attr).Value
    value = ua.DataValue(ua.Variant(current.Value | bit, current.VariantType))
    if write_unwatched(aspace, node_id, attr, value) is None:
        await aspace.write_attribute_value(node_id, attr, value)


def _value(variant: Any) -> Any:
    return getattr(variant, "Value", variant)


def _comment(variant: Any) -> str:
    value = _value(variant)
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    return str(value) if value is not None else ""


def _select(event: Event, clause: ua.SimpleAttributeOperand) -> ua.Variant:
    if clause.BrowsePath:
        name = "/".join(q.Name for q in clause.BrowsePath)
    elif clause.AttributeId == ua.AttributeIds.NodeId:
        name = "NodeId"
    else:
        return ua.Variant()
    value = getattr(event, name, None)
    if value is None:
        return ua.Variant()
    return ua.Variant(value, event.data_types[name])


def _system_event(type_id: int, now: datetime) -> Event:
    from .state import new_event_id

    event = Event()
    server = ua.NodeId(ua.ObjectIds.Server)
    for name, value, vtype in (
        ("EventId", new_event_id(), ua.VariantType.ByteString),
        ("EventType", ua.NodeId(type_id), ua.VariantType.NodeId),
        ("SourceNode", server, ua.VariantType.NodeId),
        ("SourceName", "Server", ua.VariantType.String),
        ("Time", now, ua.VariantType.DateTime),
        ("ReceiveTime", now, ua.VariantType.DateTime),
        ("Message", ua.LocalizedText(ua.ObjectIdNames[type_id]), ua.VariantType.LocalizedText),
        ("Severity", 1, ua.VariantType.UInt16),
    ):
        event.add_property(name, value, vtype)
    return event


def _child(node_id: ua.NodeId, path: str) -> ua.NodeId:
    return ua.NodeId(f"{node_id.Identifier}.{path.replace('/', '.')}", node_id.NamespaceIndex)


def _object(
    parent: ua.NodeId, node_id: ua.NodeId, name: str, type_id: ua.NodeId, reference: int
) -> ua.AddNodesItem:
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.EventNotifier = 0
    item = ua.AddNodesItem()
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(reference)
    item.RequestedNewNodeId = node_id
    item.BrowseName = ua.QualifiedName(name, 0)
    item.NodeClass = ua.NodeClass.Object
    item.NodeAttributes = attrs
    item.TypeDefinition = type_id
    return item


def _variable(
    parent: ua.NodeId, node_id: ua.NodeId, name: str, variant: ua.Variant, component: int | None
) -> ua.AddNodesItem:
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.Value = variant
    attrs.DataType = ua.NodeId(variant.VariantType.value)
    attrs.ValueRank = -1
    attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    item = ua.AddNodesItem()
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(
        ua.ObjectIds.HasComponent if component is not None else ua.ObjectIds.HasProperty
    )
    item.RequestedNewNodeId = node_id
    item.BrowseName = ua.QualifiedName(name, 0)
    item.NodeClass = ua.NodeClass.Variable
    item.NodeAttributes = attrs
    item.TypeDefinition = ua.NodeId(component or ua.ObjectIds.PropertyType)
    return item


def _reference(source: ua.NodeId, reference: int, target: ua.NodeId) -> ua.AddReferencesItem:
    item = ua.AddReferencesItem()
    item.SourceNodeId = source
    item.ReferenceTypeId = ua.NodeId(reference)
    item.IsForward = True
    item.TargetNodeId = target
    item.TargetNodeClass = ua.NodeClass.Object
    return item
