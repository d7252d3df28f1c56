"""What the server needs from any driver (generic Modbus engine, SunSpec, code drivers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ampacity.assets import AssetKind, PointValue, ReadingSink, WriteResult


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
        write_only: points the driver writes but cannot read (a setpoint register that the
            device does not report back); they get a reading only when written.
    """

    asset_id: str
    kind: AssetKind
    points: tuple[str, ...]
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    identification: dict[str, str] = field(default_factory=dict)
    write_only: tuple[str, ...] = ()


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
