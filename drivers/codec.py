"""Register codec: Modbus register words <-> typed values.

Shared by the drivers (decode what a device sends) and the simulator (encode what a device would
send). Word order ``big`` is the Modbus default (high word first, "ABCD"); ``little`` is the
word-swapped layout ("CDAB") some vendors use for 32/64-bit values. Byte order inside a word is
always big-endian on the wire; ``byte_swap`` exchanges the two bytes of every word ("BADC").
"""

from __future__ import annotations

import math
import struct
from enum import Enum


class WireType(Enum):
    """A value's layout in registers; the value is the name used in profiles."""

    U16 = "u16"
    S16 = "s16"
    U32 = "u32"
    S32 = "s32"
    U64 = "u64"
    S64 = "s64"
    F32 = "f32"
    F64 = "f64"
    STRING = "string"
    BOOL = "bool"
    """A coil or discrete input (one bit)."""

    @property
    def word_count(self) -> int:
        """Registers the type occupies (strings: see ``string_words``)."""
        return _WORDS[self]

    @property
    def is_float(self) -> bool:
        return self in (WireType.F32, WireType.F64)


_WORDS = {
    WireType.U16: 1,
    WireType.S16: 1,
    WireType.U32: 2,
    WireType.S32: 2,
    WireType.U64: 4,
    WireType.S64: 4,
    WireType.F32: 2,
    WireType.F64: 4,
    WireType.STRING: 1,
    WireType.BOOL: 1,
}
_STRUCT = {
    WireType.U16: ">H",
    WireType.S16: ">h",
    WireType.U32: ">I",
    WireType.S32: ">i",
    WireType.U64: ">Q",
    WireType.S64: ">q",
    WireType.F32: ">f",
    WireType.F64: ">d",
}

NOT_AVAILABLE: dict[WireType, int] = {
    WireType.U16: 0xFFFF,
    WireType.S16: 0x8000,
    WireType.U32: 0xFFFFFFFF,
    WireType.S32: 0x80000000,
    WireType.U64: 0xFFFFFFFFFFFFFFFF,
    WireType.S64: 0x8000000000000000,
}
"""The raw "not available" pattern most vendors use per integer type (SunSpec, SMA).

Compared against the *unsigned* raw bit pattern, see ``raw_bits``.
"""


class CodecError(ValueError):
    """Registers that cannot be decoded as the profile says (wrong count, bad string)."""


def _order_words(words: list[int], word_order: str, byte_swap: bool) -> list[int]:
    ordered = list(reversed(words)) if word_order == "little" else list(words)
    if byte_swap:
        ordered = [((w & 0xFF) << 8) | (w >> 8) for w in ordered]
    return ordered


def raw_bits(words: list[int], word_order: str = "big", byte_swap: bool = False) -> int:
    """The unsigned integer the registers hold, high word first after reordering."""
    value = 0
    for word in _order_words(words, word_order, byte_swap):
        value = (value << 16) | (word & 0xFFFF)
    return value


def decode(
    words: list[int],
    wire_type: WireType,
    word_order: str = "big",
    byte_swap: bool = False,
) -> int | float | str:
    """Decode registers into a number (or a string for ``STRING``).

    Raises:
        CodecError: the number of words does not fit the type.
    """
    if wire_type is WireType.STRING:
        raw = b"".join(w.to_bytes(2, "big") for w in _order_words(words, "big", byte_swap))
        return raw.split(b"\x00", 1)[0].decode("latin-1").strip()
    if wire_type is WireType.BOOL:
        return int(bool(words[0]))
    if len(words) != wire_type.word_count:
        raise CodecError(
            f"{wire_type.value} needs {wire_type.word_count} registers, got {len(words)}"
        )
    raw = b"".join(w.to_bytes(2, "big") for w in _order_words(words, word_order, byte_swap))
    value: int | float = struct.unpack(_STRUCT[wire_type], raw)[0]
    return value


def encode(
    value: float | int | str,
    wire_type: WireType,
    word_order: str = "big",
    byte_swap: bool = False,
    string_words: int = 0,
) -> list[int]:
    """Encode a number (already in raw device units) into registers.

    Integers are rounded and must fit the type. Strings are padded with NUL to ``string_words``.

    Raises:
        CodecError: the value does not fit the type.
    """
    if wire_type is WireType.STRING:
        data = str(value).encode("latin-1")[: string_words * 2].ljust(string_words * 2, b"\x00")
        words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        return _order_words(words, "big", byte_swap)
    if wire_type is WireType.BOOL:
        return [1 if value else 0]
    if isinstance(value, str):
        raise CodecError(f"cannot encode text {value!r} as {wire_type.value}")
    if wire_type.is_float:
        number: int | float = float(value)
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise CodecError(f"cannot encode {value} as {wire_type.value}")
        number = round(value)
    try:
        raw = struct.pack(_STRUCT[wire_type], number)
    except struct.error as exc:
        raise CodecError(f"{value} does not fit {wire_type.value}") from exc
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    # _order_words is its own inverse for a given (word_order, byte_swap).
    return _order_words(words, word_order, byte_swap)
