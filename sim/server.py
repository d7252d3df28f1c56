"""Serving simulated devices on a pymodbus (3.16) server: Modbus TCP or RTU, several unit ids.

A ``SimServer`` answers for one or more ``SimulatedDevice``s - one TCP endpoint (the Alfen
station: units 1, 2 and 200) or one RS485 line (a Heidelberg wallbox on unit 1 and a Janitza meter
on unit 2). Requests go to the device that owns the unit id; each device's ``FaultSwitch`` decides
whether it answers normally, stays silent, answers with an exception or garbage, or drops the
connection.

pymodbus' own datastores are bypassed: the server's context is replaced by ``_Context``, which
reads and writes the devices' ``RegisterImage``s, and every connection gets a ``_FaultHandler``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Sequence
from typing import Any

from ampacity.drivers.profile import Function, Profile
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from .faults import Fault, FaultSwitch
from .registers import DeviceModel, RegisterImage, WriteOutcome

log = logging.getLogger(__name__)

FUNCTIONS: dict[int, Function] = {
    1: Function.COIL,
    5: Function.COIL,
    15: Function.COIL,
    2: Function.DISCRETE_INPUT,
    3: Function.HOLDING,
    6: Function.HOLDING,
    16: Function.HOLDING,
    22: Function.HOLDING,
    23: Function.HOLDING,
    4: Function.INPUT,
}
"""Modbus function code -> data table."""

_OUTCOME_CODES = {
    WriteOutcome.ILLEGAL_ADDRESS: ExcCodes.ILLEGAL_ADDRESS,
    WriteOutcome.ILLEGAL_VALUE: ExcCodes.ILLEGAL_VALUE,
    WriteOutcome.REFUSED: ExcCodes.DEVICE_FAILURE,
}


class SimulatedDevice:
    """One simulated device: a profile served from a model, with its own fault switch.

    Args:
        profile: the device profile whose registers are served.
        model: where values come from and written setpoints go.
        unit_id: replaces the profile's default unit id (e.g. 2 for a meter sharing an RS485 bus
            with a wallbox on 1).
        name: for messages; the profile id by default.
    """

    def __init__(
        self,
        profile: Profile,
        model: DeviceModel,
        *,
        unit_id: int | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or profile.id
        self.profile = profile
        self.image = RegisterImage(profile, model, unit_id=unit_id)
        self.faults = FaultSwitch()

    @property
    def unit_ids(self) -> set[int]:
        return self.image.unit_ids

    def refresh(self) -> None:
        """Re-encode the registers from the model."""
        self.image.refresh()


class _Context:
    """What pymodbus' request PDUs call to read and write (duck-typed server context)."""

    def __init__(self, devices: Sequence[SimulatedDevice]) -> None:
        self.by_unit: dict[int, SimulatedDevice] = {}
        for device in devices:
            for unit in device.unit_ids:
                if unit in self.by_unit:
                    raise ValueError(
                        f"unit id {unit} is served by both {self.by_unit[unit].name} "
                        f"and {device.name}"
                    )
                self.by_unit[unit] = device

    def device_ids(self) -> list[int]:
        return sorted(self.by_unit)

    def _device(self, unit: int) -> SimulatedDevice:
        device = self.by_unit.get(unit)
        if device is None:
            raise NoSuchIdException(f"no simulated device on unit id {unit}")
        return device

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        device = self._device(device_id)
        function = FUNCTIONS.get(func_code)
        if function is None:
            return ExcCodes.ILLEGAL_FUNCTION
        values = device.image.read(device_id, function, address, count)
        if values is None:
            return ExcCodes.ILLEGAL_ADDRESS
        if function.is_bit:
            return [bool(v) for v in values]
        return values

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Sequence[int] | Sequence[bool]
    ) -> ExcCodes | None:
        device = self._device(device_id)
        function = FUNCTIONS.get(func_code)
        if function not in (Function.HOLDING, Function.COIL):
            return ExcCodes.ILLEGAL_FUNCTION
        outcome = device.image.write(device_id, function, address, [int(v) for v in values])
        if outcome is WriteOutcome.OK:
            device.refresh()
            return None
        return _OUTCOME_CODES[outcome]


class _FaultHandler(ServerRequestHandler):
    """A connection handler that lets the addressed device's fault switch decide."""

    async def handle_request(self) -> None:
        pdu = self.last_pdu
        if not pdu:
            return
        owner: Any = self.server
        context: _Context = owner.context
        device = context.by_unit.get(pdu.dev_id)
        fault = device.faults.fault if device is not None else Fault.NONE
        serial = owner.sim_serial
        if fault is Fault.NONE:
            await super().handle_request()
        elif fault is Fault.SILENT or (fault is Fault.DISCONNECT and serial):
            self.last_pdu = None
        elif fault is Fault.EXCEPTION:
            assert device is not None
            response = ExceptionResponse(pdu.function_code, device.faults.exception_code)
            response.transaction_id = pdu.transaction_id
            response.dev_id = pdu.dev_id
            self.server_send(response, self.last_addr)
        elif fault is Fault.GARBAGE:
            self.send(_garbage(pdu.transaction_id, pdu.dev_id, pdu.function_code, serial))
        elif fault is Fault.DISCONNECT and isinstance(self.transport, asyncio.WriteTransport):
            self.transport.abort()


def _garbage(transaction: int, unit: int, function: int, serial: bool) -> bytes:
    """A malformed answer to a request."""
    if serial:
        # A plausible RTU header, a byte count that lies, and a CRC that does not match.
        return bytes((unit, function, 0x10, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x00))
    # A well-framed MBAP packet whose PDU claims 16 data bytes and carries 3.
    pdu = bytes((function, 0x10, 0xDE, 0xAD, 0xBE))
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


def _placeholder() -> SimDevice:
    return SimDevice(0, simdata=[SimData(0, values=0, datatype=DataType.REGISTERS)])


class _TcpServer(ModbusTcpServer):
    sim_serial = False

    def callback_new_connection(self) -> ServerRequestHandler:
        return _FaultHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class _SerialServer(ModbusSerialServer):
    sim_serial = True

    def callback_new_connection(self) -> ServerRequestHandler:
        return _FaultHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class SimServer:
    """One Modbus endpoint (TCP port or serial line) serving simulated devices.

    Args:
        devices: the devices behind the endpoint; their unit ids must not overlap.
        refresh_s: re-encode every device's registers from its model at this period (real
            seconds) while serving; ``None`` = only on ``refresh()`` and after client writes
            (the ``DemoSite`` refreshes all its servers itself, after advancing the physics).
    """

    def __init__(
        self, devices: Sequence[SimulatedDevice], *, refresh_s: float | None = None
    ) -> None:
        self.devices = list(devices)
        self.refresh_s = refresh_s
        self._context = _Context(self.devices)
        self._server: _TcpServer | _SerialServer | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.host: str | None = None
        self.port: int | None = None
        self.device_path: str | None = None

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (0 = a free port). Returns the bound address."""
        server = _TcpServer(_placeholder(), address=(host, port), ignore_missing_devices=False)
        server.context = self._context  # type: ignore[assignment]
        if not await server.listen():
            raise OSError(f"cannot listen on {host}:{port}")
        self._server = server
        self._start_refresher()
        sockets = getattr(server.transport, "sockets", None) or ()
        bound = sockets[0].getsockname() if sockets else (host, port)
        self.host, self.port = str(bound[0]), int(bound[1])
        return self.host, self.port

    async def start_rtu(
        self,
        device_path: str,
        *,
        baudrate: int = 19200,
        parity: str = "E",
        stopbits: int = 1,
        bytesize: int = 8,
    ) -> None:
        """Answer as RTU slaves on the serial line ``device_path`` (a tty or pty)."""
        server = _SerialServer(
            _placeholder(),
            port=device_path,
            baudrate=baudrate,
            parity=parity,
            stopbits=stopbits,
            bytesize=bytesize,
            ignore_missing_devices=True,  # other units on the bus: stay silent
        )
        server.context = self._context  # type: ignore[assignment]
        if not await server.listen():
            raise OSError(f"cannot open serial line {device_path}")
        self._server = server
        self.device_path = device_path
        self._start_refresher()

    def refresh(self) -> None:
        """Re-encode every device's registers from its model."""
        for device in self.devices:
            device.refresh()

    def _start_refresher(self) -> None:
        if self.refresh_s is not None and self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop(self.refresh_s))

    async def _refresh_loop(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                self.refresh()
            except Exception:  # a model bug must not stop the device from answering
                log.exception(
                    "simulated devices %s: refresh failed", [d.name for d in self.devices]
                )

    async def stop(self) -> None:
        """Stop refreshing, close the endpoint and every client connection."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        server, self._server = self._server, None
        if server is None:
            return
        for connection in list(server.active_connections.values()):
            connection.close()
        await server.shutdown()
        await asyncio.sleep(0)
