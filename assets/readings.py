"""Readings and commands: what flows between drivers, the address space and control."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .quality import Quality

PointValue = float | int | bool | str | datetime | None
"""A point's value in the model's unit (``None`` when there is none yet)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one point, as read from a device.

    Attributes:
        asset_id: the configured id of the asset (first part of the NodeId).
        point: the point's path below the asset: ``ActivePower``, ``Health.Connected``,
            ``Identification.SerialNumber``.
        value: the value in the model's unit and sign convention.
        quality: what the value is worth.
        source_time: when the device was read (UTC, timezone-aware).
    """

    asset_id: str
    point: str
    value: PointValue
    quality: Quality
    source_time: datetime

    @property
    def node_key(self) -> str:
        """The string part of the NodeId: ``<asset-id>.<point>``."""
        return f"{self.asset_id}.{self.point}"


class ReadingSink(Protocol):
    """Where drivers put readings; the server's node writer implements it.

    It must not block: drivers call it from their poll loop.
    """

    def publish(self, readings: list[Reading]) -> None: ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What became of a setpoint write.

    Attributes:
        requested: the value asked for.
        written: the value sent to the device after clamping to its limits.
        read_back: the value the device reports after the write (``None`` if it cannot be read).
        clamped: ``written`` differs from ``requested``.
    """

    requested: float | int | bool
    written: float | int | bool
    read_back: PointValue
    clamped: bool


class WriteError(Exception):
    """A setpoint could not be written; the message says where and why."""


class OutOfRangeError(WriteError):
    """The requested value lies outside the point's range; nothing was written."""
