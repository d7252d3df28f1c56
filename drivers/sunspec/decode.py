"""Decoding a model instance's registers into values, with scale factors and sentinels.

SunSpec "not implemented" patterns (SunSpec Information Model Specification; the same list as the
fact sheet's §0): int16 ``0x8000``, uint16/enum16/bitfield16/count ``0xFFFF``, int32 ``0x80000000``,
uint32/enum32/bitfield32 ``0xFFFFFFFF``, int64 ``0x8000000000000000``, uint64 ``0xFFFF...``,
acc16/acc32/acc64 ``0`` (not accumulated), float32/64 NaN, sunssf ``0x8000``, an all-NUL string.
Such a value, or a value whose scale factor is not implemented, decodes to ``None`` with
``Quality.BAD_OUT_OF_RANGE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ampacity.assets import Quality
from ampacity.drivers.codec import NOT_AVAILABLE, WireType, decode, raw_bits

from .models import PointDef

_ACCUMULATORS = ("acc16", "acc32", "acc64")


@dataclass(frozen=True, slots=True)
class Value:
    """A decoded point: ``value`` in the model's unit after the scale factor, or ``None``."""

    value: float | int | str | None
    quality: Quality

    @property
    def ok(self) -> bool:
        return self.quality is Quality.GOOD and self.value is not None


MISSING = Value(None, Quality.BAD_OUT_OF_RANGE)


def is_not_implemented(point: PointDef, words: list[int]) -> bool:
    """``words`` hold the point's "not implemented" pattern."""
    wire = point.wire_type
    if point.type in _ACCUMULATORS:
        return raw_bits(words) == 0
    if wire is WireType.STRING:
        return all(w == 0 for w in words)
    if wire.is_float:
        value = decode(words, wire)
        return isinstance(value, float) and not math.isfinite(value)
    if point.type == "pad":
        return False
    return raw_bits(words) == NOT_AVAILABLE.get(wire, -1)


def raw_value(point: PointDef, words: list[int]) -> int | float | str | None:
    """The point's value before scaling, or ``None`` when not implemented."""
    if is_not_implemented(point, words):
        return None
    return decode(words, point.wire_type)


def scale(raw: int, sf: int) -> float:
    """``raw × 10^sf``; divides for negative exponents so 2342 × 10^-1 gives exactly 234.2."""
    return raw / 10**-sf if sf < 0 else float(raw * 10**sf)


class ModelBlock:
    """The registers of one model instance and lazy decoding of its points.

    Args:
        layout: the instance's points (``ModelDef.layout``).
        words: registers from the ``ID`` register on (at least up to the last point needed).
    """

    def __init__(self, layout: dict[str, PointDef], words: list[int]) -> None:
        self.layout = layout
        self.words = words

    def has(self, name: str) -> bool:
        point = self.layout.get(name)
        return point is not None and point.offset + point.size <= len(self.words)

    def raw(self, name: str) -> int | float | str | None:
        """The unscaled value, ``None`` if absent or not implemented."""
        if not self.has(name):
            return None
        point = self.layout[name]
        return raw_value(point, self.words[point.offset : point.offset + point.size])

    def scale_factor(self, point: PointDef) -> int | None:
        """The exponent the point is scaled with (0 without one), ``None`` if not implemented."""
        if point.sf is None:
            return 0
        try:
            return int(point.sf)
        except ValueError:
            pass
        sf_name = point.sf
        if "." in point.name and f"{point.name.split('.')[0]}.{sf_name}" in self.layout:
            sf_name = f"{point.name.split('.')[0]}.{sf_name}"
        sf = self.raw(sf_name)
        if not isinstance(sf, int) or not -10 <= sf <= 10:
            return None
        return sf

    def get(self, name: str) -> Value:
        """The point in its SunSpec unit (``W``, ``Wh``, ``%`` ...), scale factor applied."""
        if not self.has(name):
            return MISSING
        point = self.layout[name]
        raw = self.raw(name)
        if raw is None:
            return MISSING
        if isinstance(raw, str):
            return Value(raw, Quality.GOOD)
        if point.type in ("enum16", "enum32", "bitfield16", "bitfield32", "count"):
            return Value(int(raw), Quality.GOOD)
        sf = self.scale_factor(point)
        if sf is None:
            return MISSING
        if isinstance(raw, float):
            return Value(raw, Quality.GOOD)
        return Value(scale(raw, sf), Quality.GOOD)
