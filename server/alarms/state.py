"""The OPC UA Alarms & Conditions state machine of one condition (Part 9), without asyncua.

A condition has the two-state variables EnabledState, ActiveState, AckedState and (where it
applies) ConfirmedState, plus Severity, Message, Quality, Comment, the time of its last change and
``Retain``. Every change makes a new ``EventId``; the event reports the state *after* the change.

Rules (Part 9, simplified to one branch: ``BranchId`` is always Null, no previous-state branches):

* going active makes the condition unacknowledged and, where confirming applies, unconfirmed;
  going inactive leaves AckedState/ConfirmedState as they are (an operator still has to ack);
* ``Retain`` is true while the condition is enabled and active, or unacknowledged, or (where it
  applies) unconfirmed; the event with ``Retain`` false is the last one a client keeps in its list;
* a disabled condition reports nothing: its source keeps being tracked (``set_active``), but the
  event is only sent when it is enabled again, with the current state (an active condition comes
  back unacknowledged, an inactive one acknowledged); disabling sends one event with ``Retain``
  false;
* Acknowledge / Confirm / AddComment need an ``EventId`` this condition issued (the newest or one
  of the last ``KEPT_EVENT_IDS``) and an enabled condition; a second Acknowledge is refused.

Errors are raised as ``ConditionError`` carrying the OPC UA status code's *name* (the binding maps
it onto the number), so this module stays free of the stack.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

KEPT_EVENT_IDS = 16
"""How many recent EventIds of a condition Acknowledge/Confirm/AddComment accept."""


class Transition(Enum):
    """Why an event was sent (stored with the alarm history)."""

    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    COMMENTED = "commented"
    ENABLED = "enabled"
    DISABLED = "disabled"
    CHANGED = "changed"
    """Severity, message, limit or quality changed while the condition stayed as it was."""


class ConditionError(Exception):
    """A method call the condition refuses; ``code`` is an OPC UA status code name."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


def new_event_id() -> bytes:
    return secrets.token_bytes(16)


@dataclass
class ConditionState:
    """What one condition shows now.

    Attributes:
        severity: 1..1000 (OPC UA Severity; 1-200 informational, 801-1000 critical).
        message: the sentence of the last event.
        time: when the last change happened (UTC; the event's ``Time``).
        confirmable: ConfirmedState applies to this condition.
        quality: OPC UA status code of the condition's source values (0 = Good).
        enabled / active / acked / confirmed: the two-state variables.
        comment / comment_user / comment_time: the last comment, who wrote it and when.
        user: who made the last change by a method (``ClientUserId``; "" for the server).
        last_severity: the severity before the last severity change.
        event_id: the EventId of the last event.
        transition_times: when each state variable last changed (``<Name>State/TransitionTime``).
    """

    severity: int
    message: str
    time: datetime
    confirmable: bool = False
    quality: int = 0
    enabled: bool = True
    active: bool = False
    acked: bool = True
    confirmed: bool = True
    comment: str = ""
    comment_user: str = ""
    comment_time: datetime | None = None
    user: str = ""
    last_severity: int = 0
    event_id: bytes = field(default_factory=new_event_id)
    transition_times: dict[str, datetime] = field(default_factory=dict)
    _recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=KEPT_EVENT_IDS))

    def __post_init__(self) -> None:
        self.last_severity = self.last_severity or self.severity
        self._recent.append(self.event_id)
        for name in ("Enabled", "Active", "Acked", "Confirmed"):
            self.transition_times.setdefault(name, self.time)

    @property
    def retain(self) -> bool:
        """The condition is of interest to a client (it stays in the alarm list)."""
        if not self.enabled:
            return False
        return self.active or not self.acked or (self.confirmable and not self.confirmed)

    def knows(self, event_id: bytes) -> bool:
        return event_id in self._recent

    def _changed(self, time: datetime, user: str = "") -> None:
        self.time = time
        self.user = user
        self.event_id = new_event_id()
        self._recent.append(self.event_id)

    def _flip(self, name: str, time: datetime) -> None:
        self.transition_times[name] = time

    # --- the source ---------------------------------------------------------------------------

    def set_active(
        self, active: bool, time: datetime, message: str, severity: int | None = None
    ) -> Transition | None:
        """The source says the condition is (in)active; returns the transition to report.

        ``None`` when nothing is to be reported (no change, or the condition is disabled: its
        state is kept and reported on Enable).
        """
        changed = active != self.active
        if not self.enabled:  # tracked, reported on Enable
            if changed:
                self.active = active
                self._flip("Active", time)
            self.message = message
            return None
        if not changed and (severity is None or severity == self.severity):
            return None
        self.message = message
        if severity is not None and severity != self.severity:
            self.last_severity, self.severity = self.severity, severity
        if changed:
            self.active = active
            self._flip("Active", time)
            if active:
                if self.acked:
                    self.acked = False
                    self._flip("Acked", time)
                if self.confirmable and self.confirmed:
                    self.confirmed = False
                    self._flip("Confirmed", time)
        self._changed(time)
        if not changed:
            return Transition.CHANGED
        return Transition.ACTIVATED if active else Transition.DEACTIVATED

    def set_quality(self, quality: int, time: datetime) -> Transition | None:
        if quality == self.quality:
            return None
        self.quality = quality
        if not self.enabled:
            return None
        self._changed(time)
        return Transition.CHANGED

    # --- the methods ------------------------------------------------------------------------

    def _check(self, event_id: bytes) -> None:
        if not self.enabled:
            raise ConditionError("BadConditionDisabled", "the condition is disabled")
        if not self.knows(event_id):
            raise ConditionError("BadEventIdUnknown", "no such event of this condition")

    def _record_comment(self, comment: str, user: str, time: datetime) -> None:
        if comment:
            self.comment = comment
            self.comment_user = user
            self.comment_time = time

    def acknowledge(self, event_id: bytes, comment: str, user: str, time: datetime) -> Transition:
        self._check(event_id)
        if self.acked:
            raise ConditionError("BadConditionBranchAlreadyAcked", "already acknowledged")
        self.acked = True
        self._flip("Acked", time)
        self._record_comment(comment, user, time)
        self._changed(time, user)
        return Transition.ACKNOWLEDGED

    def confirm(self, event_id: bytes, comment: str, user: str, time: datetime) -> Transition:
        self._check(event_id)
        if not self.confirmable:
            raise ConditionError("BadMethodInvalid", "this condition is not confirmed")
        if self.confirmed:
            raise ConditionError("BadConditionBranchAlreadyConfirmed", "already confirmed")
        if not self.acked:
            raise ConditionError("BadInvalidState", "acknowledge before confirming")
        self.confirmed = True
        self._flip("Confirmed", time)
        self._record_comment(comment, user, time)
        self._changed(time, user)
        return Transition.CONFIRMED

    def add_comment(self, event_id: bytes, comment: str, user: str, time: datetime) -> Transition:
        self._check(event_id)
        self.comment = comment
        self.comment_user = user
        self.comment_time = time
        self._changed(time, user)
        return Transition.COMMENTED

    def enable(self, user: str, time: datetime) -> Transition:
        if self.enabled:
            raise ConditionError("BadConditionAlreadyEnabled", "already enabled")
        self.enabled = True
        self._flip("Enabled", time)
        # what happened while disabled is not for an operator to acknowledge: an active
        # condition is a new occurrence, an inactive one leaves the list
        self.acked = not self.active
        self.confirmed = not (self.active and self.confirmable)
        self._changed(time, user)
        return Transition.ENABLED

    def disable(self, user: str, time: datetime) -> Transition:
        if not self.enabled:
            raise ConditionError("BadConditionAlreadyDisabled", "already disabled")
        self.enabled = False
        self._flip("Enabled", time)
        self._changed(time, user)
        return Transition.DISABLED
