"""Log output: one line per event; JSON for log shippers; journald priorities under systemd."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from ampacity.server.logs import JsonFormatter, TextFormatter, formatter


def record(level: int, message: str, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad frame\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("ampacity.drivers.sml", level, __file__, 1, message, (), exc_info)


def test_json_is_one_object_per_line_with_time_level_logger_message_and_exception() -> None:
    line = JsonFormatter().format(record(logging.ERROR, "meter1: frame\ncut", exc=True))
    assert "\n" not in line
    event = json.loads(line)
    assert event["level"] == "error"
    assert event["logger"] == "ampacity.drivers.sml"
    assert event["message"] == "meter1: frame\ncut"
    assert event["time"].endswith("+00:00")
    assert "ValueError: bad frame" in event["exception"]


def test_text_is_one_line_even_for_a_traceback() -> None:
    line = TextFormatter().format(record(logging.WARNING, "two\nlines", exc=True))
    assert "\n" not in line
    assert " WARNING ampacity.drivers.sml: two | lines | Traceback" in line
    assert "ValueError: bad frame | second line" in line


def test_under_journald_the_priority_prefix_replaces_the_time() -> None:
    text = TextFormatter(journal=True)
    assert text.format(record(logging.WARNING, "x")) == "<4>ampacity.drivers.sml: x"
    assert text.format(record(logging.ERROR, "x")).startswith("<3>")
    assert text.format(record(logging.INFO, "x")).startswith("<6>")
    assert text.format(record(logging.DEBUG, "x")).startswith("<7>")


def test_the_journal_is_detected_from_journal_stream(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stat = os.fstat(2)
    monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
    assert formatter("text").format(record(logging.INFO, "x")) == "<6>ampacity.drivers.sml: x"
    # inherited by a process whose stderr is something else: not the journal
    monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino + 1}")
    assert not formatter("text").format(record(logging.INFO, "x")).startswith("<")
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not formatter("text").format(record(logging.INFO, "x")).startswith("<")
    assert isinstance(formatter("json"), JsonFormatter)


SCRIPT = """
import logging
from ampacity.server import logs
from ampacity.server.cli import _parser

args = _parser().parse_args(["run", "--log-format", "json"])
logs.configure(args.log_format)
logging.getLogger("ampacity.x").warning("hello")
"""


def test_run_log_format_json_writes_json_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    event = json.loads(done.stderr.strip())
    assert (event["level"], event["logger"], event["message"]) == ("warning", "ampacity.x", "hello")
