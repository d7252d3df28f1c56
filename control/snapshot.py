"""The frozen view of the site one control cycle works on: value, quality and time per point.

Keys are the string part of the NodeIds, ``<asset-id>.<PointName>`` (e.g. ``grid.ActivePower``),
values are in the model's units and sign conventions (``ampacity.assets.kinds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ampacity.assets import PointValue, Quality


@dataclass(frozen=True, slots=True)
class Sample:
    """One point's value as the address space holds it."""

    value: PointValue
    quality: Quality
    source_time: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All readings at one instant.

    Attributes:
        time: when the snapshot was taken (UTC, timezone-aware).
        samples: ``<asset>.<Point>`` -> sample.
        max_age_s: a Good value older than this is stale (not usable), s.
    """

    time: datetime
    samples: Mapping[str, Sample] = field(default_factory=dict)
    max_age_s: float = 10.0

    @classmethod
    def of(
        cls, time: datetime, values: Mapping[str, PointValue], quality: Quality = Quality.GOOD
    ) -> Snapshot:
        """A snapshot where every value has ``quality`` and was read at ``time`` (tests, sim)."""
        return cls(time, {key: Sample(v, quality, time) for key, v in values.items()})

    def usable(self, key: str) -> bool:
        """The value is Good and fresh."""
        sample = self.samples.get(key)
        if sample is None or sample.value is None or not sample.quality.is_good:
            return False
        return (self.time - sample.source_time).total_seconds() <= self.max_age_s

    def number(self, asset: str, point: str) -> float | None:
        """A usable numeric value, else ``None`` (booleans are not numbers here)."""
        key = f"{asset}.{point}"
        if not self.usable(key):
            return None
        value = self.samples[key].value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def flag(self, asset: str, point: str) -> bool | None:
        """A usable boolean value, else ``None``."""
        key = f"{asset}.{point}"
        if not self.usable(key):
            return None
        value = self.samples[key].value
        return value if isinstance(value, bool) else None
