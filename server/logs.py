"""Log output: one line per event, for a terminal, the journal or a log shipper.

- ``text`` (default): ``2026-12-07 16:00:00,123 WARNING ampacity.drivers...: message``. Under
  systemd (stderr is the stream ``$JOURNAL_STREAM`` names) the time is left out (the journal
  stamps each line) and each line starts with its syslog priority (``<4>`` for a warning), which
  journald reads as the entry's level (``SyslogLevelPrefix=``, on by default).
- ``json``: one JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
  ``message`` and, for an exception, ``exception`` (the traceback as one string).

A message or traceback that spans lines is still one line: in text the line breaks become
`` | `` (the traceback too), in JSON they are escaped.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def _priority(levelno: int) -> int:
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return 7


def _one_line(text: str) -> str:
    return " | ".join(part for part in text.splitlines() if part.strip())


class TextFormatter(logging.Formatter):
    """Human-readable, one line per event (see the module documentation)."""

    def __init__(self, journal: bool = False) -> None:
        fmt = (
            "%(name)s: %(message)s"
            if journal
            else "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        )
        super().__init__(fmt)
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = _one_line(super().format(record))
        return f"<{_priority(record.levelno)}>{text}" if self.journal else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module documentation)."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        return json.dumps(event, ensure_ascii=False, default=str)


def stderr_is_journal(fd: int = 2) -> bool:
    """Whether ``fd`` is the stream systemd connected to the journal: ``$JOURNAL_STREAM`` is
    ``<device>:<inode>`` of it (a child that inherited the variable but not the stream is not)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        stat = os.fstat(fd)
    except OSError:
        return False
    return value == f"{stat.st_dev}:{stat.st_ino}"


def formatter(kind: LogFormat, journal: bool | None = None) -> logging.Formatter:
    """The formatter for ``kind``; ``journal`` defaults to "stderr goes to the journal"."""
    if kind == "json":
        return JsonFormatter()
    if journal is None:
        journal = stderr_is_journal()
    return TextFormatter(journal=journal)


def configure(kind: LogFormat = "text", level: int = logging.INFO) -> None:
    """Send the root logger's output to stderr in ``kind``, replacing earlier handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(kind))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
