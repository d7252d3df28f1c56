"""The interface every Modbus connection offers to drivers (TCP socket or a shared RS485 bus).

Implementations serialise requests (one request in flight per TCP connection or per RS485 bus),
apply the per-request timeout, and raise ``ModbusIOError`` with a located message for any failure
(timeout, exception response, malformed reply, lost connection).
"""

from __future__ import annotations

from typing import Protocol


class ModbusIOError(Exception):
    """A request failed. ``str()`` names the endpoint, unit id, function and address."""


class ModbusExceptionResponse(ModbusIOError):
    """The device answered with a Modbus exception (``code``: 1 illegal function, 2 illegal
    data address, 3 illegal data value, 4 device failure, ...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ModbusLink(Protocol):
    """One logical connection to a device's unit id(s)."""

    @property
    def endpoint(self) -> str:
        """Where it goes, for messages: ``192.0.2.1:502`` or ``/dev/ttyUSB0``."""
        ...

    async def read_holding_registers(self, unit_id: int, address: int, count: int) -> list[int]: ...

    async def read_input_registers(self, unit_id: int, address: int, count: int) -> list[int]: ...

    async def read_coils(self, unit_id: int, address: int, count: int) -> list[bool]: ...

    async def read_discrete_inputs(self, unit_id: int, address: int, count: int) -> list[bool]: ...

    async def write_registers(self, unit_id: int, address: int, values: list[int]) -> None:
        """FC16 (write multiple registers)."""
        ...

    async def write_register(self, unit_id: int, address: int, value: int) -> None:
        """FC6 (write single register)."""
        ...

    async def write_coil(self, unit_id: int, address: int, value: bool) -> None: ...
