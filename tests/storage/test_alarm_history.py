"""Alarm transitions in the event history, on SQLite and PostgreSQL: stored with their
condition states, read back by time range, source and severity range."""

from __future__ import annotations

from ampacity.storage import EventKind, Historian
from historian_testkit import at


def record_transitions(historian: Historian) -> None:
    """meter1 lost (700) at 10 s, acked at 20 s, back at 30 s; site feed-in limit (600) at 15 s;
    dimming (100) at 25 s; an audit write (400) at 12 s."""
    states = {"enabled": True, "confirmed": True}
    for t, source, name, severity, transition, active, acked, user in (
        (10, "meter1", "CommunicationLost", 700, "activated", True, False, None),
        (15, "site", "FeedInLimitExceeded", 600, "activated", True, False, None),
        (20, "meter1", "CommunicationLost", 700, "acknowledged", True, True, "operator"),
        (25, "site", "DimmingActive", 100, "activated", True, False, None),
        (30, "meter1", "CommunicationLost", 700, "deactivated", False, True, None),
    ):
        historian.record_event(
            EventKind.ALARM,
            source,
            f"{name} {transition}",
            time=at(t),
            severity=severity,
            user=user,
            status=0,
            extra={
                **states,
                "condition": f"{source}.{name}",
                "condition_name": name,
                "transition": transition,
                "active": active,
                "acked": acked,
                "retain": active or not acked,
                "comment": "wiring" if transition == "acknowledged" else "",
            },
        )
    historian.record_event(EventKind.AUDIT_WRITE, "site.FeedInLimit", "write", time=at(12))


async def test_alarm_transitions_are_stored_with_their_states(historian: Historian) -> None:
    record_transitions(historian)
    assert await historian.flush()
    events, more = await historian.read_events("meter1", at(0), at(60))
    assert more is None
    assert [(e.t_us, e.kind, e.message) for e in events] == [
        (events[0].t_us, "alarm", "CommunicationLost activated"),
        (events[1].t_us, "alarm", "CommunicationLost acknowledged"),
        (events[2].t_us, "alarm", "CommunicationLost deactivated"),
    ]
    acked = events[1]
    assert acked.user_name == "operator"
    assert acked.severity == 700
    extra = acked.extra if isinstance(acked.extra, dict) else {}
    assert (extra["acked"], extra["active"], extra["comment"]) == (True, True, "wiring")


async def test_alarm_history_filters_by_severity_source_time_and_kind(historian: Historian) -> None:
    record_transitions(historian)
    assert await historian.flush()
    severe, _ = await historian.read_events(None, at(0), at(60), severity=(600, 1000))
    assert [e.message for e in severe] == [
        "CommunicationLost activated",
        "FeedInLimitExceeded activated",
        "CommunicationLost acknowledged",
        "CommunicationLost deactivated",
    ]
    informational, _ = await historian.read_events(None, at(0), at(60), severity=(1, 200))
    assert [e.message for e in informational] == ["DimmingActive activated"]
    window, _ = await historian.read_events(None, at(15), at(25), kinds=("alarm",))
    assert [e.message for e in window] == [
        "FeedInLimitExceeded activated",
        "CommunicationLost acknowledged",
    ]
    site_alarms, _ = await historian.read_events("site", at(0), at(60), kinds=("alarm",))
    assert [e.message for e in site_alarms] == [
        "FeedInLimitExceeded activated",
        "DimmingActive activated",
    ]
    audits, _ = await historian.read_events("site", at(0), at(60), severity=(400, 400))
    assert [e.kind for e in audits] == ["audit.write"]
    paged, resume = await historian.read_events(None, at(0), at(60), 2, severity=(600, 1000))
    assert len(paged) == 2 and resume is not None
    rest, end = await historian.read_events(None, at(0), at(60), 2, resume, severity=(600, 1000))
    assert [e.message for e in rest] == [
        "CommunicationLost acknowledged",
        "CommunicationLost deactivated",
    ]
    assert end is None
