"""Per-series recording state: applies the policy to every value the node writer reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ampacity.assets import PointSpec

from .batch import Sample
from .policy import Mode, RecordingPolicy, deadband_width, exceeds
from .series import SeriesInfo
from .status import is_bad
from .timeutil import seconds_to_us


def to_columns(value: object, status: int) -> tuple[float | None, str | None]:
    """``(value, text)`` columns of a point value; both ``None`` for a Bad status."""
    if value is None or is_bad(status):
        return None, None
    if isinstance(value, bool):
        return (1.0 if value else 0.0), None
    if isinstance(value, int | float):
        return float(value), None
    if isinstance(value, datetime):
        return None, value.isoformat()
    return None, str(value)


@dataclass(slots=True)
class SeriesHandle:
    """A registered series: its metadata, policy and recording state.

    ``last_*`` describe the last *recorded* sample; ``held_*`` the latest value seen.
    """

    info: SeriesInfo
    spec: PointSpec
    policy: RecordingPolicy
    width: float
    interval_us: int
    max_gap_us: int | None
    last_t: int = -1
    last_value: float | None = None
    last_text: str | None = None
    last_status: int | None = None
    held: Sample | None = None
    next_due: int = 0

    @classmethod
    def create(cls, key: str, spec: PointSpec, policy: RecordingPolicy) -> SeriesHandle:
        return cls(
            SeriesInfo.from_spec(key, spec),
            spec,
            policy,
            deadband_width(policy, spec),
            seconds_to_us(policy.interval_s),
            seconds_to_us(policy.max_gap_s) if policy.max_gap_s else None,
        )

    @property
    def key(self) -> str:
        return self.info.key

    def _emit(self, t_us: int, value: float | None, txt: str | None, status: int) -> Sample:
        t_us = max(t_us, self.last_t + 1)  # strictly increasing per series
        self.last_t, self.last_value, self.last_text, self.last_status = t_us, value, txt, status
        return (self.info.key, t_us, value, txt, status)

    def offer(self, value: object, status: int, source_us: int, server_us: int) -> Sample | None:
        """The sample to record for this change, or ``None`` if the policy skips it.

        The sample's time is the source time; a value whose source time is not after the last
        recorded one (a status change that keeps the old source timestamp) gets the server time.
        """
        num, txt = to_columns(value, status)
        t_us = source_us if source_us > self.last_t else server_us
        self.held = (self.info.key, t_us, num, txt, status)
        mode = self.policy.mode
        if mode is Mode.OFF:
            return None
        if status != self.last_status:
            return self._emit(t_us, num, txt, status)
        if mode is Mode.INTERVAL:
            return None
        if txt is not None or self.last_text is not None:
            changed = txt != self.last_text
        elif num is None:
            changed = self.last_value is not None
        else:
            changed = exceeds(num, self.last_value, self.width)
        return self._emit(t_us, num, txt, status) if changed else None

    def tick(self, now_us: int) -> Sample | None:
        """The periodic sample due at ``now_us`` (interval mode, or the on-change heartbeat)."""
        held = self.held
        if held is None or self.policy.mode is Mode.OFF:
            return None
        _, _, num, txt, status = held
        if self.policy.mode is Mode.INTERVAL:
            if now_us < self.next_due:
                return None
            boundary = (now_us // self.interval_us) * self.interval_us
            self.next_due = boundary + self.interval_us
            return self._emit(boundary, num, txt, status)
        if self.max_gap_us is not None and now_us - self.last_t >= self.max_gap_us:
            return self._emit(now_us, num, txt, status)
        return None
