"""The request path shared by the TCP and RTU links.

A ``QueuedLink`` owns one pymodbus client (one TCP connection or one serial port). Every request
of every user waits its turn on the link's lock (first come, first served), so exactly one
request is in flight at a time, whatever the number of drivers or unit ids behind it; the request
runs in its caller's task, with no worker or hand-over in between. The link connects on demand
and, after a failure, reconnects no earlier than the ``Backoff`` allows: requests that arrive in
between fail at once with a located ``ModbusIOError`` instead of waiting, so a dead device costs
its drivers nothing but an error, and never blocks anyone for longer than one timeout.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from ampacity.drivers.runtime.backoff import SYSTEM_CLOCK, Backoff, Clock
from ampacity.drivers.runtime.errors import describe
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, ReadDiscreteInputsRequest
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

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

MAX_READ_REGISTERS = 125
"""Largest register count of one FC3/FC4 request (protocol limit)."""
MAX_READ_BITS = 2000
"""Largest bit count of one FC1/FC2 request (protocol limit)."""
MAX_KEPT_REQUESTS = 1024
"""Most read requests a link keeps for reuse (a poll reads the same blocks again and again)."""

Call = Callable[[ModbusBaseClient], Awaitable[ModbusPDU]]
"""A request other than a plain read (writes): what to ask the client."""
Op = tuple[int, str, int, int]
"""What a request does, for messages: (unit id, function in words, address, count)."""

_READS: dict[str, type[ModbusPDU]] = {
    "read holding registers (FC3)": ReadHoldingRegistersRequest,
    "read input registers (FC4)": ReadInputRegistersRequest,
    "read coils (FC1)": ReadCoilsRequest,
    "read discrete inputs (FC2)": ReadDiscreteInputsRequest,
}
"""The pymodbus request of each read function, by its name in messages."""


class QueuedLink(ABC):
    """A ``ModbusLink`` whose requests take turns, one in flight at a time.

    Args:
        endpoint: where it goes, for messages (``host:port`` or the serial device).
        timeout_s: the answer timeout of every request, and the connect timeout, seconds.
        backoff: pacing of reconnect attempts.
        clock: time source (monotonic deadlines and sleeps).
        inter_frame_gap_s: least pause after a request before the next one goes out, seconds
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
        self._lock = asyncio.Lock()
        """Held by the request in flight; the others wait on it in the order they came."""
        self._client: ModbusBaseClient | None = None
        self._retry_at = 0.0
        self._last_error = ""
        self._down_reason = ""
        self._generation = 0
        self._closed = False
        self._quiet_until = 0.0
        """Monotonic time (``clock``) before which the next request must not go out, s."""
        self._reads: dict[tuple[str, int, int, int], ModbusPDU] = {}
        """Read requests by (function, unit id, address, count), sent again on every poll."""
        self._in_flight: asyncio.Task[Any] | None = None
        """The task whose request is on the wire (or waiting for its connection)."""
        self._in_flight_since = 0.0
        """Event-loop time at which that request started, s."""
        self._interrupted: str | None = None
        """Why the link cancelled the request in flight: ``"closed"`` or ``"hung"``."""
        self._cancels_before = 0
        """Cancel requests its task had pending when the request in flight started."""
        self._hang_check: asyncio.TimerHandle | None = None

    # --- ModbusLink --------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._endpoint

    async def read_holding_registers(self, unit_id: int, address: int, count: int) -> list[int]:
        op = (unit_id, "read holding registers (FC3)", address, count)
        return _registers(await self._submit(op, self._read(op, MAX_READ_REGISTERS)), op, self)

    async def read_input_registers(self, unit_id: int, address: int, count: int) -> list[int]:
        op = (unit_id, "read input registers (FC4)", address, count)
        return _registers(await self._submit(op, self._read(op, MAX_READ_REGISTERS)), op, self)

    async def read_coils(self, unit_id: int, address: int, count: int) -> list[bool]:
        op = (unit_id, "read coils (FC1)", address, count)
        return _bits(await self._submit(op, self._read(op, MAX_READ_BITS)), op, self)

    async def read_discrete_inputs(self, unit_id: int, address: int, count: int) -> list[bool]:
        op = (unit_id, "read discrete inputs (FC2)", address, count)
        return _bits(await self._submit(op, self._read(op, MAX_READ_BITS)), op, self)

    async def write_registers(self, unit_id: int, address: int, values: list[int]) -> None:
        words = list(values)
        await self._submit(
            (unit_id, "write registers (FC16)", address, len(words)),
            lambda c: c.write_registers(address, words, device_id=unit_id),
        )

    async def write_register(self, unit_id: int, address: int, value: int) -> None:
        await self._submit(
            (unit_id, "write register (FC6)", address, 1),
            lambda c: c.write_register(address, value, device_id=unit_id),
        )

    async def write_coil(self, unit_id: int, address: int, value: bool) -> None:
        await self._submit(
            (unit_id, "write coil (FC5)", address, 1),
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
        """Fail the request in flight and those waiting, close the connection.

        Never waits for a request: the one in flight is cancelled and its caller hears "link
        closed", even from a library call that keeps the cancel and answers instead.
        """
        self._closed = True
        self._interrupt("closed")
        if self._hang_check is not None:
            self._hang_check.cancel()
            self._hang_check = None
        self._disconnect()

    # --- subclass hooks ----------------------------------------------------------------------

    @abstractmethod
    def _new_client(self) -> ModbusBaseClient:
        """A fresh, unconnected pymodbus client with retries=0 and no own reconnect."""

    async def _connect_problem(self) -> str:
        """Why the last connect failed, in words (the client only reports that it did)."""
        return "refused or unreachable"

    # --- the request path --------------------------------------------------------------------

    def where(self, op: Op) -> str:
        """Where a request went and what it did, for messages."""
        unit_id, function, address, count = op
        span = f"{address}" if count == 1 else f"{address}..{address + count - 1}"
        return f"{self._endpoint} unit {unit_id} {function} address {span}"

    def _read(self, op: Op, limit: int) -> ModbusPDU:
        """The read request for ``op``, made once and sent again (one request in flight per
        link, so the one object is never in two requests at a time)."""
        unit_id, function, address, count = op
        key = (function, unit_id, address, count)
        request = self._reads.get(key)
        if request is None:
            _check_count(count, limit)
            if len(self._reads) >= MAX_KEPT_REQUESTS:
                self._reads.clear()
            request = self._reads[key] = _READS[function](
                address=address, count=count, dev_id=unit_id
            )
        return request

    async def _submit(self, op: Op, request: ModbusPDU | Call) -> ModbusPDU:
        if self._closed:
            raise ModbusIOError(f"{self.where(op)}: link closed")
        async with self._lock:
            if self._closed:
                raise ModbusIOError(f"{self.where(op)}: link closed")
            if self.inter_frame_gap_s > 0:
                pause = self._quiet_until - self.clock.monotonic()
                if pause > 0:
                    await self.clock.sleep(pause)
            task = asyncio.current_task()
            assert task is not None
            self._start(task)
            try:
                pdu = await self._execute(op, request)
            except asyncio.CancelledError:
                if (interrupted := self._interruption(task, op)) is None:
                    raise
                error: ModbusIOError = interrupted
            except ModbusIOError as exc:
                error = self._interruption(task, op) or exc
            else:
                if (interrupted := self._interruption(task, op)) is None:
                    return pdu
                error = interrupted  # the call kept the link's cancel and answered instead
            finally:
                self._in_flight = None
                if self.inter_frame_gap_s > 0:
                    self._quiet_until = self.clock.monotonic() + self.inter_frame_gap_s
            self._last_error = str(error)
            raise error

    def _start(self, task: asyncio.Task[Any]) -> None:
        """Mark the request in flight; make sure a hang check is due within the safety limit."""
        self._in_flight = task
        self._interrupted = None
        self._cancels_before = task.cancelling()
        loop = asyncio.get_running_loop()
        self._in_flight_since = loop.time()
        if self._hang_check is None:
            self._hang_check = loop.call_at(
                self._in_flight_since + self._hang_limit_s, self._check_hang
            )

    @property
    def _hang_limit_s(self) -> float:
        """Longest a request may take before the link gives it up, s: pymodbus times it out
        after ``timeout_s``; this catches a library call that never returns."""
        return self.timeout_s * 2 + 1.0

    def _check_hang(self) -> None:
        """The one timer of a busy link: gives up a request older than the safety limit, else
        comes back when the request in flight would reach it (idle: not before the next)."""
        self._hang_check = None
        if self._in_flight is None:
            return
        loop = asyncio.get_running_loop()
        due = self._in_flight_since + self._hang_limit_s
        if loop.time() >= due:
            self._interrupt("hung")
        else:
            self._hang_check = loop.call_at(due, self._check_hang)

    def _interrupt(self, why: str) -> None:
        task = self._in_flight
        if task is not None and not task.done() and self._interrupted is None:
            self._interrupted = why
            task.cancel()

    def _interruption(self, task: asyncio.Task[Any], op: Op) -> ModbusIOError | None:
        """The error for a request the link cancelled (closed, or hung), else ``None``.

        Raises:
            asyncio.CancelledError: the caller was cancelled from elsewhere too: that wins.
        """
        why, self._interrupted = self._interrupted, None
        if why is None:
            _raise_if_cancelled_since(self._cancels_before)  # a call swallowed it
            return None
        if task.uncancel() > 0:
            raise asyncio.CancelledError
        if why == "closed":
            return ModbusIOError(f"{self.where(op)}: link closed")
        # as pymodbus's own timeout would have it, had it not hung
        if self._client is None or not self._client.connected:
            self._connection_failed()
            return ModbusIOError(f"{self.where(op)}: connection lost (no answer)")
        return ModbusIOError(f"{self.where(op)}: no valid answer within {self.timeout_s:g} s")

    async def _execute(self, op: Op, request: ModbusPDU | Call) -> ModbusPDU:
        client = await self._ensure_connected(op)
        try:
            if isinstance(request, ModbusPDU):
                pdu = await client.execute(False, request)
            else:
                pdu = await request(client)
        except (TimeoutError, ModbusException) as exc:
            _raise_if_cancelled_since(self._cancels_before)
            if isinstance(exc, ConnectionException) or not client.connected:
                self._connection_failed()
                raise ModbusIOError(f"{self.where(op)}: connection lost ({exc})") from exc
            raise ModbusIOError(
                f"{self.where(op)}: no valid answer within {self.timeout_s:g} s"
            ) from exc
        except (OSError, ValueError) as exc:
            self._connection_failed()
            raise ModbusIOError(f"{self.where(op)}: {type(exc).__name__}: {exc}") from exc
        self.backoff.reset()
        if pdu is None:
            raise ModbusIOError(f"{self.where(op)}: empty reply")
        if pdu.isError():
            code = int(pdu.exception_code)
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise ModbusExceptionResponse(
                f"{self.where(op)}: Modbus exception {code} ({name})", code
            )
        return pdu

    async def _ensure_connected(self, op: Op) -> ModbusBaseClient:
        if self._client is not None and self._client.connected:
            return self._client
        now = self.clock.monotonic()
        if now < self._retry_at:
            reason = f" ({self._down_reason})" if self._down_reason else ""
            wait = self._retry_at - now
            raise ModbusIOError(
                f"{self.where(op)}: not connected{reason}, next attempt in {wait:.1f} s"
            )
        self._disconnect()
        client = self._new_client()
        try:
            async with asyncio.timeout(self.timeout_s + 1.0):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            _raise_if_cancelled_since(self._cancels_before)
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


def _registers(pdu: ModbusPDU, op: Op, link: QueuedLink) -> list[int]:
    registers = list(pdu.registers)
    if len(registers) != op[3]:
        raise ModbusIOError(
            f"{link.where(op)}: malformed reply, {len(registers)} registers instead of {op[3]}"
        )
    return registers


def _bits(pdu: ModbusPDU, op: Op, link: QueuedLink) -> list[bool]:
    bits = list(pdu.bits)
    count = op[3]
    if len(bits) < count:
        raise ModbusIOError(
            f"{link.where(op)}: malformed reply, {len(bits)} bits instead of {count}"
        )
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


def _raise_if_cancelled_since(cancels_before: int) -> None:
    """Keep a cancel that came during a request a cancel.

    On Python 3.11 a pymodbus call cancelled just as its answer or its timeout came can return
    the answer or raise ``TimeoutError`` instead (``asyncio.wait_for``); turning that into a
    result or a ``ModbusIOError`` would swallow the cancel and keep a stopped driver polling. A
    cancel from before the request (a driver's clean-up after it was cancelled, handing a device
    back) is not this request's business.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling() > cancels_before:
        raise asyncio.CancelledError
