"""The per-device configuration of a Modbus device (what a site config gives for one device)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class TcpEndpoint:
    """A Modbus TCP device or gateway.

    Attributes:
        host: IP address or host name.
        port: TCP port; ``None`` = the profile's ``transport.port``.
    """

    host: str
    port: int | None = None


@dataclass(frozen=True, slots=True)
class SerialBus:
    """An RS485 bus (Modbus RTU); ``None`` fields take the profile's defaults.

    Attributes:
        device: serial device, e.g. ``/dev/ttyUSB0``.
        baudrate / parity / stopbits / bytesize: line settings.
        inter_frame_gap_ms: pause between two requests on the bus, milliseconds.
    """

    device: str
    baudrate: int | None = None
    parity: Literal["N", "E", "O"] | None = None
    stopbits: Literal[1, 2] | None = None
    bytesize: Literal[7, 8] | None = None
    inter_frame_gap_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ModbusDeviceConfig:
    """One configured device served by the generic Modbus engine.

    Attributes:
        device_id: the configured id of the device.
        tcp: how to reach it over Modbus TCP (exactly one of ``tcp`` and ``serial``).
        serial: the RS485 bus it hangs on.
        unit_id: the device's unit id; ``None`` = the profile's ``transport.unit_id``. Unit ids
            that the profile sets per asset or per point are kept.
        asset_ids: asset id per profile asset key; the default is ``device_id`` for a profile with
            one asset, else ``f"{device_id}-{key}"``.
        poll_s: default poll interval in seconds instead of the profile's; points with their own
            ``poll_s`` are never polled faster than this.
        timeout_s: answer timeout per request in seconds instead of the profile's.
        backoff_max_s: the longest pause between attempts while the device does not answer, s
            (``None``: the engine's ``BACKOFF_MAX_S``).
    """

    device_id: str
    tcp: TcpEndpoint | None = None
    serial: SerialBus | None = None
    unit_id: int | None = None
    asset_ids: Mapping[str, str] = field(default_factory=dict)
    poll_s: float | None = None
    timeout_s: float | None = None
    backoff_max_s: float | None = None

    def __post_init__(self) -> None:
        if (self.tcp is None) == (self.serial is None):
            raise ValueError(f"device {self.device_id!r}: give exactly one of 'tcp' and 'serial'")
        if self.unit_id is not None and not 0 <= self.unit_id <= 255:
            raise ValueError(f"device {self.device_id!r}: unit_id {self.unit_id} outside 0..255")
        if self.poll_s is not None and self.poll_s <= 0:
            raise ValueError(f"device {self.device_id!r}: poll_s must be > 0")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError(f"device {self.device_id!r}: timeout_s must be > 0")
