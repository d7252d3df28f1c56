"""The subscription fast path: data changes of the site's own variables without deep copies.

asyncua's monitored-item service deep-copies every DataValue it is notified of (per monitored
item, so per subscribed client), to protect itself from a writer that mutates a DataValue after
writing it. At 10k points that copy was 60 % of the server's CPU (cProfile: ``copy.deepcopy``
5.3 s of 8.6 s spent applying readings). The site's variables are written by the node writer
only, which makes a new DataValue for every change and never touches it again; a DataValue it
wrote is shared as it is by the address space, every monitored item and every notification.

Everything else (filters, deadbands, queues, monitoring modes, events, other namespaces) is
asyncua's own code: ``FastMonitoredItemService`` only replaces the copy,
``FastInternalSubscription`` only encodes the data changes of a publish in one pass (the same
bytes), and ``FastSubscriptionService`` only makes subscriptions that use them. The change
belongs upstream (``docs/upstream/asyncua-shared-datavalues.md``); this module goes when asyncua
takes it.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from asyncua import ua
from asyncua.server.address_space import AddressSpace
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemService
from asyncua.server.subscription_service import SubscriptionService

from .notification_encoding import SharedNotification, encode_data_changes


class FastMonitoredItemService(MonitoredItemService):  # type: ignore[misc]
    """Monitored items whose data changes of ``shared_namespaces`` are not copied."""

    def __init__(
        self, isub: InternalSubscription, aspace: AddressSpace, shared_namespaces: frozenset[int]
    ) -> None:
        super().__init__(isub, aspace)
        self.shared_namespaces = shared_namespaces
        self._shared_handles: set[int] = set()

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
            handle = self._monitored_items[result.MonitoredItemId].callback_handle
            if handle is not None:
                self._shared_handles.add(handle)
        return result

    def _delete_monitored_items(self, mid: int) -> ua.StatusCode:
        mdata = self._monitored_items.get(mid)
        if mdata is not None and mdata.callback_handle is not None:
            self._shared_handles.discard(mdata.callback_handle)
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


class FastInternalSubscription(InternalSubscription):  # type: ignore[misc]
    """A client's subscription whose data changes are published already encoded (the same
    bytes as asyncua's, in one pass; see ``notification_encoding``)."""

    def _pop_triggered_datachanges(self, result: ua.PublishResult) -> None:
        queues: dict[int, list[ua.MonitoredItemNotification]] = self._triggered_datachanges
        if not queues:
            return
        items = [item for queued in queues.values() for item in queued]
        self._triggered_datachanges: dict[int, list[ua.MonitoredItemNotification]] = {}
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
