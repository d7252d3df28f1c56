"""RCT Power's serial protocol over TCP: frames, byte stuffing and the checksum.

A frame on the wire::

    0x2B | command (1) | length (1; long commands: 2) | object id (4, big-endian) | data | CRC (2)

* ``length`` counts the object id and the data (not the command, the length or the CRC).
* Every ``0x2B`` (start) or ``0x2D`` (escape) byte after the start byte is sent as ``0x2D``
  followed by the byte; lengths and the CRC are computed over the unescaped bytes.
* The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF) over command, length,
  object id and data, with one ``0x00`` appended when that is an odd number of bytes; it is sent
  high byte first (and escaped like every other byte).
* Commands: 0x01 read, 0x02 write, 0x03 long write, 0x05 response, 0x06 long response, 0x08
  read periodically, 0x3C extension; ``| 0x40`` are the "plant" variants with a 4-byte address
  before the object id, which this module does not decode (it skips them).

Values are big-endian: most measurements IEEE-754 float32, enumerations and booleans one byte,
status words int32, texts NUL-terminated.
"""

from __future__ import annotations

import binascii
import math
import struct
from dataclasses import dataclass
from enum import IntEnum

START = 0x2B
ESCAPE = 0x2D
PLANT = 0x40
MAX_FRAME_DATA = 1024
"""Longest data this decoder accepts in one frame (the longest known answers are a few hundred
bytes); a longer length field means garbage, and the decoder resynchronises."""


class Command(IntEnum):
    READ = 0x01
    WRITE = 0x02
    LONG_WRITE = 0x03
    RESPONSE = 0x05
    LONG_RESPONSE = 0x06
    READ_PERIODICALLY = 0x08
    EXTENSION = 0x3C


LONG_COMMANDS = frozenset({Command.LONG_WRITE, Command.LONG_RESPONSE})


class FrameError(ValueError):
    """A frame that cannot be used; the message says why and where."""


class CrcMismatch(FrameError):
    """A complete frame whose checksum does not match its bytes."""

    def __init__(self, command: int, oid: int, received: int, computed: int) -> None:
        super().__init__(
            f"frame for object 0x{oid:08X} (command 0x{command:02X}) has CRC 0x{received:04X}, "
            f"its bytes give 0x{computed:04X}: dropped"
        )
        self.command = command
        self.oid = oid
        self.received = received
        self.computed = computed


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: command, object id and data (unescaped, without the CRC)."""

    command: int
    oid: int
    data: bytes = b""


def crc16(body: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``body``, zero-padded to an even length."""
    if len(body) % 2:
        body += b"\x00"
    return binascii.crc_hqx(body, 0xFFFF)


def _stuff(body: bytes) -> bytes:
    out = bytearray()
    for byte in body:
        if byte in (START, ESCAPE):
            out.append(ESCAPE)
        out.append(byte)
    return bytes(out)


def encode(command: Command, oid: int, data: bytes = b"") -> bytes:
    """The bytes on the wire for one standard (non-plant) frame.

    Raises:
        ValueError: data too long for the command's length field.
    """
    length = 4 + len(data)
    if command in LONG_COMMANDS:
        if length > 0xFFFF:
            raise ValueError(f"{length} bytes do not fit a long frame")
        header = struct.pack(">BH", command, length)
    else:
        if length > 0xFF:
            raise ValueError(f"{length} bytes need a long command")
        header = struct.pack(">BB", command, length)
    body = header + struct.pack(">I", oid) + data
    return bytes([START]) + _stuff(body + struct.pack(">H", crc16(body)))


def read_request(oid: int) -> bytes:
    return encode(Command.READ, oid)


def write_request(oid: int, data: bytes) -> bytes:
    return encode(Command.WRITE if len(data) <= 251 else Command.LONG_WRITE, oid, data)


class FrameReader:
    """Turns a byte stream into frames; survives garbage, truncated frames and bad checksums.

    ``feed`` returns, in stream order, every complete frame (``Frame``) and every frame that was
    dropped (``FrameError``: bad CRC, impossible length, a frame cut short by the next start
    byte). Bytes before a start byte are skipped.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        self._buffer += data
        out: list[Frame | FrameError] = []
        while True:
            start = self._buffer.find(START)
            if start < 0:
                self._buffer.clear()
                return out
            del self._buffer[:start]
            result, used = self._parse()
            if result is None:
                return out  # incomplete: wait for more bytes
            out.append(result)
            del self._buffer[:used]

    def _parse(self) -> tuple[Frame | FrameError | None, int]:
        """One frame from the buffer start (a start byte): (frame or error, bytes used), or
        (None, 0) when more bytes are needed."""
        buf = self._buffer
        body = bytearray()
        i = 1

        def take(count: int) -> bool | FrameError:
            nonlocal i
            while count:
                if i >= len(buf):
                    return False
                byte = buf[i]
                if byte == START:
                    return FrameError(f"frame cut short after {len(body)} bytes by a new start")
                if byte == ESCAPE:
                    if i + 1 >= len(buf):
                        return False
                    byte = buf[i + 1]
                    i += 1
                body.append(byte)
                i += 1
                count -= 1
            return True

        got = take(1)
        if got is not True:
            return (got if isinstance(got, FrameError) else None), i
        command = body[0]
        if command & PLANT and command & ~PLANT in {c.value for c in Command}:
            return FrameError(f"plant frame (command 0x{command:02X}) not supported: skipped"), i
        try:
            kind = Command(command)
        except ValueError:
            return FrameError(f"unknown command 0x{command:02X}: skipped to the next frame"), i
        got = take(2 if kind in LONG_COMMANDS else 1)
        if got is not True:
            return (got if isinstance(got, FrameError) else None), i
        length = int.from_bytes(body[1:], "big")
        if not 4 <= length <= MAX_FRAME_DATA + 4:
            return FrameError(f"impossible length {length} (command 0x{command:02X})"), i
        header_len = len(body)
        got = take(length + 2)
        if got is not True:
            return (got if isinstance(got, FrameError) else None), i
        payload = bytes(body[: header_len + length])
        received = int.from_bytes(body[-2:], "big")
        oid = int.from_bytes(payload[header_len : header_len + 4], "big")
        computed = crc16(payload)
        if received != computed:
            return CrcMismatch(command, oid, received, computed), i
        return Frame(command, oid, payload[header_len + 4 :]), i


# --- values --------------------------------------------------------------------------------------


class ValueType(IntEnum):
    FLOAT = 1
    UINT8 = 2
    BOOL = 3
    INT32 = 4
    UINT32 = 5
    STRING = 6


_STRUCT = {
    ValueType.FLOAT: ">f",
    ValueType.UINT8: ">B",
    ValueType.BOOL: ">B",
    ValueType.INT32: ">i",
    ValueType.UINT32: ">I",
}


def decode_value(kind: ValueType, data: bytes) -> float | int | bool | str:
    """A response's data as a Python value.

    Raises:
        FrameError: the data has the wrong size for the type.
    """
    if kind is ValueType.STRING:
        return data.split(b"\x00", 1)[0].decode("latin-1").strip()
    fmt = _STRUCT[kind]
    if len(data) != struct.calcsize(fmt):
        raise FrameError(f"{len(data)} data bytes where a {kind.name} has {struct.calcsize(fmt)}")
    (value,) = struct.unpack(fmt, data)
    if kind is ValueType.BOOL:
        return bool(value)
    if kind is ValueType.FLOAT:
        return float(value)
    return int(value)


def encode_value(kind: ValueType, value: float | int | bool | str) -> bytes:
    """A value as a write request's data.

    Raises:
        ValueError: a value the type cannot carry (NaN, out of range, text for a number).
    """
    if kind is ValueType.STRING:
        return str(value).encode("latin-1") + b"\x00"
    if isinstance(value, str):
        raise ValueError(f"text {value!r} for a {kind.name}")
    if kind is ValueType.FLOAT and not math.isfinite(float(value)):
        raise ValueError(f"{value!r} is not a finite number")
    number: float | int = float(value) if kind is ValueType.FLOAT else int(value)
    try:
        return struct.pack(_STRUCT[kind], number)
    except struct.error as exc:
        raise ValueError(f"{value!r} does not fit a {kind.name}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class CellExtreme:
    """One entry of a battery module's cell statistics (``battery.cells_stat[n]``).

    Attributes:
        kind: ``u_min``, ``u_max`` (V) or ``t_min``, ``t_max`` (°C).
        cell: the cell's index in the module.
        timestamp: when the extreme occurred (Unix seconds, the device's clock).
        value: the extreme value.
    """

    kind: str
    cell: int
    timestamp: int
    value: float


CELL_STATISTICS = ("u_min", "u_max", "t_min", "t_max")


def decode_cell_statistics(data: bytes) -> tuple[CellExtreme, ...]:
    """A ``battery.cells_stat[n]`` answer: four (cell index, time, value) entries, each
    little-endian u32, u32, float32 (unlike the big-endian single values).

    Raises:
        FrameError: the data is not 4 x 12 bytes.
    """
    if len(data) != 48:
        raise FrameError(f"{len(data)} data bytes where cell statistics have 48")
    return tuple(
        CellExtreme(kind, *struct.unpack_from("<IIf", data, 12 * i))
        for i, kind in enumerate(CELL_STATISTICS)
    )
