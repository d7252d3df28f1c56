"""The decoding pipeline: registers (or bits) of one point -> value in the model's unit and sign.

Order of steps:

1. registers -> raw number or text (``codec.decode``: wire type, word order, byte swap);
2. sentinels -> a Bad quality and no value: the per-type "not available" patterns
   (``codec.NOT_AVAILABLE``) when ``transport.nan_sentinels``, NaN and infinite floats always
   (neither is a usable value), and the point's own ``sentinels`` (compared with the decoded
   value and with the unsigned raw pattern, so ``0x8000`` and ``-32768`` both match an ``s16``);
3. ``bit`` -> that bit of the unsigned raw pattern;
4. ``true_values`` -> bool, ``enum`` -> model enum value (an unmapped raw value is Bad);
5. numbers: ``(raw * scale + offset) * sign`` - the model's unit and sign convention - rounded to
   12 significant digits (so ``2305 * 0.1`` is ``230.5``), integers for integer-typed points; a
   result beyond the float range is Bad.

A point with ``add_addresses`` (``decode_parts``) decodes every part through these steps and adds
the model values: a part that is "not available" counts as 0, and only when every part is, the
point is (with the first part's quality).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ampacity.assets import DataType, PointSpec, PointValue, Quality
from ampacity.drivers.codec import NOT_AVAILABLE, CodecError, WireType, decode, raw_bits
from ampacity.drivers.profile import PointMap, SentinelQuality, Transport

SENTINEL_QUALITY = {
    SentinelQuality.OUT_OF_RANGE: Quality.BAD_OUT_OF_RANGE,
    SentinelQuality.SENSOR_FAILURE: Quality.BAD_SENSOR_FAILURE,
}


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded value (``None`` when the quality is Bad) and its quality."""

    value: PointValue
    quality: Quality


def word_order(point: PointMap, transport: Transport) -> str:
    """The point's word order, else the profile's."""
    return point.word_order or transport.word_order


def decode_point(
    point: PointMap,
    spec: PointSpec,
    data: Sequence[int] | Sequence[bool],
    transport: Transport,
    *,
    bit_function: bool = False,
) -> Decoded:
    """Decode one point from the registers (or bits) read for it.

    Args:
        point: the profile's mapping of the point.
        spec: the model's point (unit, data type) it maps onto.
        data: exactly the point's registers, or its one bit for coils / discrete inputs.
        transport: the profile's transport defaults (word order, byte swap, sentinels).
        bit_function: ``data`` comes from a coil or discrete input.

    Raises:
        CodecError: the registers cannot be decoded as the profile says.
    """
    value: int | float | str
    pattern: int | None
    if bit_function:
        value = pattern = int(bool(data[0]))
    else:
        words = [int(w) for w in data]
        order = word_order(point, transport)
        value = decode(words, point.type, order, transport.byte_swap)
        pattern = (
            None
            if point.type in (WireType.STRING, WireType.BOOL)
            else raw_bits(words, order, transport.byte_swap)
        )
        bad = _sentinel(point, value, pattern, transport)
        if bad is not None:
            return Decoded(None, bad)
        if point.bit is not None and pattern is not None:
            value = pattern = (pattern >> point.bit) & 1
    return _to_model(point, spec, value, pattern)


FastDecoder = Callable[[Sequence[int]], Decoded]
"""A point's registers -> its decoded value, compiled once (``compile_decoder``)."""

_FAST_TYPES: dict[WireType, tuple[str, str]] = {
    WireType.U16: ("H", "H"),
    WireType.S16: ("h", "H"),
    WireType.U32: ("I", "I"),
    WireType.S32: ("i", "I"),
    WireType.U64: ("Q", "Q"),
    WireType.S64: ("q", "Q"),
    WireType.F32: ("f", "I"),
    WireType.F64: ("d", "Q"),
}
"""Wire type -> (struct code of the value, struct code of its unsigned raw pattern)."""

_NUMERIC_SPECS = (DataType.DOUBLE, DataType.INT32, DataType.UINT32)


def compile_decoder(point: PointMap, spec: PointSpec, transport: Transport) -> FastDecoder | None:
    """The decoding steps of ``decode_point`` for one plain numeric point, compiled once.

    A point polled every second is decoded millions of times a day; this does the same steps
    (value, NaN and sentinels, ``(raw * scale + offset) * sign``, 12 significant digits, integer
    points rounded) with precompiled structs instead of generic dispatch. Returns ``None`` for
    what it does not cover (texts, bits, booleans, enums, byte-swapped words): those take
    ``decode_point``. Both give the same result for every register value (tested).
    """
    codes = _FAST_TYPES.get(point.type)
    if (
        codes is None
        or transport.byte_swap
        or point.bit is not None
        or point.true_values is not None
        or point.enum is not None
        or spec.data_type not in _NUMERIC_SPECS
    ):
        return None
    count = point.type.word_count
    words_struct = struct.Struct(f">{count}H")
    value_struct = struct.Struct(f">{codes[0]}")
    pattern_struct = struct.Struct(f">{codes[1]}")
    little = word_order(point, transport) == "little" and count > 1
    is_float = point.type.is_float
    sentinels = tuple((raw, SENTINEL_QUALITY[meaning]) for raw, meaning in point.sentinels.items())
    not_available = NOT_AVAILABLE.get(point.type) if transport.nan_sentinels else None
    needs_pattern = bool(sentinels) or not_available is not None
    scale, offset, sign = point.scale, point.offset, point.sign
    integer = spec.data_type in (DataType.INT32, DataType.UINT32)
    isfinite = math.isfinite

    def fast(data: Sequence[int]) -> Decoded:
        if len(data) != count:
            raise CodecError(f"{point.type.value} needs {count} registers, got {len(data)}")
        raw = words_struct.pack(*(reversed(data) if little else data))
        value = value_struct.unpack(raw)[0]
        if is_float and not isfinite(value):  # NaN and infinity are never usable values
            return Decoded(None, Quality.BAD_OUT_OF_RANGE)
        if needs_pattern:
            pattern = pattern_struct.unpack(raw)[0]
            for sentinel, quality in sentinels:
                if sentinel in (value, pattern):
                    return Decoded(None, quality)
            if not_available is not None and pattern == not_available:
                return Decoded(None, Quality.BAD_OUT_OF_RANGE)
        number = tidy((value * scale + offset) * sign)
        if not isfinite(number):  # a finite raw value scaled beyond the float range
            return Decoded(None, Quality.BAD_OUT_OF_RANGE)
        if integer:
            return Decoded(round(number), Quality.GOOD)
        return Decoded(number, Quality.GOOD)

    return fast


def decode_parts(
    point: PointMap,
    spec: PointSpec,
    parts: Sequence[Sequence[int]],
    transport: Transport,
) -> Decoded:
    """Decode a point whose value is the sum of several registers (``add_addresses``).

    Args:
        point: the profile's mapping of the point (numeric; the validator ensures it).
        spec: the model's point it maps onto.
        parts: the registers of ``address`` and of each ``add_addresses`` entry, in that order.
        transport: the profile's transport defaults.

    Raises:
        CodecError: a part cannot be decoded, or decodes to something that cannot be added.
    """
    if len(parts) == 1:
        return decode_point(point, spec, parts[0], transport)
    total: float = 0.0
    first_bad: Quality | None = None
    usable = 0
    for words in parts:
        decoded = decode_point(point, spec, words, transport)
        if decoded.value is None:
            first_bad = first_bad or decoded.quality
            continue
        if isinstance(decoded.value, bool) or not isinstance(decoded.value, int | float):
            raise CodecError(f"{decoded.value!r} cannot be added (add_addresses)")
        total += decoded.value
        usable += 1
    if usable == 0:
        return Decoded(None, first_bad or Quality.BAD_OUT_OF_RANGE)
    if spec.data_type in (DataType.INT32, DataType.UINT32):
        return Decoded(round(total), Quality.GOOD)
    return Decoded(tidy(total), Quality.GOOD)


def _sentinel(
    point: PointMap, value: int | float | str, pattern: int | None, transport: Transport
) -> Quality | None:
    if isinstance(value, float) and not math.isfinite(value):
        return Quality.BAD_OUT_OF_RANGE
    if isinstance(value, str):
        return None
    for raw, meaning in point.sentinels.items():
        if raw in (value, pattern):
            return SENTINEL_QUALITY[meaning]
    if (
        transport.nan_sentinels
        and point.bit is None
        and pattern is not None
        and NOT_AVAILABLE.get(point.type) == pattern
    ):
        return Quality.BAD_OUT_OF_RANGE
    return None


def _matches(candidate: int | str, value: int | float | str, pattern: int | None) -> bool:
    if isinstance(candidate, str):
        return candidate == (value if isinstance(value, str) else str(value))
    return candidate in (value, pattern)


def _to_model(
    point: PointMap, spec: PointSpec, value: int | float | str, pattern: int | None
) -> Decoded:
    if point.true_values is not None:
        truth = any(_matches(c, value, pattern) for c in point.true_values)
        return Decoded(truth, Quality.GOOD)
    if point.enum is not None:
        for raw, mapped in point.enum.items():
            if _matches(raw, value, pattern):
                typed = float(mapped) if spec.data_type is DataType.DOUBLE else mapped
                return Decoded(typed, Quality.GOOD)
        return Decoded(None, Quality.BAD_OUT_OF_RANGE)
    if spec.data_type is DataType.BOOLEAN:
        if isinstance(value, str):
            raise CodecError(f"text {value!r} is not a boolean; give 'true_values'")
        return Decoded(value != 0, Quality.GOOD)
    if isinstance(value, str):
        if spec.data_type is DataType.STRING:
            return Decoded(value, Quality.GOOD)
        raise CodecError(f"text {value!r} for the numeric point {spec.name}")
    number = to_model_units(point, value)
    if not math.isfinite(number):  # a finite raw value scaled beyond the float range
        return Decoded(None, Quality.BAD_OUT_OF_RANGE)
    if spec.data_type is DataType.STRING:
        text = str(int(number)) if float(number).is_integer() else str(number)
        return Decoded(text, Quality.GOOD)
    if spec.data_type in (DataType.INT32, DataType.UINT32):
        return Decoded(round(number), Quality.GOOD)
    return Decoded(float(number), Quality.GOOD)


def to_model_units(point: PointMap, raw: float) -> float:
    """``(raw * scale + offset) * sign``, rounded to 12 significant digits."""
    return tidy((raw * point.scale + point.offset) * point.sign)


def tidy(number: float) -> float:
    """Round away binary noise of scaling (12 significant digits)."""
    if not math.isfinite(number) or number == 0:
        return float(number)
    return float(f"{number:.12g}")
