"""Per-asset bookkeeping of the SunSpec driver on the device runtime's pieces: each asset (a unit
id behind the endpoint) has its own ``Health`` and point caches, since one unit can fail while
another answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ampacity.assets import Reading
from ampacity.drivers.runtime import DeviceHealth, PointCache

from .decode import Value


@dataclass(slots=True)
class AssetState:
    """What the driver knows about one asset's values.

    Attributes:
        asset_id: the asset.
        points: the points it publishes (the AssetInfo's).
        health: the asset's ``Health`` points.
        caches: point -> its last good value and quality transitions.
        failed: the last poll of the asset failed (its values are published as not current).
    """

    asset_id: str
    points: tuple[str, ...]
    health: DeviceHealth = field(default_factory=DeviceHealth)
    caches: dict[str, PointCache] = field(default_factory=dict)
    failed: bool | None = None

    def __post_init__(self) -> None:
        for point in self.points:
            self.caches.setdefault(point, PointCache(self.asset_id, point))

    def good(self, values: dict[str, Value], now: datetime, mono: float) -> list[Reading]:
        """Readings of a successful poll; remembers good values."""
        self.failed = False
        out: list[Reading] = []
        for point in self.points:
            value = values.get(point)
            if value is None:
                continue
            out.append(self.caches[point].accept(value.value, value.quality, now, mono))
        return out

    def lost(self, now: datetime) -> list[Reading]:
        """Readings when the device stopped answering: the last good value as
        ``UNCERTAIN_LAST_USABLE`` (its read time kept), ``BAD_COMMUNICATION_ERROR`` for a point
        never read. Empty when the asset was already marked failed."""
        if self.failed:
            return []
        self.failed = True
        return [self.caches[point].stale(now) for point in self.points]
