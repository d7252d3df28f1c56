"""The decoding pipeline: registers (or bits) of one point -> value in the model's unit and sign.

Order of steps:

1. registers -> raw number or text (``codec.decode``: wire type, word order, byte swap);
2. sentinels -> a Bad quality and no value: the per-type "not available" patterns
   (``codec.NOT_AVAILABLE``) when ``transport.nan_sentinels``, NaN floats always (NaN is never a
   usable value), and the point's own ``sentinels`` (compared with the decoded value and with the
   unsigned raw pattern, so ``0x8000`` and ``-32768`` both match an ``s16``);
3. ``bit`` -> that bit of the unsigned raw pattern;
4. ``true_values`` -> bool, ``enum`` -> model enum value (an unmapped raw value is Bad);
5. numbers: ``(raw * scale + offset) * sign`` - the model's unit and sign convention - rounded to
   12 significant digits (so ``2305 * 0.1`` is ``230.5``), integers for integer-typed points.

A point with ``add_addresses`` (``decode_parts``) decodes every part through these steps and adds
the model values: a part that is "not available" counts as 0, and only when every part is, the
point is (with the first part's quality).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    if isinstance(value, float) and math.isnan(value):
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
