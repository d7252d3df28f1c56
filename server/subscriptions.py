"""The subscription fast path: data changes of the site's own variables without deep copies.

asyncua's monitored-item service deep-copies every DataValue it is notified of (per monitored
item, so per subscribed client), to protect itself from a writer that mutates a DataValue after
writing it. At 10k points that copy was 60 % of the server's CPU (cProfile: ``copy.deepcopy``
5.3 s of 8.6 s spent applying readings). The site's variables are written by the node writer
only, which makes a new DataValue for every change and never touches it again; a DataValue it
wrote is shared as it is by the address space, every monitored item and every notification.

The fan-out is batched: asyncua calls one coroutine per monitored item per change (three
clients on 10k points changing every second: 30,000 awaited callbacks a second, a third of the
writer's time). ``FanOut`` writes the node writer's values into the address space and hands
each subscription the data changes of a whole batch in one call
(``FastMonitoredItemService.data_changes``), which applies asyncua's rules inline: monitoring
mode, the default StatusValue trigger, the item's queue size (the oldest change goes). An item
with a filter that can hold a change back (a deadband, another trigger) and every callback that
is not ours go through asyncua's per-item path, in the order of the batch.

Everything else (filters, deadbands, monitoring modes, events, other namespaces) is asyncua's
own code: ``FastMonitoredItemService`` only replaces the copy and adds the batched entry,
``FastInternalSubscription`` only encodes the data changes of a publish in one pass (the same
bytes), and ``FastSubscriptionService`` only makes subscriptions that use them. The change
belongs upstream (``docs/upstream/asyncua-shared-datavalues.md``); this module goes when asyncua
takes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from asyncua import ua
from asyncua.server.address_space import AddressSpace
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemService
from asyncua.server.subscription_service import SubscriptionService

from .notification_encoding import SharedNotification, encode_data_changes

log = logging.getLogger(__name__)

_NULL = ua.Variant(None, ua.VariantType.Null)
GOOD = ua.StatusCode()
"""The Good status ``FanOut.write`` returns (shared, never mutated)."""
_STATUS_VALUE = ua.DataChangeTrigger.StatusValue
_NO_DEADBAND = ua.DeadbandType.None_


def is_plain_filter(flt: Any) -> bool:
    """Whether a data-change item's filter passes exactly what no filter passes.

    No filter (``None``, or the empty ExtensionObject node-opcua clients send, which asyncua
    also treats as none: it is false), or a DataChangeFilter with the default StatusValue
    trigger and no deadband (what many SCADA clients send). Any other filter is left to
    asyncua's per-item checks.
    """
    if not flt:
        return True
    return (
        isinstance(flt, ua.DataChangeFilter)
        and flt.Trigger == _STATUS_VALUE
        and flt.DeadbandType == _NO_DEADBAND
    )


class FastMonitoredItemService(MonitoredItemService):  # type: ignore[misc]
    """Monitored items whose data changes of ``shared_namespaces`` are not copied."""

    routing_generation: ClassVar[int] = 0
    """Counts the data-change items created and deleted by any service of this class: a
    ``FanOut`` routes a node's callbacks again when it moved."""

    def __init__(
        self, isub: InternalSubscription, aspace: AddressSpace, shared_namespaces: frozenset[int]
    ) -> None:
        super().__init__(isub, aspace)
        self.shared_namespaces = shared_namespaces
        self._shared_handles: set[int] = set()
        self._targets: dict[int, tuple[int, Any, bool]] = {}
        """Shared items by callback handle: item id, asyncua's item data, and whether its
        filter is plain (``is_plain_filter``; kept current by ModifyMonitoredItems)."""

    async def _create_data_change_monitored_item(
        self, params: ua.MonitoredItemCreateRequest
    ) -> ua.MonitoredItemCreateResult:
        result = await super()._create_data_change_monitored_item(params)
        item = params.ItemToMonitor
        if (
            result.StatusCode.is_good()
            and item.AttributeId == ua.AttributeIds.Value
            and item.NodeId.NamespaceIndex in self.shared_namespaces
        ):
            mdata = self._monitored_items[result.MonitoredItemId]
            handle = mdata.callback_handle
            if handle is not None:
                self._shared_handles.add(handle)
                plain = is_plain_filter(mdata.filter)
                self._targets[handle] = (result.MonitoredItemId, mdata, plain)
        FastMonitoredItemService.routing_generation += 1
        return result

    def _modify_monitored_item(
        self, params: ua.MonitoredItemModifyRequest
    ) -> ua.MonitoredItemModifyResult:
        result = super()._modify_monitored_item(params)
        mdata = self._monitored_items.get(params.MonitoredItemId)
        if mdata is not None and mdata.callback_handle in self._targets:
            plain = is_plain_filter(mdata.filter)
            self._targets[mdata.callback_handle] = (params.MonitoredItemId, mdata, plain)
        return result

    def _delete_monitored_items(self, mid: int) -> ua.StatusCode:
        mdata = self._monitored_items.get(mid)
        if mdata is not None and mdata.callback_handle is not None:
            self._shared_handles.discard(mdata.callback_handle)
            self._targets.pop(mdata.callback_handle, None)
        FastMonitoredItemService.routing_generation += 1
        return super()._delete_monitored_items(mid)

    async def datachange_callback(
        self, handle: int, value: ua.DataValue, error: ua.StatusCode | None = None
    ) -> None:
        if error or handle not in self._shared_handles:
            await super().datachange_callback(handle, value, error)
            return
        mid = self._monitored_datachange[handle]
        mdata = self._monitored_items[mid]
        if mdata.mode == ua.MonitoringMode.Disabled:
            return
        values = mdata.mvalue
        old = values.current_dvalue
        values.old_dvalue = old
        values.current_dvalue = value  # shared: its writer never changes it again
        if mdata.filter:
            passed = self._is_data_changed(values, mdata.filter.Trigger) and (
                self._is_deadband_exceeded(values, mdata.filter)
            )
        else:  # asyncua's default trigger (StatusValue), inlined
            passed = old is None or old.StatusCode != value.StatusCode or old.Value != value.Value
        if not passed:
            return
        event = SharedNotification(ClientHandle=mdata.client_handle, Value=value)
        isub = self.isub
        queued = isub._triggered_datachanges.get(mid)
        if queued is None or isub.data.RevisedPublishingInterval <= 0:
            # the item's first change of this publish (or publishing at once): asyncua's path
            await isub.enqueue_datachange_event(mid, event, mdata.queue_size)
            return
        if mdata.queue_size and len(queued) >= mdata.queue_size:
            queued.pop(0)  # asyncua's overflow rule: the oldest goes
        queued.append(event)

    async def data_changes(self, changes: list[tuple[int, ua.DataValue]]) -> None:
        """The data changes of a batch of node writes for this subscription, in write order.

        ``changes`` holds ``(callback handle, DataValue)`` of shared items (``handle in
        _shared_handles``); each DataValue is the node's new value, never mutated again. Items
        with a plain filter (``is_plain_filter``) are handled here, the same way as
        ``datachange_callback``; the others go through it, one call each, in order.
        """
        isub = self.isub
        if isub.data.RevisedPublishingInterval <= 0:  # publishing at once: per item
            for handle, value in changes:
                await self.datachange_callback(handle, value)
            return
        queues: dict[int, list[Any]] = isub._triggered_datachanges
        targets = self._targets
        disabled = ua.MonitoringMode.Disabled
        first = False
        # a client's subscription publishes its queue through ``encode_data_changes``, which
        # takes ``(client handle, DataValue)`` tuples; any other gets asyncua's notifications
        compact = type(isub) is FastInternalSubscription
        for handle, value in changes:
            target = targets.get(handle)
            if target is None:  # deleted since the write
                continue
            mid, mdata, plain = target
            if not plain:  # a deadband or another trigger: per item
                await self.datachange_callback(handle, value)
                continue
            if mdata.mode == disabled:
                continue
            values = mdata.mvalue
            old = values.current_dvalue
            values.old_dvalue = old
            values.current_dvalue = value
            if old is not None:
                status = value.StatusCode
                old_status = old.StatusCode
                if old_status is status or old_status == status:
                    # the StatusValue trigger: asyncua's Variant comparison, inlined (the
                    # writer's Variants are never None)
                    old_variant, variant = old.Value, value.Value
                    if (
                        old_variant.VariantType == variant.VariantType
                        and old_variant.Value == variant.Value
                    ):
                        continue  # neither status nor value changed
            if compact:
                event: Any = (mdata.client_handle, value)
            else:
                event = SharedNotification(ClientHandle=mdata.client_handle, Value=value)
            queued = queues.get(mid)
            if queued is None:
                queues[mid] = [event]
                first = True
                continue
            if mdata.queue_size and len(queued) >= mdata.queue_size:
                queued.pop(0)  # asyncua's overflow rule: the oldest goes
            queued.append(event)
        if first:
            await isub._trigger_publish()  # asyncua's call for an item's first queued change


DataChangeCallback = Callable[..., Awaitable[None]]


@dataclass(slots=True, frozen=True)
class _Route:
    """Where a node's data changes go: its callbacks sorted into the shared items of
    ``FastMonitoredItemService`` s (batched) and every other callback (called one by one).

    Valid while ``callbacks`` (asyncua's dict of the node's callbacks, held so its ``id`` is not
    reused) has ``count`` entries and no monitored item was created or deleted since.
    """

    callbacks: dict[int, DataChangeCallback]
    count: int
    shared: tuple[tuple[FastMonitoredItemService, int], ...]
    single: tuple[tuple[DataChangeCallback, int], ...]

    @classmethod
    def of(cls, callbacks: dict[int, DataChangeCallback]) -> _Route:
        shared: list[tuple[FastMonitoredItemService, int]] = []
        single: list[tuple[DataChangeCallback, int]] = []
        for handle, callback in callbacks.items():
            owner = getattr(callback, "__self__", None)
            if isinstance(owner, FastMonitoredItemService) and handle in owner._shared_handles:
                shared.append((owner, handle))
            else:
                single.append((callback, handle))
        return cls(callbacks, len(callbacks), tuple(shared), tuple(single))


class FanOut:
    """Writes Value attributes and hands each subscription its data changes in one call.

    ``write`` stores a DataValue as the node's value at once (a Read sees it) and collects the
    node's data-change callbacks; ``dispatch`` runs them: one ``data_changes`` call per
    ``FastMonitoredItemService`` for its shared items, every other callback (another kind of
    service, an item outside the shared namespaces) as asyncua would call it. The DataValues
    written must never be mutated afterwards (they are shared by the node, every monitored item
    and every notification).
    """

    def __init__(self, aspace: AddressSpace) -> None:
        self._aspace = aspace
        self._batches: dict[FastMonitoredItemService, list[tuple[int, ua.DataValue]]] = {}
        self._single: list[tuple[DataChangeCallback, int, ua.DataValue]] = []
        self._routes: dict[int, _Route] = {}
        """A node's data-change callbacks, sorted once (by ``id`` of asyncua's dict of them)."""
        self._generation = -1

    def write(self, node_id: ua.NodeId, value: ua.DataValue) -> ua.StatusCode:
        """asyncua's ``write_attribute_value`` of the Value attribute, without the callbacks.

        Returns:
            Good, or asyncua's error (BadNodeIdUnknown, BadAttributeIdInvalid, BadTypeMismatch);
            nothing is written on an error.
        """
        aspace = self._aspace
        node = aspace._nodes.get(node_id)
        if node is None:
            return ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        attval = node.attributes.get(ua.AttributeIds.Value)
        if attval is None:
            return ua.StatusCode(ua.StatusCodes.BadAttributeIdInvalid)
        status = value.StatusCode
        if status is not None and status.is_bad():
            if value.Value is None or value.Value.VariantType is not ua.VariantType.Null:
                value = dataclasses.replace(value, Value=_NULL)  # a Bad value is null (Part 4)
        elif not aspace._is_expected_variant_type(value, attval, node):
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        if attval.value_setter is not None:
            attval.value_setter(node, ua.AttributeIds.Value, value)
        else:
            attval.value = value
            attval.value_callback = None
        callbacks = attval.datachange_callbacks
        if callbacks:
            generation = FastMonitoredItemService.routing_generation
            if generation != self._generation:
                self._routes.clear()
                self._generation = generation
            route = self._routes.get(id(callbacks))
            if route is None or route.callbacks is not callbacks or route.count != len(callbacks):
                route = self._routes[id(callbacks)] = _Route.of(callbacks)
            batches = self._batches
            for owner, handle in route.shared:
                batch = batches.get(owner)
                if batch is None:
                    batches[owner] = [(handle, value)]
                else:
                    batch.append((handle, value))
            for callback, handle in route.single:
                self._single.append((callback, handle, value))
        return GOOD

    async def dispatch(self) -> None:
        """Deliver the data changes written since the last dispatch."""
        batches, single = self._batches, self._single
        if not batches and not single:
            return
        self._batches, self._single = {}, []
        for service, changes in batches.items():
            try:
                await service.data_changes(changes)
            except Exception:  # one subscription's failure must not stop the others
                log.exception("data changes for %s failed", service)
        for callback, handle, value in single:
            try:
                await callback(handle, value)
            except Exception:
                log.exception("data-change callback %s failed for handle %s", callback, handle)


class FastInternalSubscription(InternalSubscription):  # type: ignore[misc]
    """A client's subscription whose data changes are published already encoded (the same
    bytes as asyncua's, in one pass; see ``notification_encoding``).

    Its queues hold asyncua's notifications and, from ``FastMonitoredItemService.data_changes``,
    ``(client handle, shared DataValue)`` tuples (no notification object per change)."""

    def _pop_triggered_datachanges(self, result: ua.PublishResult) -> None:
        queues: dict[int, list[Any]] = self._triggered_datachanges
        if not queues:
            return
        items = [item for queued in queues.values() for item in queued]
        self._triggered_datachanges: dict[int, list[Any]] = {}
        result.NotificationMessage.NotificationData.append(encode_data_changes(items))


FREEZE_AFTER_ITEMS = 1000
"""A CreateMonitoredItems call with at least this many items freezes what lives then..."""
FREEZE_DELAY_S = 2.0
"""...this long after the last such call (a SCADA client subscribes in batches)."""


class FastSubscriptionService(SubscriptionService):  # type: ignore[misc]
    """asyncua's subscription service whose subscriptions use ``FastMonitoredItemService``.

    A client subscribing to thousands of points creates several long-lived objects per point
    (monitored item, its values, the callback); they are frozen out of garbage collection like
    the address space at start-up, or every full collection walks them again (with 3 clients on
    10k points the longest pause was 0.5 s).
    """

    def __init__(self, base: SubscriptionService, shared_namespaces: frozenset[int]) -> None:
        super().__init__(base.aspace, base.iserver)
        self.__dict__.update(base.__dict__)  # standard events and conditions registered so far
        self.shared_namespaces = shared_namespaces
        self._freeze: asyncio.TimerHandle | None = None

    async def create_monitored_items(
        self, params: ua.CreateMonitoredItemsParameters
    ) -> list[ua.MonitoredItemCreateResult]:
        results: list[ua.MonitoredItemCreateResult] = await super().create_monitored_items(params)
        if len(params.ItemsToCreate) >= FREEZE_AFTER_ITEMS:
            if self._freeze is not None:
                self._freeze.cancel()
            self._freeze = asyncio.get_running_loop().call_later(FREEZE_DELAY_S, gc.freeze)
        return results

    async def create_subscription(
        self, params: ua.CreateSubscriptionParameters, *args: Any, **kwargs: Any
    ) -> ua.CreateSubscriptionResult:
        result = await super().create_subscription(params, *args, **kwargs)
        subscription = self.subscriptions[result.SubscriptionId]
        if not subscription.monitored_item_srv._monitored_items:
            subscription.monitored_item_srv = FastMonitoredItemService(
                subscription, self.aspace, self.shared_namespaces
            )
        if subscription.pub_request_callback is not None and type(subscription) is (
            InternalSubscription
        ):
            # a client's subscription (the server's own internal ones get objects, not bytes)
            subscription.__class__ = FastInternalSubscription
        return result


def install_fast_subscriptions(server: Any, shared_namespaces: set[int]) -> None:
    """Make the server's new subscriptions use the fast path for ``shared_namespaces``.

    Call before the server starts (before any session exists): the internal server and its
    internal session share one subscription service, which this replaces.
    """
    iserver = server.iserver
    fast = FastSubscriptionService(iserver.subscription_service, frozenset(shared_namespaces))
    iserver.subscription_service = fast
    internal = getattr(iserver, "isession", None)
    if internal is not None and getattr(internal, "subscription_service", None) is not None:
        internal.subscription_service = fast
