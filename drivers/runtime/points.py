"""One point's last-good cache and its quality transitions (architecture §3).

* ``Good`` (or the device's own "not available" quality) - accepted from the last answer;
* ``UncertainLastUsableValue`` - the device stopped answering after a good read: the last good
  value with its old source time;
* ``BadCommunicationError`` - no answer for the point since start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ampacity.assets import PointValue, Quality, Reading

_KEPT_WHEN_STALE = (Quality.GOOD, Quality.UNCERTAIN_LAST_USABLE, Quality.UNCERTAIN_SUBSTITUTE)
"""Qualities whose value stays usable (as UncertainLastUsableValue) when the device goes quiet."""


@dataclass(slots=True)
class PointCache:
    """The last reading of one point and what it shows when the device goes quiet.

    Attributes:
        asset_id: the asset's id (first part of the NodeId).
        path: the point below the asset (``ActivePower``, ``Identification.Model``).
        last: the last published reading.
        last_good: the last reading of quality Good.
        last_ok_mono: monotonic time of the last answer for this point, s.
        stale_published: the stale reading has been published since that answer.
    """

    asset_id: str
    path: str
    last: Reading | None = None
    last_good: Reading | None = None
    last_ok_mono: float | None = None
    stale_published: bool = False

    def accept(self, value: PointValue, quality: Quality, when: datetime, mono: float) -> Reading:
        """An answer for the point: remember and return its reading."""
        reading = Reading(self.asset_id, self.path, value, quality, when)
        self.last = reading
        self.last_ok_mono = mono
        self.stale_published = False
        if quality.is_good:
            self.last_good = reading
        return reading

    def fail(self, quality: Quality, when: datetime) -> Reading:
        """The device answered that it has no value (e.g. an illegal address): Bad now."""
        reading = Reading(self.asset_id, self.path, None, quality, when)
        self.last = reading
        return reading

    def stale(self, now: datetime) -> Reading:
        """What the point shows while its device does not answer (and remember it was shown)."""
        self.stale_published = True
        if self.last is None:
            return Reading(self.asset_id, self.path, None, Quality.BAD_COMMUNICATION_ERROR, now)
        if self.last.quality in _KEPT_WHEN_STALE:
            good = self.last_good or self.last
            return Reading(
                self.asset_id,
                self.path,
                good.value,
                Quality.UNCERTAIN_LAST_USABLE,
                good.source_time,
            )
        return self.last  # the device's own "not available" stays what it was

    def overdue(self, mono: float, limit_s: float, since_start: float | None) -> bool:
        """No answer for longer than ``limit_s`` (counted from start if never) and not yet
        published stale."""
        since = self.last_ok_mono if self.last_ok_mono is not None else since_start
        if since is None or self.stale_published:
            return False
        return mono - since > limit_s

    @property
    def usable_value(self) -> PointValue:
        """The last good value, else ``None``."""
        return self.last_good.value if self.last_good is not None else None
