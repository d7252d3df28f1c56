"""A plain Modbus TCP server for the evidence tests, and the few helpers they share.

The server answers from dicts of ``{address: word}`` per unit id and table; nothing in it knows a
profile. Values are put into registers with ``words()`` below, which packs them with ``struct``
as the independent source describes (type, word order), not with the project's codec, so a codec
or profile error cannot cancel itself out.

Addresses are 0-based protocol addresses. A unit without a ``fill`` answers "illegal data address"
(exception 2) for every address it does not hold, as SMA devices do; with ``fill`` it answers that
word, like a meter that implements its whole block. A unit id that is not served gets no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ampacity.assets import Quality, Reading
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer

_FORMATS = {
    "u16": ">H",
    "s16": ">h",
    "u32": ">I",
    "s32": ">i",
    "u64": ">Q",
    "s64": ">q",
    "f32": ">f",
    "f64": ">d",
}


def words(value: float | int, wire_type: str, word_order: str = "big") -> list[int]:
    """``value`` packed big-endian as ``wire_type`` and cut into 16-bit words.

    ``word_order="little"`` puts the low word first (the "CDAB" layout).
    """
    fmt = _FORMATS[wire_type]
    if fmt[-1] in "fd":
        data = struct.pack(fmt, float(value))
    else:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value} is not a whole raw value for {wire_type}")
        data = struct.pack(fmt, int(value))
    out = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return out[::-1] if word_order == "little" else out


def text_words(text: str, count: int) -> list[int]:
    """ASCII text in ``count`` registers, two characters a register, padded with NUL."""
    data = text.encode("ascii").ljust(count * 2, b"\0")
    if len(data) > count * 2:
        raise ValueError(f"{text!r} does not fit {count} registers")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, count * 2, 2)]


def hex_words(text: str) -> list[int]:
    """Register words from a hex byte dump such as ``"45 5a f4 cd"``."""
    data = bytes.fromhex(text)
    if len(data) % 2:
        raise ValueError(f"odd number of bytes in {text!r}")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@dataclass
class PlainUnit:
    """The register tables of one unit id."""

    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    coils: dict[int, int] = field(default_factory=dict)
    fill: int | None = None
    """Word answered for addresses not in the table; ``None`` = exception 2."""

    def table(self, name: str) -> dict[int, int]:
        if name == "holding":
            return self.holding
        if name == "input":
            return self.input
        if name == "coils":
            return self.coils
        raise ValueError(f"no register table {name!r}")

    def put(self, address: int, values: Iterable[int], table: str = "holding") -> None:
        target = self.table(table)
        for i, word in enumerate(values):
            if not 0 <= word <= 0xFFFF:
                raise ValueError(f"word {word} at {address + i} is not 16 bits")
            target[address + i] = word

    def get(self, address: int, count: int, table: str = "holding") -> list[int]:
        source = self.table(table)
        return [source[address + i] for i in range(count)]


@dataclass(frozen=True)
class Write:
    unit_id: int
    function: int
    address: int
    values: tuple[int, ...]


_TABLE_OF_FUNCTION = {
    1: "coils",
    3: "holding",
    4: "input",
    5: "coils",
    6: "holding",
    15: "coils",
    16: "holding",
}


class _PlainContext(ModbusServerContext):
    """The datastore the pymodbus server calls; answers from the server's ``PlainUnit`` dicts."""

    def __init__(self, server: PlainModbusServer) -> None:  # the base needs no devices here
        self.server = server
        self.old_simulator = True
        self.simdevices = []

    def _unit(self, device_id: int) -> PlainUnit:
        unit = self.server.units.get(device_id)
        if unit is None:
            raise NoSuchIdException(f"unit {device_id} is not served")
        return unit

    async def async_getValues(self, device_id: Any, func_code: Any, address: Any, count: Any = 1):
        unit = self._unit(device_id)
        name = _TABLE_OF_FUNCTION.get(func_code)
        if name is None:
            return ExcCodes.ILLEGAL_FUNCTION
        table = unit.table(name)
        out = []
        for a in range(address, address + count):
            if a in table:
                out.append(table[a])
            elif unit.fill is not None:
                out.append(unit.fill)
            else:
                return ExcCodes.ILLEGAL_ADDRESS
        return out

    async def async_setValues(self, device_id: Any, func_code: Any, address: Any, values: Any):
        unit = self._unit(device_id)
        if func_code in (5, 15):  # coils: recorded as 1 / 0
            bits = tuple(1 if v else 0 for v in values)
            self.server.writes.append(Write(device_id, func_code, address, bits))
            unit.put(address, bits, "coils")
            return None
        if func_code not in (6, 16):
            return ExcCodes.ILLEGAL_FUNCTION
        span = range(address, address + len(values))
        if unit.fill is None and any(a not in unit.holding for a in span):
            return ExcCodes.ILLEGAL_ADDRESS
        self.server.writes.append(Write(device_id, func_code, address, tuple(values)))
        unit.put(address, values)
        return None

    def device_ids(self) -> list[int]:
        return list(self.server.units)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PlainModbusServer:
    """A Modbus TCP server on 127.0.0.1 that serves ``units`` as they are."""

    def __init__(self, units: Mapping[int, PlainUnit]) -> None:
        self.units = dict(units)
        self.port = free_port()
        self.writes: list[Write] = []
        self._server: ModbusTcpServer | None = None

    async def __aenter__(self) -> PlainModbusServer:
        self._server = ModbusTcpServer(
            _PlainContext(self), address=("127.0.0.1", self.port), ignore_missing_devices=True
        )
        await self._server.serve_forever(background=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
            await asyncio.sleep(0.01)


class Collector:
    """A reading sink keeping the newest reading per ``asset.point``."""

    def __init__(self) -> None:
        self.latest: dict[str, Reading] = {}

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.latest[reading.node_key] = reading

    def _good(self, key: str) -> bool:
        reading = self.latest.get(key)
        return reading is not None and reading.quality is Quality.GOOD

    async def wait_good(self, keys: Iterable[str], timeout_s: float = 10.0) -> dict[str, Reading]:
        """The newest readings of ``keys`` once each has been read with quality Good."""
        wanted = set(keys)
        deadline = time.monotonic() + timeout_s
        while True:
            missing = {k for k in wanted if not self._good(k)}
            if not missing:
                return {k: self.latest[k] for k in wanted}
            if time.monotonic() > deadline:
                seen = {k: self.latest.get(k) for k in sorted(missing)}
                raise AssertionError(f"not read Good within {timeout_s} s: {seen}")
            await asyncio.sleep(0.02)

    async def wait_for(self, key: str, timeout_s: float = 10.0) -> Reading:
        """The newest reading of ``key`` once there is one."""
        deadline = time.monotonic() + timeout_s
        while key not in self.latest:
            if time.monotonic() > deadline:
                raise AssertionError(f"no reading of {key} within {timeout_s} s")
            await asyncio.sleep(0.02)
        return self.latest[key]


@contextlib.asynccontextmanager
async def running(driver: Any) -> AsyncIterator[Collector]:
    """Run ``driver.run(sink)`` in a task for the block; cancel it afterwards."""
    sink = Collector()
    task = asyncio.create_task(driver.run(sink))
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
