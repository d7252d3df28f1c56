"""A small pymodbus server for the driver tests (test-only; the full simulator lives in ``sim/``).

Register maps are plain dicts per unit id, so a test sets and inspects registers directly.
Addresses not in a map answer "illegal data address" (exception 2); unknown unit ids and a muted
server do not answer at all (the client times out). Every request is logged with its time, and
the TCP server counts client connections.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import tty
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from ampacity.assets import Reading
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer


@dataclass
class Unit:
    """The four data tables of one unit id (address -> value)."""

    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    coils: dict[int, bool] = field(default_factory=dict)
    discrete: dict[int, bool] = field(default_factory=dict)

    def set_words(self, address: int, words: Sequence[int], table: str = "holding") -> None:
        target = self.holding if table == "holding" else self.input
        for i, word in enumerate(words):
            target[address + i] = word

    def words(self, address: int, count: int, table: str = "holding") -> list[int]:
        source = self.holding if table == "holding" else self.input
        return [source[address + i] for i in range(count)]


@dataclass(frozen=True)
class Request:
    unit_id: int
    function: int
    address: int
    count: int
    at: float


_TABLES = {
    1: "coils",
    2: "discrete",
    3: "holding",
    4: "input",
    5: "coils",
    6: "holding",
    15: "coils",
    16: "holding",
}


class _Context(ModbusServerContext):
    """Duck-typed datastore: pymodbus' server calls only the methods below."""

    def __init__(self, owner: TestServer) -> None:  # no super().__init__: no SimDevice needed
        self.owner = owner
        self.old_simulator = True
        self.simdevices = []

    def _table(self, device_id: int, func_code: int) -> dict:
        if self.owner.muted or device_id not in self.owner.units:
            raise NoSuchIdException(f"unit {device_id} does not answer")
        return getattr(self.owner.units[device_id], _TABLES[func_code])

    async def async_getValues(self, device_id, func_code, address, count=1):
        table = self._table(device_id, func_code)
        if func_code in (1, 2, 3, 4):
            self.owner.requests.append(
                Request(device_id, func_code, address, count, time.monotonic())
            )
        if any(address + i not in table for i in range(count)):
            return ExcCodes.ILLEGAL_ADDRESS
        return [table[address + i] for i in range(count)]

    async def async_setValues(self, device_id, func_code, address, values):
        table = self._table(device_id, func_code)
        self.owner.requests.append(
            Request(device_id, func_code, address, len(values), time.monotonic())
        )
        if any(address + i not in table for i in range(len(values))):
            return ExcCodes.ILLEGAL_ADDRESS
        for i, value in enumerate(values):
            table[address + i] = value
        return None

    def device_ids(self):
        return list(self.owner.units)


class Sink:
    """A ``ReadingSink`` that keeps everything published."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.published_at: list[float] = []
        """``time.monotonic()`` of each reading's publication, parallel to ``readings``."""

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)
        self.published_at.extend([time.monotonic()] * len(readings))

    def timed(self, asset_id: str, point: str) -> list[tuple[float, Reading]]:
        return [
            (t, r)
            for t, r in zip(self.published_at, self.readings, strict=True)
            if r.asset_id == asset_id and r.point == point
        ]

    def history(self, asset_id: str, point: str) -> list[Reading]:
        return [r for r in self.readings if r.asset_id == asset_id and r.point == point]

    def latest(self, asset_id: str, point: str) -> Reading | None:
        found = self.history(asset_id, point)
        return found[-1] if found else None

    async def wait_for(
        self,
        asset_id: str,
        point: str,
        check: Callable[[Reading], bool],
        within: float = 2.0,
    ) -> Reading:
        """The first reading (old or new) of the point that passes ``check``."""
        deadline = time.monotonic() + within
        seen = 0
        while True:
            found = self.history(asset_id, point)
            for reading in found[seen:]:
                if check(reading):
                    return reading
            seen = len(found)
            if time.monotonic() > deadline:
                last = self.latest(asset_id, point)
                raise AssertionError(f"no matching reading of {asset_id}.{point}; last: {last}")
            await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestServer:
    """A Modbus TCP (or, with ``serial_port``, RTU) server with dict register maps."""

    __test__ = False  # not a pytest test class

    def __init__(self, units: dict[int, Unit], port: int | None = None) -> None:
        self.units = units
        self.port = port or free_port()
        self.requests: list[Request] = []
        self.connections = 0
        self.open_connections = 0
        self.muted = False
        self._server: ModbusTcpServer | ModbusSerialServer | None = None

    def _on_connect(self, connected: bool) -> None:
        if connected:
            self.connections += 1
            self.open_connections += 1
        else:
            self.open_connections -= 1

    async def start(self) -> TestServer:
        self._server = ModbusTcpServer(
            _Context(self),
            address=("127.0.0.1", self.port),
            ignore_missing_devices=True,
            trace_connect=self._on_connect,
        )
        await self._server.serve_forever(background=True)
        return self

    async def start_serial(self, device: str, baudrate: int = 19200) -> TestServer:
        self._server = ModbusSerialServer(
            _Context(self), port=device, baudrate=baudrate, ignore_missing_devices=True
        )
        await self._server.serve_forever(background=True)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
            await asyncio.sleep(0.01)

    def reads(self, unit_id: int | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.function in (1, 2, 3, 4) and (unit_id is None or r.unit_id == unit_id)
        ]


class PtyBridge:
    """Two pseudo-terminals joined back to back: a null-modem cable without socat.

    ``a`` and ``b`` are the device paths of the two ends; bytes written to one arrive at the other.
    """

    def __init__(self) -> None:
        self._m1, s1 = os.openpty()
        self._m2, s2 = os.openpty()
        for fd in (self._m1, self._m2, s1, s2):
            tty.setraw(fd)
        self.a = os.ttyname(s1)
        self.b = os.ttyname(s2)
        self._slaves = (s1, s2)  # kept open so the ends stay alive between opens
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> PtyBridge:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._m1, self._copy, self._m1, self._m2)
        self._loop.add_reader(self._m2, self._copy, self._m2, self._m1)
        return self

    @staticmethod
    def _copy(src: int, dst: int) -> None:
        with suppress(OSError):
            os.write(dst, os.read(src, 4096))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._m1)
            self._loop.remove_reader(self._m2)
        for fd in (self._m1, self._m2, *self._slaves):
            with suppress(OSError):
                os.close(fd)
