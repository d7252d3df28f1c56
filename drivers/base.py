"""What the server needs from any driver (generic Modbus engine, SunSpec, code drivers)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ampacity.assets import AssetKind, PointValue, Quality, Reading, ReadingSink, WriteResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """One asset a driver serves.

    Attributes:
        asset_id: configured id, the first part of every NodeId of the asset.
        kind: the asset kind.
        points: the model points the device provides (BrowseNames); the server creates nodes for
            these only, so no node stays Bad forever for a value the device does not have.
        ranges: device limits per writable point ``(low, high)`` in model units; they narrow the
            kind's EURange (an out-of-range client write gets BadOutOfRange).
        identification: known identification values (Manufacturer, Model, ..., DeviceProfile).
    """

    asset_id: str
    kind: AssetKind
    points: tuple[str, ...]
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    identification: dict[str, str] = field(default_factory=dict)


class Driver(Protocol):
    """A driver owns the connection to one device and serves one or more assets.

    ``run`` publishes readings (``<point>``, ``Health.<x>``, ``Identification.<x>``) until it is
    cancelled, reconnecting on its own; it never raises for device faults. ``write`` is the only
    way a setpoint reaches the device.
    """

    device_id: str

    @property
    def assets(self) -> tuple[AssetInfo, ...]: ...

    async def run(self, sink: ReadingSink) -> None: ...

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Clamp to the device limits, write, read back.

        Raises:
            OutOfRangeError: outside the point's range; nothing written.
            WriteError: the device refused or did not answer (message says which).
        """
        ...


def health_readings(
    asset_id: str,
    now: datetime,
    *,
    connected: bool,
    error_count: int,
    last_error: str,
    poll_ms: float,
    last_good: datetime | None,
) -> list[Reading]:
    """An asset's ``Health`` points (``LastGood`` only once the device has answered)."""
    out = [
        Reading(asset_id, "Health.Connected", connected, Quality.GOOD, now),
        Reading(asset_id, "Health.ErrorCount", error_count, Quality.GOOD, now),
        Reading(asset_id, "Health.LastError", last_error, Quality.GOOD, now),
        Reading(asset_id, "Health.PollDuration", poll_ms, Quality.GOOD, now),
    ]
    if last_good is not None:
        out.append(Reading(asset_id, "Health.LastGood", last_good, Quality.GOOD, now))
    return out


def publish_safely(sink: ReadingSink | None, readings: list[Reading], device_id: str) -> None:
    """Hand readings to the sink; a faulty sink is logged and never stops the driver."""
    if not readings or sink is None:
        return
    try:
        sink.publish(readings)
    except Exception:
        log.exception("%s: the reading sink failed", device_id)
