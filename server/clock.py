"""The wall clock: is it synchronised, did it jump?

The control (time-of-use strategies, day-ahead plans, dimming windows) and the historian (sample
timestamps, rollups, retention) trust the wall clock. A box without NTP, or whose clock is set
after boot, gives wrong plans and a history with holes or overlaps. So the server:

- at start, asks what the system reports (``timedatectl show`` of systemd-timesyncd /
  systemd; else ``chronyc -c tracking``) and warns when the clock is not synchronised;
- every ``check_s`` compares how far the wall clock moved with the monotonic clock; a
  difference above ``jump_s`` is a jump: a warning in the log and in the site's
  ``Health.LastError``, counted in the metrics.

The readers take the command runner and the clocks as arguments, so tests inject outputs.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ampacity.assets import Quality, Reading, ReadingSink

log = logging.getLogger(__name__)

JUMP_S = 2.0
"""A wall-clock step larger than this (between two checks) is reported as a jump."""
CHECK_S = 10.0
NTP_RECHECK_S = 600.0


@dataclass(frozen=True)
class ClockStatus:
    """What the system says about its clock.

    Attributes:
        synchronized: ``True``/``False`` as reported; ``None`` when nothing could tell.
        source: which tool answered (``timedatectl``, ``chronyc``) or ``""``.
        detail: the reason in words, for the log.
    """

    synchronized: bool | None
    source: str
    detail: str


Runner = Callable[[Sequence[str]], str | None]
"""Runs a command; its stdout, or ``None`` when it is missing or fails."""


def run_command(command: Sequence[str], timeout_s: float = 3.0) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_timedatectl(output: str) -> ClockStatus | None:
    """``timedatectl show`` (``Key=value`` lines): ``NTPSynchronized=yes|no``."""
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    state = values.get("NTPSynchronized")
    if state not in ("yes", "no"):
        return None
    if state == "yes":
        return ClockStatus(True, "timedatectl", "synchronised (systemd)")
    ntp = values.get("NTP", "")
    why = "NTP is off (timedatectl set-ntp true)" if ntp == "no" else "not synchronised yet"
    return ClockStatus(False, "timedatectl", why)


def parse_chrony(output: str) -> ClockStatus | None:
    """``chronyc -c tracking`` (CSV; the last field is the leap status)."""
    line = output.strip().splitlines()[0] if output.strip() else ""
    fields = line.split(",")
    if len(fields) < 13:
        return None
    leap = fields[-1].strip()
    if leap == "Not synchronised":
        return ClockStatus(False, "chronyc", "chrony: not synchronised")
    if leap in ("Normal", "Insert second", "Delete second"):
        offset = fields[4].strip()
        return ClockStatus(True, "chronyc", f"chrony: synchronised to {fields[1]} ({offset} s)")
    return None


def ntp_status(run: Runner = run_command) -> ClockStatus:
    """Ask timedatectl, then chrony; ``synchronized=None`` when neither answers."""
    output = run(["timedatectl", "show"])
    if output:
        status = parse_timedatectl(output)
        if status is not None:
            return status
    output = run(["chronyc", "-c", "tracking"])
    if output:
        status = parse_chrony(output)
        if status is not None:
            return status
    return ClockStatus(None, "", "no timedatectl or chronyc answer: cannot tell if NTP runs")


class ClockWatch:
    """Warns when the clock is not synchronised or jumps; see the module documentation.

    Args:
        site_id: where the warnings go (``<site>.Health.LastError``).
        sink: the node writer (``None``: log only).
        run: command runner (tests inject outputs).
        wall, monotonic: clocks, s (tests inject them).
    """

    def __init__(
        self,
        site_id: str,
        sink: ReadingSink | None = None,
        run: Runner = run_command,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        jump_s: float = JUMP_S,
    ) -> None:
        self.site_id = site_id
        self.sink = sink
        self.run = run
        self.wall = wall
        self.monotonic = monotonic
        self.jump_s = jump_s
        self.status: ClockStatus | None = None
        self.jumps = 0
        self.last_warning = ""
        self._ref: tuple[float, float] | None = None

    def _warn(self, text: str) -> None:
        self.last_warning = text
        log.warning("%s", text)
        if self.sink is not None:
            now = datetime.fromtimestamp(self.wall(), UTC)
            self.sink.publish([Reading(self.site_id, "Health.LastError", text, Quality.GOOD, now)])

    def check_ntp(self) -> ClockStatus:
        """Ask the system; warn when it is not synchronised (on the change to that state)."""
        return self.note_ntp(ntp_status(self.run))

    def note_ntp(self, status: ClockStatus) -> ClockStatus:
        """Take a new NTP state: warn on the change to "not synchronised", say when it is back.
        Runs on the event loop (it publishes to the sink); only the asking runs in a thread."""
        before = self.status
        self.status = status
        if status.synchronized is False and (before is None or before.synchronized is not False):
            self._warn(f"clock: not synchronised ({status.detail}); plans and history may be off")
        else:
            first_unknown = status.synchronized is None and before is None
            recovered = (
                bool(status.synchronized) and before is not None and before.synchronized is False
            )
            if first_unknown or recovered:
                log.info("clock: %s", status.detail)
        return status

    def check_jump(self) -> float:
        """Compare wall and monotonic progress since the last check; returns the jump, s."""
        wall, mono = self.wall(), self.monotonic()
        if self._ref is None:
            self._ref = (wall, mono)
            return 0.0
        jump = (wall - self._ref[0]) - (mono - self._ref[1])
        self._ref = (wall, mono)
        if abs(jump) > self.jump_s:
            self.jumps += 1
            direction = "forward" if jump > 0 else "back"
            self._warn(f"clock: the wall clock jumped {direction} by {abs(jump):.1f} s")
        return jump

    async def run_forever(self, check_s: float = CHECK_S, ntp_s: float = NTP_RECHECK_S) -> None:
        """Check for jumps every ``check_s`` and the NTP state every ``ntp_s`` until cancelled."""
        loop = asyncio.get_running_loop()
        if self.status is None:
            self.note_ntp(await loop.run_in_executor(None, ntp_status, self.run))
        self.check_jump()
        next_ntp = self.monotonic() + ntp_s
        while True:
            await asyncio.sleep(check_s)
            self.check_jump()
            if self.monotonic() >= next_ntp:
                next_ntp = self.monotonic() + ntp_s
                self.note_ntp(await loop.run_in_executor(None, ntp_status, self.run))
