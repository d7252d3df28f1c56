"""Alarms end to end with a real asyncua client over TCP: a disconnected meter raises its
communication-lost alarm, an operator acknowledges it (a viewer may not), it returns to normal
and leaves the retained list; ConditionRefresh replays exactly the retained conditions; the
transitions are in the event history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from alarm_support import (
    METER,
    SITE_ID,
    AlarmSite,
    Events,
    alarm_site,
    event_filter,
    settled,
    until,
)
from ampacity.sim.faults import Fault
from asyncua import Client, ua

LOST = f"{METER}.CommunicationLost"
ACK = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
DISABLE = ua.NodeId(ua.ObjectIds.ConditionType_Disable)
ENABLE = ua.NodeId(ua.ObjectIds.ConditionType_Enable)
REFRESH = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
REFRESH2 = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh2)


async def call_status(client: Client, obj: ua.NodeId, method: ua.NodeId, *args: ua.Variant) -> int:
    request = ua.CallMethodRequest(ObjectId=obj, MethodId=method, InputArguments=list(args))
    [result] = await client.uaclient.call([request])
    return int(result.StatusCode.value)


async def subscribe(client: Client, min_severity: int = 0) -> tuple[Events, object, int]:
    handler = Events()
    sub = await client.create_subscription(50, handler)
    server = client.get_node(ua.NodeId(ua.ObjectIds.Server))
    handle = await sub.subscribe_events(server, evfilter=event_filter(min_severity=min_severity))
    return handler, sub, handle


async def connected(site: AlarmSite) -> bool:
    return site.site.writer.slot(f"{METER}.Health.Connected").value is True


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One site for the module (starting one takes seconds); each test leaves the meter
    answering and no condition retained."""
    async with alarm_site(tmp_path_factory.mktemp("alarms") / "data") as running:
        await until(lambda: connected(running))
        yield running


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_comm_lost_raised_acked_by_operator_cleared_and_refreshed(site: AlarmSite) -> None:
    operator = await site.client("operator")
    viewer = await site.client("viewer")
    try:
        events, _, _ = await subscribe(operator)
        condition = site.node(LOST)
        # the condition is a node under its source, of the standard type
        node = operator.get_node(condition)
        assert (await node.read_type_definition()) == ua.NodeId(ua.ObjectIds.OffNormalAlarmType)
        parent = await node.get_parent()
        assert parent.nodeid == site.node(METER)
        assert await operator.get_node(site.node(f"{LOST}.Retain")).read_value() is False

        await settled(site)
        site.device.faults.set(Fault.DISCONNECT)
        assert site.site.alarms is not None
        state = site.site.alarms.by_key[LOST].state
        await until(lambda: _active(state))
        raised = await events.wait_for(lambda e: e["EventId"] == state.event_id)
        assert (raised["ConditionName"], raised["ActiveState/Id"]) == ("CommunicationLost", True)
        events.received.clear()  # what came before (a set-up acknowledgement) is not looked at
        assert raised["NodeId"] == condition
        assert raised["SourceNode"] == site.node(METER)
        assert raised["EventType"] == ua.NodeId(ua.ObjectIds.OffNormalAlarmType)
        assert raised["Severity"] == 700
        assert (raised["AckedState/Id"], raised["Retain"]) == (False, True)
        assert raised["Message"].Text == "meter: no answer"
        assert await operator.get_node(site.node(f"{LOST}.ActiveState.Id")).read_value() is True

        comment = ua.Variant(ua.LocalizedText("checking the RS485 wiring"))
        event_id = ua.Variant(raised["EventId"], ua.VariantType.ByteString)
        denied = await call_status(viewer, condition, ACK, event_id, comment)
        assert denied == ua.StatusCodes.BadUserAccessDenied
        assert await call_status(operator, condition, DISABLE) == ua.StatusCodes.BadUserAccessDenied
        assert await call_status(operator, condition, ACK, event_id, comment) == 0
        acked = await events.wait_for(lambda e: e["AckedState/Id"] is True and e["Retain"])
        assert acked["Comment"].Text == "checking the RS485 wiring"
        assert acked["ClientUserId"] == "operator"
        again = await call_status(operator, condition, ACK, event_id, comment)
        assert again == ua.StatusCodes.BadConditionBranchAlreadyAcked
        # acknowledged but still active: retained

        # a client that connects now gets exactly the retained conditions on ConditionRefresh
        late = await site.client("viewer")
        try:
            late_events, late_sub, late_item = await subscribe(late)
            status = await call_status(
                late,
                ua.NodeId(ua.ObjectIds.ConditionType),
                REFRESH,
                ua.Variant(late_sub.subscription_id, ua.VariantType.UInt32),
            )
            assert status == 0
            await late_events.wait_for(
                lambda e: e["EventType"] == ua.NodeId(ua.ObjectIds.RefreshEndEventType)
            )
            types = [e["EventType"] for e in late_events.received]
            assert types[0] == ua.NodeId(ua.ObjectIds.RefreshStartEventType)
            replayed = [e["NodeId"] for e in late_events.received[1:-1]]
            assert replayed == [condition]
            assert site.site.alarms is not None
            assert site.site.alarms.retained == [LOST]
            # ConditionRefresh2: the same, for one monitored item; an unknown one is refused
            late_events.received.clear()
            sub_id = ua.Variant(late_sub.subscription_id, ua.VariantType.UInt32)
            item = ua.Variant(late_item, ua.VariantType.UInt32)
            assert (
                await call_status(
                    late, ua.NodeId(ua.ObjectIds.ConditionType), REFRESH2, sub_id, item
                )
                == 0
            )
            await late_events.wait_for(
                lambda e: e["EventType"] == ua.NodeId(ua.ObjectIds.RefreshEndEventType)
            )
            assert [e["NodeId"] for e in late_events.received[1:-1]] == [condition]
            unknown = ua.Variant(999_999, ua.VariantType.UInt32)
            refused = await call_status(
                late, ua.NodeId(ua.ObjectIds.ConditionType), REFRESH2, sub_id, unknown
            )
            assert refused == ua.StatusCodes.BadMonitoredItemIdInvalid
        finally:
            await late.disconnect()

        events.received.clear()
        site.device.faults.clear()
        cleared = await events.wait_for(lambda e: e["ActiveState/Id"] is False)
        assert (cleared["AckedState/Id"], cleared["Retain"]) == (True, False)
        assert site.site.alarms.retained == []
    finally:
        await operator.disconnect()
        await viewer.disconnect()


async def test_admin_disables_and_enables_and_history_keeps_every_transition(
    site: AlarmSite,
) -> None:
    admin = await site.client("admin")
    try:
        await settled(site)
        events, _, _ = await subscribe(admin, min_severity=600)
        started = datetime.now(UTC)
        condition = site.node(LOST)
        assert await call_status(admin, condition, DISABLE) == 0
        off = await events.wait_for(lambda e: e["EnabledState/Id"] is False)
        assert off["Retain"] is False
        assert (
            await call_status(admin, condition, DISABLE)
            == ua.StatusCodes.BadConditionAlreadyDisabled
        )
        site.device.faults.set(Fault.DISCONNECT)
        await until(lambda: _not_connected(site))
        events.received.clear()
        assert await call_status(admin, condition, ENABLE) == 0
        back = await events.wait_for(lambda e: e["EnabledState/Id"] is True)
        assert (back["ActiveState/Id"], back["AckedState/Id"], back["Retain"]) == (
            True,
            False,
            True,
        )
        events.received.clear()
        site.device.faults.clear()
        await events.wait_for(lambda e: e["ActiveState/Id"] is False)
        # informational events (severity < 600) did not pass the where clause
        assert all(e["Severity"] >= 600 for e in events.received)

        await site.site.historian.flush()
        details = ua.ReadEventDetails()
        details.StartTime = started
        details.EndTime = datetime.now(UTC) + timedelta(minutes=1)
        details.NumValuesPerNode = 0
        details.Filter = event_filter(ua.ObjectIds.AlarmConditionType, min_severity=700)
        meter = admin.get_node(site.node(METER))
        result = await meter.history_read_events(details)
        stored = [
            (fields.EventFields[5].Value, fields.EventFields[7].Value, fields.EventFields[8].Value)
            for fields in result.HistoryData.Events
        ]
        assert stored[:3] == [
            ("CommunicationLost", False, True),  # disabled
            ("CommunicationLost", True, False),  # enabled while lost
            ("CommunicationLost", False, False),  # back, not yet acknowledged
        ]
        details.Filter = event_filter(ua.ObjectIds.AlarmConditionType, min_severity=701)
        none = await meter.history_read_events(details)
        assert none.HistoryData.Events == []
        last = ua.Variant(events.received[-1]["EventId"], ua.VariantType.ByteString)
        assert await call_status(admin, condition, ACK, last, ua.Variant(ua.LocalizedText(""))) == 0
        assert site.site.alarms is not None
        assert site.site.alarms.retained == []
        site_node = admin.get_node(ua.NodeId(SITE_ID, site.secure.ns))
        assert await site_node.read_event_notifier() >= {ua.EventNotifier.SubscribeToEvents}
    finally:
        await admin.disconnect()


async def _active(state: Any) -> bool:
    return bool(state.active)


async def _not_connected(site: AlarmSite) -> bool:
    return site.site.writer.slot(f"{METER}.Health.Connected").value is False
