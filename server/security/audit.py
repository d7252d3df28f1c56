"""Security audit events: a small sink interface, a log sink and the historian adapter.

Kinds: ``login``, ``login_failed``, ``login_throttled``, ``certificate_accepted``,
``certificate_rejected``, ``certificate_trusted``, ``certificate_untrusted``, ``write``,
``call``, ``access_denied``. ``user`` is the session's user name (``anonymous`` for anonymous
sessions), ``source`` the client's IP address. A ``status`` in ``details`` is an OPC UA status
code; logs and the historian's event extras show its name (``BadUserAccessDenied``), the event's
status column keeps the number.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from asyncua import ua

log = logging.getLogger("ampacity.audit")

WARNING_KINDS = frozenset(
    {"login_failed", "login_throttled", "certificate_rejected", "access_denied"}
)


_STATUS_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(ua.StatusCodes).items()
    if not name.startswith("_") and isinstance(value, int)
}


def status_name(code: int) -> str:
    """``BadUserAccessDenied`` for 0x801F0000; the hex code when the code has no name."""
    name = _STATUS_NAMES.get(code) or _STATUS_NAMES.get(code & 0xFFFF0000)
    return name if name is not None else f"0x{code:08X}"


def readable(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` with a numeric ``status`` replaced by its name (for logs and event extras)."""
    status = details.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return {**details, "status": status_name(status)}
    return details


class AuditSink(Protocol):
    def on_event(
        self, kind: str, user: str | None, source: str | None, details: dict[str, Any]
    ) -> None: ...


class SecurityAudit:
    """Fans every event out to its sinks; always logs to ``ampacity.audit``."""

    def __init__(self) -> None:
        self.sinks: list[AuditSink] = []

    def attach(self, sink: AuditSink) -> None:
        self.sinks.append(sink)

    def on_event(
        self, kind: str, user: str | None, source: str | None, details: dict[str, Any]
    ) -> None:
        level = logging.WARNING if kind in WARNING_KINDS else logging.INFO
        log.log(
            level, "%s user=%s source=%s %s", kind, user or "-", source or "-", readable(details)
        )
        for sink in self.sinks:
            try:
                sink.on_event(kind, user, source, details)
            except Exception:
                log.exception("audit sink %r failed", sink)


class HistorianAuditSink:
    """Records security events in the historian (as ``EventKind.SYSTEM`` with ``extra.audit``).

    Writes and method calls are not forwarded: ``server.history.install_audit`` records every one
    of them already (allowed or refused, with the old value), from the same session requests.
    """

    SKIPPED = frozenset({"write", "call"})

    def __init__(self, historian: Any, site_id: str) -> None:
        self._historian = historian
        self._site_id = site_id

    def on_event(
        self, kind: str, user: str | None, source: str | None, details: dict[str, Any]
    ) -> None:
        if kind in self.SKIPPED:
            return
        from ampacity.storage import EventKind
        from ampacity.storage.events import SEVERITY_AUDIT, SEVERITY_WARNING

        status = details.get("status")
        self._historian.record_event(
            EventKind.SYSTEM,
            self._site_id,
            _message(kind, user, source, details),
            severity=SEVERITY_WARNING if kind in WARNING_KINDS else SEVERITY_AUDIT,
            user=user,
            status=status if isinstance(status, int) else None,
            extra={"audit": kind, "address": source, **readable(details)},
        )


def _message(kind: str, user: str | None, source: str | None, details: dict[str, Any]) -> str:
    who = user or "-"
    where = f" from {source}" if source else ""
    reason = f": {details['reason']}" if details.get("reason") else ""
    subject = f" {details['subject']}" if details.get("subject") else ""
    tp = f" {details['thumbprint']}" if details.get("thumbprint") else ""
    texts = {
        "login": f"security: {who} logged in{where}",
        "login_failed": f"security: failed login as {who}{where}{reason}",
        "login_throttled": f"security: login as {who}{where} refused (too many failures)",
        "certificate_accepted": f"security: client certificate{subject}{tp} accepted{where}",
        "certificate_rejected": (
            f"security: client certificate{subject}{tp} rejected{where}{reason}"
        ),
        "certificate_trusted": f"security: certificate{tp} added to the trust list",
        "certificate_untrusted": f"security: certificate{tp} removed from the trust list",
        "access_denied": f"security: {who}{where} denied {details.get('service', '?')}",
    }
    return texts.get(kind, f"security: {kind} {who}{where}")
