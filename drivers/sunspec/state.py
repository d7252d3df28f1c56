"""Per-asset bookkeeping of the driver: last values, health, and the readings they become."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ampacity.assets import PointValue, Quality, Reading

from .decode import Value


@dataclass(slots=True)
class Health:
    """The ``Health`` object of one asset."""

    connected: bool = False
    last_good: datetime | None = None
    error_count: int = 0
    last_error: str = ""
    poll_duration_ms: float | None = None

    def readings(self, asset_id: str, now: datetime) -> list[Reading]:
        def good(point: str, value: PointValue) -> Reading:
            return Reading(asset_id, f"Health.{point}", value, Quality.GOOD, now)

        out = [
            good("Connected", self.connected),
            good("ErrorCount", self.error_count),
            good("LastError", self.last_error),
        ]
        if self.last_good is not None:
            out.append(good("LastGood", self.last_good))
        if self.poll_duration_ms is not None:
            out.append(good("PollDuration", self.poll_duration_ms))
        return out


@dataclass(slots=True)
class AssetState:
    """What the driver knows about one asset's values.

    Attributes:
        asset_id: the asset.
        points: the points it publishes (the AssetInfo's).
        last: point -> (value, time read) of the last good value.
        failed: the last poll of the asset failed (its values are published as not current).
    """

    asset_id: str
    points: tuple[str, ...]
    health: Health = field(default_factory=Health)
    last: dict[str, tuple[PointValue, datetime]] = field(default_factory=dict)
    failed: bool | None = None

    def good(self, values: dict[str, Value], now: datetime) -> list[Reading]:
        """Readings of a successful poll; remembers good values."""
        self.failed = False
        out: list[Reading] = []
        for point in self.points:
            value = values.get(point)
            if value is None:
                continue
            if value.quality is Quality.GOOD:
                self.last[point] = (value.value, now)
            out.append(Reading(self.asset_id, point, value.value, value.quality, now))
        return out

    def lost(self, now: datetime) -> list[Reading]:
        """Readings when the device stopped answering: the last good value as
        ``UNCERTAIN_LAST_USABLE`` (its read time kept), ``BAD_COMMUNICATION_ERROR`` for a point
        never read. Empty when the asset was already marked failed."""
        if self.failed:
            return []
        self.failed = True
        out: list[Reading] = []
        for point in self.points:
            if point in self.last:
                value, at = self.last[point]
                out.append(Reading(self.asset_id, point, value, Quality.UNCERTAIN_LAST_USABLE, at))
            else:
                out.append(
                    Reading(self.asset_id, point, None, Quality.BAD_COMMUNICATION_ERROR, now)
                )
        return out
