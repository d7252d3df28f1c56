"""Fault injection: how a simulated device misbehaves, switchable while it runs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Fault(Enum):
    """What a simulated device does with a request."""

    NONE = "none"
    """Answer normally."""
    SILENT = "silent"
    """Send nothing: the client runs into its timeout."""
    EXCEPTION = "exception"
    """Answer every request with a Modbus exception (``FaultSwitch.exception_code``)."""
    GARBAGE = "garbage"
    """Answer with a malformed frame (TCP: a frame whose byte count does not match its data;
    RTU: bytes with a wrong CRC)."""
    DISCONNECT = "disconnect"
    """Drop the TCP connection on the next request (RTU: behaves as ``SILENT``)."""


@dataclass
class FaultSwitch:
    """The fault state of one simulated device.

    Attributes:
        fault: the active fault.
        exception_code: the Modbus exception code sent with ``Fault.EXCEPTION`` (4 = server
            device failure; 6 = busy; 11 = gateway target failed to respond).
    """

    fault: Fault = Fault.NONE
    exception_code: int = 4

    def set(self, fault: Fault, exception_code: int | None = None) -> None:
        """Switch to ``fault`` (``Fault.NONE`` heals the device)."""
        self.fault = fault
        if exception_code is not None:
            self.exception_code = exception_code

    def clear(self) -> None:
        self.fault = Fault.NONE
