"""Modbus RTU: one request queue per RS485 bus (serial port), shared by every unit id on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ampacity.drivers.runtime.backoff import SYSTEM_CLOCK, Backoff, Clock
from ampacity.drivers.runtime.errors import serial_device_problem
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.client.base import ModbusBaseClient

from .link import QueuedLink, client_kwargs


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of an RS485 bus; every device on the bus must use the same."""

    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class RtuLink(QueuedLink):
    """One RS485 bus: one master, one request at a time, a pause between frames.

    Get it from ``LinkRegistry.rtu`` so every driver on the same serial device shares it.

    Args:
        device: the serial device (``/dev/ttyUSB0``).
        settings: baud rate, parity, stop bits, byte size.
        inter_frame_gap_s: pause after each request before the next goes out, seconds (Modbus
            RTU needs at least 3.5 character times; slow devices need more).
        timeout_s: answer timeout per request, seconds.
        backoff: pacing of attempts to reopen the port.
        clock: time source (also used for the inter-frame pause).
    """

    def __init__(
        self,
        device: str,
        settings: SerialSettings = SerialSettings(),
        *,
        inter_frame_gap_s: float = 0.005,
        timeout_s: float = 1.0,
        backoff: Backoff | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(
            device,
            timeout_s=timeout_s,
            backoff=backoff,
            clock=clock,
            inter_frame_gap_s=inter_frame_gap_s,
        )
        self.device = device
        self.settings = settings

    async def _connect_problem(self) -> str:
        return serial_device_problem(self.device) or "the serial port did not open"

    def _new_client(self) -> ModbusBaseClient:
        return AsyncModbusSerialClient(
            self.device,
            baudrate=self.settings.baudrate,
            parity=self.settings.parity,
            stopbits=self.settings.stopbits,
            bytesize=self.settings.bytesize,
            name=f"ampacity {self.device}",
            **client_kwargs(self.timeout_s),
        )
