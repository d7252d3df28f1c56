"""The security audit names status codes (``BadUserAccessDenied``), it does not print numbers."""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.server.security.audit import HistorianAuditSink, SecurityAudit, status_name
from asyncua import ua


def test_status_names() -> None:
    assert status_name(ua.StatusCodes.BadUserAccessDenied) == "BadUserAccessDenied"
    assert status_name(ua.StatusCodes.Good) == "Good"
    assert status_name(ua.StatusCodes.BadOutOfRange | 0x0400) == "BadOutOfRange"  # info bits
    assert status_name(0x12340000) == "0x12340000"  # no such code


def test_log_line_names_the_status(caplog: pytest.LogCaptureFixture) -> None:
    audit = SecurityAudit()
    with caplog.at_level("INFO", logger="ampacity.audit"):
        audit.on_event(
            "write",
            "viewer",
            "10.0.0.7",
            {"node": "ns=2;s=site.FeedInLimit", "status": ua.StatusCodes.BadUserAccessDenied},
        )
    (line,) = [r.getMessage() for r in caplog.records if r.name == "ampacity.audit"]
    assert "'status': 'BadUserAccessDenied'" in line
    assert str(ua.StatusCodes.BadUserAccessDenied) not in line


class _Historian:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record_event(self, *_args: Any, **kwargs: Any) -> None:
        self.events.append(kwargs)


def test_historian_event_keeps_the_number_and_names_it() -> None:
    historian = _Historian()
    audit = SecurityAudit()
    audit.attach(HistorianAuditSink(historian, "site"))
    code = ua.StatusCodes.BadIdentityTokenInvalid
    audit.on_event("login_failed", "operator", "10.0.0.7", {"status": code, "reason": "x"})
    (event,) = historian.events
    assert event["status"] == code
    assert event["extra"]["status"] == "BadIdentityTokenInvalid"
