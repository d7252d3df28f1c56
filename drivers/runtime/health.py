"""A device's connection state as its ``Health`` points show it, and the log lines a user reads.

Health points (per asset of the device, architecture §3): ``Health.Connected`` (bool: the
device answered the last request), ``Health.LastGood`` (datetime, UTC: the last good answer),
``Health.ErrorCount`` (int: failed requests since start), ``Health.LastError`` (str: the cause of
the last failure, in words, with the endpoint), ``Health.PollDuration`` (float, ms: the last poll).

Logging: the first failure of a device is one WARNING line with its cause in words; further
failures are counted, not repeated (a reminder with the latest cause at most every ``REMINDER_S``
while it lasts); the recovery is one INFO line with the count and the duration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ampacity.assets import Quality, Reading

REMINDER_S = 600.0
"""While a failure lasts, it is logged again (with the count) at most this often, s."""


@dataclass(slots=True)
class DeviceHealth:
    """What the ``Health`` points of a device's assets say.

    Attributes:
        connected: the device answered the last request.
        ever_connected: it has answered at least once since start.
        last_good: wall-clock time (UTC) of the last good answer.
        error_count: failed requests since start.
        last_error: the last failure's cause, in words.
        poll_ms: duration of the last poll, ms.
        last_answer_mono: monotonic time of the last answer, s.
        returns: how often the device answered again after an outage.
    """

    connected: bool = False
    ever_connected: bool = False
    last_good: datetime | None = None
    error_count: int = 0
    last_error: str = ""
    poll_ms: float = 0.0
    last_answer_mono: float | None = None
    returns: int = 0

    def answered(self, now: datetime, mono: float) -> bool:
        """The device answered; returns ``True`` when it came back after an outage."""
        self.last_answer_mono = mono
        self.last_good = now
        came_back = not self.connected and self.ever_connected
        if came_back:
            self.returns += 1
        self.connected = True
        self.ever_connected = True
        return came_back

    def failed(self, cause: str, *, disconnected: bool = True) -> None:
        """A request failed; ``disconnected=False`` for a refusal that is an answer."""
        self.error_count += 1
        self.last_error = cause
        if disconnected:
            self.connected = False

    def readings(self, asset_ids: tuple[str, ...] | list[str], now: datetime) -> list[Reading]:
        """The ``Health`` points of every asset (``LastGood`` only once the device answered)."""
        out: list[Reading] = []
        for asset_id in asset_ids:
            out += [
                Reading(asset_id, "Health.Connected", self.connected, Quality.GOOD, now),
                Reading(asset_id, "Health.ErrorCount", self.error_count, Quality.GOOD, now),
                Reading(asset_id, "Health.LastError", self.last_error, Quality.GOOD, now),
                Reading(asset_id, "Health.PollDuration", self.poll_ms, Quality.GOOD, now),
            ]
            if self.last_good is not None:
                out.append(Reading(asset_id, "Health.LastGood", self.last_good, Quality.GOOD, now))
        return out


class FailureLog:
    """Logs a failing thing once per state change, not once per attempt.

    Args:
        logger: where the lines go.
        name: what fails, first word of every line (a device id, ``<asset>.<point>``).
        what: how a failure is introduced (``"not answering"``, ``"write failed"``).
    """

    def __init__(self, logger: logging.Logger, name: str, what: str = "not answering") -> None:
        self._log = logger
        self.name = name
        self.what = what
        self._failing = False
        self._cause = ""
        self._count = 0
        self._since = 0.0
        self._logged_at = 0.0

    @property
    def failing(self) -> bool:
        return self._failing

    @property
    def count(self) -> int:
        """Failures since the last success."""
        return self._count

    def failed(self, cause: str, mono: float) -> None:
        """One more failure: logged if it is the first or a reminder is due."""
        self._count += 1
        if not self._failing:
            self._failing = True
            self._since = self._logged_at = mono
            self._cause = cause
            self._log.warning("%s: %s: %s", self.name, self.what, cause)
            return
        self._cause = cause
        if mono - self._logged_at >= REMINDER_S:
            self._logged_at = mono
            self._log.warning(
                "%s: still %s: %s (%d failures in %.0f s)",
                self.name,
                self.what,
                cause,
                self._count,
                mono - self._since,
            )

    def recovered(self, mono: float) -> None:
        """A success: one INFO line if it ends a failure."""
        if self._failing:
            self._log.info(
                "%s: OK again after %d failure%s in %.0f s",
                self.name,
                self._count,
                "" if self._count == 1 else "s",
                mono - self._since,
            )
        self._failing = False
        self._count = 0
