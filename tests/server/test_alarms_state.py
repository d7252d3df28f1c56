"""The alarm state machine, the limit monitor and the condition sources (pure, no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ampacity.assets import AssetKind, Quality, Reading
from ampacity.server.alarms import AlarmsConfig, AlarmSources, AssetRef
from ampacity.server.alarms.limits import LimitMonitor
from ampacity.server.alarms.state import ConditionError, ConditionState, Transition

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fresh(confirmable: bool = False) -> ConditionState:
    return ConditionState(700, "normal", T0, confirmable=confirmable)


# --- the state machine ---------------------------------------------------------------------


def test_a_new_condition_is_enabled_inactive_acked_and_not_retained() -> None:
    st = fresh()
    assert (st.enabled, st.active, st.acked, st.confirmed, st.retain) == (
        True,
        False,
        True,
        True,
        False,
    )


def test_activation_unacks_and_retains_until_acked_and_inactive() -> None:
    st = fresh()
    first = st.event_id
    assert st.set_active(True, at(1), "lost") is Transition.ACTIVATED
    assert (st.active, st.acked, st.retain, st.message, st.time) == (
        True,
        False,
        True,
        "lost",
        at(1),
    )
    assert st.event_id != first
    assert st.set_active(True, at(2), "lost") is None  # no change, no event
    assert st.acknowledge(st.event_id, "seen", "op", at(3)) is Transition.ACKNOWLEDGED
    assert (st.acked, st.retain, st.comment, st.comment_user, st.user) == (
        True,
        True,
        "seen",
        "op",
        "op",
    )
    assert st.set_active(False, at(4), "back") is Transition.DEACTIVATED
    assert st.retain is False
    assert st.transition_times["Active"] == at(4)
    assert st.transition_times["Acked"] == at(3)


def test_inactive_but_unacknowledged_stays_retained() -> None:
    st = fresh()
    st.set_active(True, at(1), "lost")
    st.set_active(False, at(2), "back")
    assert (st.active, st.acked, st.retain) == (False, False, True)
    st.acknowledge(st.event_id, "", "op", at(3))
    assert st.retain is False


def test_second_acknowledge_and_unknown_event_ids_are_refused() -> None:
    st = fresh()
    st.set_active(True, at(1), "lost")
    with pytest.raises(ConditionError) as unknown:
        st.acknowledge(b"not one of ours", "", "op", at(2))
    assert unknown.value.code == "BadEventIdUnknown"
    older = st.event_id
    st.add_comment(older, "looking", "op", at(2))
    st.acknowledge(older, "", "op", at(3))  # an earlier EventId of this condition is accepted
    with pytest.raises(ConditionError) as again:
        st.acknowledge(st.event_id, "", "op", at(4))
    assert again.value.code == "BadConditionBranchAlreadyAcked"


def test_confirm_applies_only_where_configured_and_after_ack() -> None:
    st = fresh(confirmable=True)
    st.set_active(True, at(1), "fail-safe")
    assert st.confirmed is False
    with pytest.raises(ConditionError) as early:
        st.confirm(st.event_id, "", "op", at(2))
    assert early.value.code == "BadInvalidState"
    st.acknowledge(st.event_id, "", "op", at(2))
    st.set_active(False, at(3), "normal")
    assert st.retain is True  # acked and inactive, not yet confirmed
    assert st.confirm(st.event_id, "done", "op", at(4)) is Transition.CONFIRMED
    assert st.retain is False
    with pytest.raises(ConditionError) as twice:
        st.confirm(st.event_id, "", "op", at(5))
    assert twice.value.code == "BadConditionBranchAlreadyConfirmed"
    plain = fresh()
    plain.set_active(True, at(1), "x")
    with pytest.raises(ConditionError) as invalid:
        plain.confirm(plain.event_id, "", "op", at(2))
    assert invalid.value.code == "BadMethodInvalid"


def test_disabled_conditions_report_nothing_and_come_back_with_their_state() -> None:
    st = fresh()
    st.set_active(True, at(1), "lost")
    assert st.disable("admin", at(2)) is Transition.DISABLED
    assert (st.enabled, st.retain) == (False, False)
    with pytest.raises(ConditionError) as disabled:
        st.acknowledge(st.event_id, "", "op", at(3))
    assert disabled.value.code == "BadConditionDisabled"
    assert st.set_active(False, at(4), "back") is None
    assert st.set_active(True, at(5), "lost again") is None
    with pytest.raises(ConditionError) as twice:
        st.disable("admin", at(6))
    assert twice.value.code == "BadConditionAlreadyDisabled"
    assert st.enable("admin", at(7)) is Transition.ENABLED
    assert (st.active, st.acked, st.retain, st.message) == (True, False, True, "lost again")
    st.set_active(False, at(8), "back")
    st.disable("admin", at(9))
    st.enable("admin", at(10))
    assert (st.active, st.acked, st.retain) == (False, True, False)


def test_severity_change_while_active_is_reported() -> None:
    st = fresh()
    st.set_active(True, at(1), "lost")
    assert st.set_active(True, at(2), "worse", severity=900) is Transition.CHANGED
    assert (st.severity, st.last_severity) == (900, 700)
    assert st.set_quality(0x80000000, at(3)) is Transition.CHANGED
    assert st.set_quality(0x80000000, at(4)) is None


# --- the limit monitor ----------------------------------------------------------------------


def test_limit_needs_the_delay_and_clears_below_the_hysteresis() -> None:
    m = LimitMonitor(hysteresis=200.0, delay_s=10.0)
    assert m.update(5100.0, 5000.0, at(0)) is None
    assert m.update(5100.0, 5000.0, at(9)) is None
    assert m.update(5050.0, 5000.0, at(10)) is True
    # hovering between limit - hysteresis and the limit keeps it active
    assert m.update(4900.0, 5000.0, at(30)) is None
    assert m.update(4700.0, 5000.0, at(31)) is None
    assert m.update(5200.0, 5000.0, at(35)) is None  # the clearing wait restarts
    assert m.update(4700.0, 5000.0, at(36)) is None
    assert m.update(4700.0, 5000.0, at(46)) is False
    assert m.exceeded is False


def test_a_short_spike_raises_nothing_and_no_limit_clears_at_once() -> None:
    m = LimitMonitor(hysteresis=0.0, delay_s=5.0)
    m.update(6000.0, 5000.0, at(0))
    assert m.update(4000.0, 5000.0, at(3)) is None
    assert m.update(6000.0, 5000.0, at(4)) is None
    assert m.update(6000.0, 5000.0, at(9)) is True
    assert m.update(6000.0, None, at(10)) is False


# --- the sources ------------------------------------------------------------------------------


def reading(key: str, value: object, t: datetime, quality: Quality = Quality.GOOD) -> Reading:
    asset, point = key.split(".", 1)
    return Reading(asset, point, value, quality, t)  # type: ignore[arg-type]


ASSETS = [
    AssetRef("meter", AssetKind.ELECTRICITY_METER, ("ActivePower",), "meter"),
    AssetRef("pv", AssetKind.PV_INVERTER, ("ActivePower", "OperatingState"), "hybrid"),
    AssetRef("bat", AssetKind.BATTERY, ("StateOfCharge",), "hybrid"),
    AssetRef("rcr", AssetKind.RIPPLE_CONTROL_RECEIVER, ("ActiveLimit",), "rcr"),
]


def planned(**settings: object) -> AlarmSources:
    sources = AlarmSources(AlarmsConfig.model_validate(settings), "site", ASSETS, control=True)
    sources.plan()
    return sources


def test_plan_lists_one_comm_lost_per_device_and_the_site_conditions() -> None:
    keys = set(planned().conditions)
    assert {"meter.CommunicationLost", "hybrid.CommunicationLost", "rcr.CommunicationLost"} <= keys
    assert "pv.CommunicationLost" not in keys
    assert {
        "pv.DeviceFault",
        "bat.StateOfChargeFloor",
        "bat.StateOfChargeCeiling",
        "rcr.RippleStageReduced",
        "site.FeedInLimitExceeded",
        "site.ImportLimitExceeded",
        "site.FailSafe",
        "site.DimmingActive",
        "site.DemandExpired",
        "site.Historian.DatabaseUnreachable",
        "site.Historian.DiskBufferHigh",
    } <= keys
    assert "site.FailSafe" not in planned(failsafe={"enabled": False}).conditions
    assert planned(enabled=False).conditions == {}


def test_comm_lost_follows_health_connected_of_any_asset_of_the_device() -> None:
    s = planned()
    [lost] = s.on_reading(reading("bat.Health.Connected", False, T0), T0)
    assert (lost.key, lost.active, lost.message) == (
        "hybrid.CommunicationLost",
        True,
        "hybrid: no answer",
    )
    [back] = s.on_reading(reading("bat.Health.Connected", True, T0), T0)
    assert back.active is False


def test_feed_in_limit_uses_export_with_delay_and_reports_the_limit_in_grid_sign() -> None:
    s = planned(limit_delay_s=10, limit_hysteresis_w=100)
    s.on_reading(reading("site.FeedInLimit", 5000.0, T0), T0)
    assert s.on_reading(reading("site.GridPower", -5200.0, T0), T0) == []
    assert s.tick(at(5)) == []
    [raised] = s.tick(at(10))
    assert (raised.key, raised.active, raised.limit) == ("site.FeedInLimitExceeded", True, -5000.0)
    assert "5200 W" in raised.message
    s.on_reading(reading("site.GridPower", -4950.0, at(11)), at(11))  # inside the hysteresis
    assert s.tick(at(30)) == []
    s.on_reading(reading("site.GridPower", 300.0, at(31)), at(31))
    [cleared] = s.tick(at(41))
    assert cleared.active is False


def test_soc_floor_and_ceiling_with_hysteresis() -> None:
    s = planned(soc_floor_pct=10, soc_ceiling_pct=95, soc_hysteresis_pct=2)
    signals = s.on_reading(reading("bat.StateOfCharge", 10.0, T0), T0)
    assert [(x.key, x.active) for x in signals] == [("bat.StateOfChargeFloor", True)]
    assert s.on_reading(reading("bat.StateOfCharge", 11.0, T0), T0) == []
    [floor_off] = s.on_reading(reading("bat.StateOfCharge", 12.5, T0), T0)
    assert (floor_off.key, floor_off.active) == ("bat.StateOfChargeFloor", False)
    [ceiling] = s.on_reading(reading("bat.StateOfCharge", 95.0, T0), T0)
    assert (ceiling.key, ceiling.active) == ("bat.StateOfChargeCeiling", True)


def test_failsafe_dimming_ripple_and_fault() -> None:
    s = planned()
    [fs] = s.on_reading(reading("site.Control.FailSafe", "grid meter stale", T0), T0)
    assert (fs.active, fs.message) == (True, "control in fail-safe: grid meter stale")
    [rip] = s.on_reading(reading("rcr.ActiveLimit", 60.0, T0), T0)
    assert (rip.key, rip.active) == ("rcr.RippleStageReduced", True)
    [fault] = s.on_reading(reading("pv.OperatingState", 7, T0), T0)
    assert (fault.key, fault.active) == ("pv.DeviceFault", True)
    [ok] = s.on_reading(reading("pv.OperatingState", 4, T0), T0)
    assert ok.active is False
    [dim] = s.on_reading(reading("site.GridOperator.DimmingActive", True, T0), T0)
    assert dim.active is True


def test_demand_expired_without_renewal_but_not_when_withdrawn() -> None:
    s = planned()
    key = "site.Control.ExternalDemands"

    def demands(*items: tuple[str, datetime]) -> str:
        return json.dumps(
            [
                {"resource": "pv.ActivePowerLimit", "owner": o, "expires": e.isoformat()}
                for o, e in items
            ]
        )

    assert s.on_reading(reading(key, demands(("marketer", at(60))), T0), T0) == []
    [expired] = s.on_reading(reading(key, "[]", at(60)), at(60))
    assert (expired.active, "marketer" in expired.message) == (True, True)
    [renewed] = s.on_reading(reading(key, demands(("marketer", at(200))), at(70)), at(70))
    assert renewed.active is False
    assert s.on_reading(reading(key, "[]", at(80)), at(80)) == []  # withdrawn early: no alarm


def test_historian_buffering_and_buffer_size() -> None:
    s = planned(disk_buffer_max_bytes=1000)
    signals = {x.key: x.active for x in s.on_historian(False, 2000, 12)}
    assert signals == {
        "site.Historian.DatabaseUnreachable": True,
        "site.Historian.DiskBufferHigh": True,
    }
    back = {x.key: (x.active, x.message) for x in s.on_historian(True, 10, 0)}
    assert back["site.Historian.DatabaseUnreachable"] == (False, "historian: database back")


def test_bad_values_are_ignored() -> None:
    s = planned()
    assert (
        s.on_reading(reading("bat.StateOfCharge", None, T0, Quality.BAD_COMMUNICATION_ERROR), T0)
        == []
    )
    assert s.on_reading(reading("site.Control.ExternalDemands", "{not json", T0), T0) == []
