"""The request queue shared by the TCP and RTU links.

A ``QueuedLink`` owns one pymodbus client (one TCP connection or one serial port) and one worker
task. Every request of every user goes through its queue, so exactly one request is in flight at a
time, whatever the number of drivers or unit ids behind it. The worker connects on demand and,
after a failure, reconnects no earlier than the ``Backoff`` allows: requests that arrive in between
fail at once with a located ``ModbusIOError`` instead of waiting, so a dead device costs its
drivers nothing but an error, and never blocks anyone for longer than one timeout.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ampacity.drivers.runtime.backoff import SYSTEM_CLOCK, Backoff, Clock
from ampacity.drivers.runtime.errors import describe
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from .transport import ModbusExceptionResponse, ModbusIOError

log = logging.getLogger(__name__)

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}
"""Modbus exception codes (Modbus Application Protocol V1.1b3, §7)."""

CLOSE_TIMEOUT_S = 5.0
"""How long ``close`` waits for the link's worker to end, seconds."""
MAX_READ_REGISTERS = 125
"""Largest register count of one FC3/FC4 request (protocol limit)."""
MAX_READ_BITS = 2000
"""Largest bit count of one FC1/FC2 request (protocol limit)."""

Call = Callable[[ModbusBaseClient], Awaitable[ModbusPDU]]


@dataclass(slots=True)
class _Request:
    where: str
    call: Call
    future: asyncio.Future[ModbusPDU] = field(repr=False)


class QueuedLink(ABC):
    """A ``ModbusLink`` with one request queue and one worker task.

    Args:
        endpoint: where it goes, for messages (``host:port`` or the serial device).
        timeout_s: the answer timeout of every request, and the connect timeout, seconds.
        backoff: pacing of reconnect attempts.
        clock: time source (monotonic deadlines and sleeps).
        inter_frame_gap_s: pause after every request before the next one goes out, seconds
            (RS485 buses; on TCP the profile's ``request_gap_ms``, usually 0).
        connect_delay_s: wait after every successful connect before the first request goes
            out, seconds (devices that fail requests right after a connect).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout_s: float = 1.0,
        backoff: Backoff | None = None,
        clock: Clock = SYSTEM_CLOCK,
        inter_frame_gap_s: float = 0.0,
        connect_delay_s: float = 0.0,
    ) -> None:
        self._endpoint = endpoint
        self.connect_delay_s = connect_delay_s
        self.timeout_s = timeout_s
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.inter_frame_gap_s = inter_frame_gap_s
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._client: ModbusBaseClient | None = None
        self._retry_at = 0.0
        self._last_error = ""
        self._down_reason = ""
        self._generation = 0
        self._closed = False

    # --- ModbusLink --------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._endpoint

    async def read_holding_registers(self, unit_id: int, address: int, count: int) -> list[int]:
        _check_count(count, MAX_READ_REGISTERS)
        where = self._where(unit_id, "read holding registers (FC3)", address, count)
        pdu = await self._submit(
            where, lambda c: c.read_holding_registers(address, count=count, device_id=unit_id)
        )
        return _registers(pdu, count, where)

    async def read_input_registers(self, unit_id: int, address: int, count: int) -> list[int]:
        _check_count(count, MAX_READ_REGISTERS)
        where = self._where(unit_id, "read input registers (FC4)", address, count)
        pdu = await self._submit(
            where, lambda c: c.read_input_registers(address, count=count, device_id=unit_id)
        )
        return _registers(pdu, count, where)

    async def read_coils(self, unit_id: int, address: int, count: int) -> list[bool]:
        _check_count(count, MAX_READ_BITS)
        where = self._where(unit_id, "read coils (FC1)", address, count)
        pdu = await self._submit(
            where, lambda c: c.read_coils(address, count=count, device_id=unit_id)
        )
        return _bits(pdu, count, where)

    async def read_discrete_inputs(self, unit_id: int, address: int, count: int) -> list[bool]:
        _check_count(count, MAX_READ_BITS)
        where = self._where(unit_id, "read discrete inputs (FC2)", address, count)
        pdu = await self._submit(
            where, lambda c: c.read_discrete_inputs(address, count=count, device_id=unit_id)
        )
        return _bits(pdu, count, where)

    async def write_registers(self, unit_id: int, address: int, values: list[int]) -> None:
        words = list(values)
        await self._submit(
            self._where(unit_id, "write registers (FC16)", address, len(words)),
            lambda c: c.write_registers(address, words, device_id=unit_id),
        )

    async def write_register(self, unit_id: int, address: int, value: int) -> None:
        await self._submit(
            self._where(unit_id, "write register (FC6)", address, 1),
            lambda c: c.write_register(address, value, device_id=unit_id),
        )

    async def write_coil(self, unit_id: int, address: int, value: bool) -> None:
        await self._submit(
            self._where(unit_id, "write coil (FC5)", address, 1),
            lambda c: c.write_coil(address, value, device_id=unit_id),
        )

    # --- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The connection (or serial port) is open now."""
        return self._client is not None and self._client.connected

    @property
    def generation(self) -> int:
        """Number of successful connects so far; a change means "reconnected"."""
        return self._generation

    @property
    def last_error(self) -> str:
        return self._last_error

    async def close(self) -> None:
        """Stop the worker, fail queued requests, close the connection."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            # bounded: a worker that does not end (a library call kept the cancel) must not
            # hold up the driver's or the server's shutdown
            await asyncio.wait({self._worker}, timeout=CLOSE_TIMEOUT_S)
            if not self._worker.done():
                log.warning("%s: the link's worker did not stop; left behind", self._endpoint)
            self._worker = None
        if self._queue is not None:
            while not self._queue.empty():
                request = self._queue.get_nowait()
                if not request.future.done():
                    request.future.set_exception(ModbusIOError(f"{request.where}: link closed"))
        self._disconnect()

    # --- subclass hooks ----------------------------------------------------------------------

    @abstractmethod
    def _new_client(self) -> ModbusBaseClient:
        """A fresh, unconnected pymodbus client with retries=0 and no own reconnect."""

    async def _connect_problem(self) -> str:
        """Why the last connect failed, in words (the client only reports that it did)."""
        return "refused or unreachable"

    # --- the worker --------------------------------------------------------------------------

    def _where(self, unit_id: int, function: str, address: int, count: int) -> str:
        span = f"{address}" if count == 1 else f"{address}..{address + count - 1}"
        return f"{self._endpoint} unit {unit_id} {function} address {span}"

    async def _submit(self, where: str, call: Call) -> ModbusPDU:
        if self._closed:
            raise ModbusIOError(f"{where}: link closed")
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._work(), name=f"modbus {self._endpoint}")
        assert self._queue is not None
        future: asyncio.Future[ModbusPDU] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(where, call, future))
        return await future

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            # a cancel that a pymodbus call swallowed (it answered or failed instead) still ends
            # the worker here; otherwise it would wait on the queue for ever and close() with it
            _raise_if_cancelling()
            request = await self._queue.get()
            if request.future.done():  # the caller gave up (cancelled) while queued
                continue
            try:
                pdu = await self._execute(request)
            except ModbusIOError as exc:
                self._last_error = str(exc)
                if not request.future.done():
                    request.future.set_exception(exc)
            except BaseException:  # cancelled (closing): the caller must not wait for ever
                if not request.future.done():
                    request.future.set_exception(ModbusIOError(f"{request.where}: link closed"))
                raise
            else:
                if not request.future.done():
                    request.future.set_result(pdu)
            if self.inter_frame_gap_s > 0:
                await self.clock.sleep(self.inter_frame_gap_s)

    async def _execute(self, request: _Request) -> ModbusPDU:
        client = await self._ensure_connected(request.where)
        try:
            async with asyncio.timeout(self.timeout_s * 2 + 1.0):  # pymodbus times out first
                pdu = await request.call(client)
        except (TimeoutError, ModbusException) as exc:
            _raise_if_cancelling()
            if isinstance(exc, ConnectionException) or not client.connected:
                self._connection_failed()
                raise ModbusIOError(f"{request.where}: connection lost ({exc})") from exc
            raise ModbusIOError(
                f"{request.where}: no valid answer within {self.timeout_s:g} s"
            ) from exc
        except (OSError, ValueError) as exc:
            self._connection_failed()
            raise ModbusIOError(f"{request.where}: {type(exc).__name__}: {exc}") from exc
        self.backoff.reset()
        if pdu is None:
            raise ModbusIOError(f"{request.where}: empty reply")
        if pdu.isError():
            code = int(pdu.exception_code)
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise ModbusExceptionResponse(
                f"{request.where}: Modbus exception {code} ({name})", code
            )
        return pdu

    async def _ensure_connected(self, where: str) -> ModbusBaseClient:
        if self._client is not None and self._client.connected:
            return self._client
        now = self.clock.monotonic()
        if now < self._retry_at:
            reason = f" ({self._down_reason})" if self._down_reason else ""
            raise ModbusIOError(
                f"{where}: not connected{reason}, next attempt in {self._retry_at - now:.1f} s"
            )
        self._disconnect()
        client = self._new_client()
        try:
            async with asyncio.timeout(self.timeout_s + 1.0):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            _raise_if_cancelling()
            ok = False
            detail = describe(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        else:
            detail = ""
        if not ok:
            client.close()
            if not detail:  # pymodbus says only "no": find out why, in words
                detail = await self._connect_problem()
            self._connection_failed(f"cannot connect: {detail}")
            raise ModbusIOError(f"cannot connect to {self._endpoint}: {detail}")
        self._client = client
        self._generation += 1
        # the first connect at INFO; reconnects are the failure log's business ("OK again")
        log.log(
            logging.INFO if self._generation == 1 else logging.DEBUG,
            "connected to %s",
            self._endpoint,
        )
        if self.connect_delay_s > 0:
            await self.clock.sleep(self.connect_delay_s)
        return client

    def _connection_failed(self, reason: str = "connection lost") -> None:
        self._down_reason = reason
        self._disconnect()
        self._retry_at = self.clock.monotonic() + self.backoff.next_delay()

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _registers(pdu: ModbusPDU, count: int, where: str) -> list[int]:
    registers = list(pdu.registers)
    if len(registers) != count:
        raise ModbusIOError(
            f"{where}: malformed reply, {len(registers)} registers instead of {count}"
        )
    return registers


def _bits(pdu: ModbusPDU, count: int, where: str) -> list[bool]:
    bits = list(pdu.bits)
    if len(bits) < count:
        raise ModbusIOError(f"{where}: malformed reply, {len(bits)} bits instead of {count}")
    return [bool(b) for b in bits[:count]]


def _check_count(count: int, limit: int) -> None:
    if not 1 <= count <= limit:
        raise ValueError(f"count {count} outside 1..{limit}")


def client_kwargs(timeout_s: float) -> dict[str, Any]:
    """Keyword arguments every pymodbus client gets: no own retries, no own reconnect."""
    return {"timeout": timeout_s, "retries": 0, "reconnect_delay": 0, "reconnect_delay_max": 0}


class _UndecodableFrames(logging.Filter):
    """Drops asyncio's traceback for a frame that pymodbus could not decode.

    pymodbus raises from ``data_received`` when a device sends garbage; asyncio then logs a
    17-line "Fatal error: protocol.data_received() call failed" and closes the connection. The
    link reports the failure in words (the request fails as "connection lost") and the driver's
    failure log says it once, so the traceback is noise for a user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not type(error).__module__.startswith("pymodbus")


logging.getLogger("asyncio").addFilter(_UndecodableFrames())


def _raise_if_cancelling() -> None:
    """Keep a cancel a cancel.

    On Python 3.11 an ``asyncio.timeout`` that expires while the task is being cancelled can
    surface as ``TimeoutError``; turning that into a ``ModbusIOError`` would swallow the cancel
    and keep the link's worker running after shutdown.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
