"""Events the historian keeps: audit of client writes and method calls, device and system events,
alarm transitions."""

from __future__ import annotations

import json
import secrets
from enum import Enum
from typing import Any

from .batch import EventRow


class EventKind(Enum):
    """What happened; the server maps each kind onto an OPC UA event type."""

    AUDIT_WRITE = "audit.write"
    """A client wrote a value (AuditWriteUpdateEventType)."""
    AUDIT_CALL = "audit.call"
    """A client called a method (AuditUpdateMethodEventType)."""
    DEVICE_CONNECTED = "device.connected"
    DEVICE_LOST = "device.lost"
    CONFIG_LOADED = "config.loaded"
    SYSTEM = "system"
    ALARM = "alarm"
    """A condition's state changed (AlarmConditionType; ``extra`` has the condition and its
    states: condition, condition_name, type, transition, enabled, active, acked, confirmed,
    retain, comment)."""


SEVERITY_INFO = 200
SEVERITY_AUDIT = 400
SEVERITY_WARNING = 600
"""OPC UA event severities (1 = lowest, 1000 = highest)."""

DEFAULT_SEVERITY: dict[EventKind, int] = {
    EventKind.AUDIT_WRITE: SEVERITY_AUDIT,
    EventKind.AUDIT_CALL: SEVERITY_AUDIT,
    EventKind.DEVICE_CONNECTED: SEVERITY_INFO,
    EventKind.DEVICE_LOST: SEVERITY_WARNING,
    EventKind.CONFIG_LOADED: SEVERITY_INFO,
    EventKind.SYSTEM: SEVERITY_INFO,
    EventKind.ALARM: SEVERITY_AUDIT,
}


def to_text(value: Any) -> str | None:
    """A value as stored in ``old_value`` / ``new_value``: JSON, ``None`` stays ``None``."""
    if value is None:
        return None
    return json.dumps(value, default=str, separators=(",", ":"))


def make_event(
    kind: EventKind,
    source: str,
    message: str,
    t_us: int,
    *,
    severity: int | None = None,
    user: str | None = None,
    old_value: Any = None,
    new_value: Any = None,
    status: int | None = None,
    extra: dict[str, Any] | None = None,
) -> EventRow:
    return {
        "eid": secrets.token_hex(16),
        "t": t_us,
        "kind": kind.value,
        "source": source,
        "severity": severity if severity is not None else DEFAULT_SEVERITY[kind],
        "message": message,
        "user_name": user,
        "old_value": to_text(old_value),
        "new_value": to_text(new_value),
        "status": status,
        "extra": json.dumps(extra, default=str) if extra else None,
    }
