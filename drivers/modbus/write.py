"""Setpoint writes: model value -> checked, converted register words (and back for read-back).

The range is the device's (``write.min``/``write.max``), else the model's ``PointSpec.value_range``.
A value outside it raises ``OutOfRangeError`` and nothing is written, except that with
``zero_means_off`` a value in ``(0, min)`` becomes ``0`` (e.g. a charger paused) and is reported
as clamped. With ``percent_of`` the value is sent as a percentage (0..100, clamped) of another
point's last reading. Otherwise ``raw = (value * sign - offset) / write.scale`` (``sign`` and
``offset`` are the point's read mapping, so a device's "positive = charge" register receives the
model's "positive = discharge" value negated).

With ``off_steps`` a value of 0 writes those registers instead of the setpoint (a device that
pauses through a separate enable register); with ``enable_coil`` 0 switches that coil off and
any other value is written and then switches it on.

``before`` steps marked ``once`` are part of ``PreparedWrite.segments`` (the first write after a
connection) but not of ``PreparedWrite.repeat_segments`` (every later write and refresh); the
driver chooses. Either way contiguous registers go out in one FC16 request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from ampacity.assets import DataType, OutOfRangeError, PointSpec, PointValue, WriteError
from ampacity.drivers.codec import CodecError, WireType, decode, encode
from ampacity.drivers.profile import PointMap, Transport, WriteSpec

from .decode import tidy, word_order

Segment = tuple[int, tuple[int, ...]]
"""``(address, words)`` of one register write."""


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """Everything needed to send (and re-send) one setpoint.

    Attributes:
        unit_id: the unit to write to.
        segments: register writes in order (``before`` steps first, contiguous ones merged):
            what the first write after a (re)connect sends.
        repeat_segments: the same without the ``once`` steps: what later writes send.
        coil: ``(address, value)`` of a coil setpoint, written after the segments.
        single_register: send every register with FC6 instead of FC16.
        requested: the value asked for (model units).
        written: the value the device gets, in model units (after clamping and rounding).
        clamped: ``written`` differs from ``requested``.
    """

    unit_id: int
    segments: tuple[Segment, ...]
    coil: tuple[int, bool] | None
    single_register: bool
    requested: float | int | bool
    written: float | int | bool
    clamped: bool
    repeat_segments: tuple[Segment, ...]

    @property
    def has_once_steps(self) -> bool:
        """The first write after a connection sends more than later ones."""
        return self.segments != self.repeat_segments


def device_range(point: PointMap, spec: PointSpec) -> tuple[float, float] | None:
    """The writable range in model units: the device's limits, else the model's EURange."""
    write = point.write
    model = spec.value_range
    low = (
        write.min if write is not None and write.min is not None else (model[0] if model else None)
    )
    high = (
        write.max if write is not None and write.max is not None else (model[1] if model else None)
    )
    if low is None or high is None:
        return None
    return (low, high)


def accepted_range(point: PointMap, spec: PointSpec) -> tuple[float, float] | None:
    """The values a client may ask for: the device range, from 0 where 0 means off.

    This is the EURange the server shows; ``prepare_write`` turns a value between 0 and the
    device minimum into 0 (off) when ``zero_means_off`` is set.
    """
    limits = device_range(point, spec)
    if limits is None or point.write is None or not point.write.zero_means_off:
        return limits
    return (min(limits[0], 0.0), limits[1])


def prepare_write(
    point: PointMap,
    spec: PointSpec,
    value: PointValue,
    transport: Transport,
    unit_id: int,
    *,
    reference: PointValue = None,
    where: str = "",
) -> PreparedWrite:
    """Check and convert a setpoint.

    Args:
        point: the profile mapping (must have ``write``).
        spec: the model point.
        value: the requested value in model units.
        transport: word order and byte swap defaults.
        unit_id: unit id to write to.
        reference: last reading of the ``percent_of`` point (model units), if any.
        where: ``<asset>.<point>`` for messages.

    Raises:
        OutOfRangeError: outside the range; nothing may be written.
        WriteError: not writable, wrong type, or ``percent_of`` without a reading.
    """
    write = point.write
    if write is None:
        raise WriteError(f"{where}: the profile maps no write for this point")
    order = word_order(point, transport)
    segments = [
        (step.address, tuple(_encode(step.value, step.type, order, transport, where)))
        for step in write.before
    ]
    once = [step.once for step in write.before]

    if write.function == "coil" or spec.data_type is DataType.BOOLEAN:
        flag = _as_bool(value, where)
        if write.function == "coil":
            return PreparedWrite(
                unit_id,
                _merge(segments, write),
                (write.address, flag),
                write.use_single_register_write,
                flag,
                flag,
                False,
                _merge(_without(segments, once), write),
            )
        raw_flag = _raw_for_bool(point, flag)
        segments.append(
            (write.address, tuple(_encode(raw_flag, write.type, order, transport, where)))
        )
        return PreparedWrite(
            unit_id,
            _merge(segments, write),
            None,
            write.use_single_register_write,
            flag,
            flag,
            False,
            _merge(_without(segments, once), write),
        )

    number = _as_number(value, where)
    target, clamped = _check_range(number, point, spec, where)
    zero_value = 0 if spec.data_type in (DataType.INT32, DataType.UINT32) else 0.0
    if write.enable_coil is not None and target == 0:  # paused through the enable coil
        return PreparedWrite(
            unit_id,
            (),
            (write.enable_coil, False),
            write.use_single_register_write,
            number,
            zero_value,
            clamped,
            (),
        )
    if write.off_steps and target == 0:  # the device pauses through its own register
        off = [
            (step.address, tuple(_encode(step.value, step.type, order, transport, where)))
            for step in write.off_steps
        ]
        merged = _merge(off, write)
        return PreparedWrite(
            unit_id,
            merged,
            None,
            write.use_single_register_write,
            number,
            zero_value,
            clamped,
            merged,
        )
    if spec.data_type in (DataType.INT32, DataType.UINT32) and not float(target).is_integer():
        raise OutOfRangeError(f"{where}: {value} is not a whole number")

    device_value: float
    if write.percent_of is not None:
        ref = _reference(reference, write, where)
        percent = target / ref * 100.0
        if percent > 100.0 or percent < 0.0:
            percent, clamped = min(100.0, max(0.0, percent)), True
        device_value = percent / write.scale
    elif point.enum is not None:
        device_value = _raw_for_enum(point, int(target), where)
    else:
        sent = write.off_value if write.off_value is not None and target == 0 else target
        device_value = (sent * point.sign - point.offset) / write.scale

    words = _encode(device_value, write.type, order, transport, where)
    segments.append((write.address, tuple(words)))
    written = _written(point, write, words, order, transport, ref=reference, fallback=target)
    if spec.data_type in (DataType.INT32, DataType.UINT32):
        written = round(written)
    clamped = clamped or not math.isclose(written, number, rel_tol=1e-9, abs_tol=1e-9)
    enable = (write.enable_coil, True) if write.enable_coil is not None else None
    return PreparedWrite(
        unit_id,
        _merge(segments, write),
        enable,
        write.use_single_register_write,
        number,
        written,
        clamped,
        _merge(_without(segments, once), write),
    )


def model_from_write_register(
    point: PointMap,
    words: list[int],
    transport: Transport,
    reference: PointValue = None,
) -> float:
    """Read-back of the write register itself, in model units (inverse of ``prepare_write``)."""
    assert point.write is not None
    raw = decode(words, point.write.type, word_order(point, transport), transport.byte_swap)
    if isinstance(raw, str):
        raise CodecError("a setpoint register holds text")
    if point.write.percent_of is not None:
        if not isinstance(reference, int | float) or isinstance(reference, bool):
            raise CodecError("no reading of the percent_of point")
        return tidy(raw * point.write.scale / 100.0 * float(reference))
    if point.enum is not None:
        for raw_key, mapped in point.enum.items():
            if raw_key == raw:
                return float(mapped)
    return tidy((raw * point.write.scale + point.offset) * point.sign)


# --- helpers ---------------------------------------------------------------------------------


def _as_bool(value: PointValue, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise OutOfRangeError(f"{where}: {value!r} is not a boolean")


def _as_number(value: PointValue, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WriteError(f"{where}: {value!r} is not a number")
    if not math.isfinite(value):
        raise OutOfRangeError(f"{where}: {value} is not a finite number")
    return float(value)


def _check_range(number: float, point: PointMap, spec: PointSpec, where: str) -> tuple[float, bool]:
    write = point.write
    assert write is not None
    if spec.enum_values and point.enum is None and int(number) not in spec.enum_values:
        raise OutOfRangeError(f"{where}: {number:g} is none of {sorted(spec.enum_values)}")
    limits = device_range(point, spec)
    if limits is None:
        return number, False
    low, high = limits
    if write.zero_means_off and low > 0 and 0 <= number < low:
        return 0.0, number != 0
    if not low <= number <= high:
        off = " (or 0 = off)" if write.zero_means_off and low > 0 else ""
        raise OutOfRangeError(f"{where}: {number:g} outside {low:g}..{high:g}{off}")
    return number, False


def _reference(reference: PointValue, write: WriteSpec, where: str) -> float:
    if isinstance(reference, bool) or not isinstance(reference, int | float) or reference <= 0:
        raise WriteError(
            f"{where}: written as % of {write.percent_of}, which has no usable reading yet"
        )
    return float(reference)


def _raw_for_enum(point: PointMap, model_value: int, where: str) -> float:
    assert point.enum is not None
    for raw, mapped in point.enum.items():
        if mapped == model_value:
            if isinstance(raw, str):
                raise WriteError(f"{where}: state {model_value} maps to text {raw!r}")
            return float(raw)
    raise OutOfRangeError(f"{where}: the device has no state {model_value}")


def _raw_for_bool(point: PointMap, flag: bool) -> int:
    if flag and point.true_values:
        first = point.true_values[0]
        if isinstance(first, int):
            return first
    return 1 if flag else 0


def _encode(
    value: float, wire_type: WireType, order: str, transport: Transport, where: str
) -> list[int]:
    try:
        return encode(value, wire_type, order, transport.byte_swap)
    except CodecError as exc:
        raise OutOfRangeError(f"{where}: {exc}") from exc


def _written(
    point: PointMap,
    write: WriteSpec,
    words: list[int],
    order: str,
    transport: Transport,
    *,
    ref: PointValue,
    fallback: float,
) -> float:
    """The model value the encoded words stand for (shows rounding and clamping)."""
    if point.enum is not None:
        return fallback
    raw = decode(words, write.type, order, transport.byte_swap)
    assert not isinstance(raw, str)
    if write.percent_of is not None:
        assert isinstance(ref, int | float)
        return tidy(raw * write.scale / 100.0 * float(ref))
    return tidy((raw * write.scale + point.offset) * point.sign)


def _without(segments: list[Segment], once: list[bool]) -> list[Segment]:
    """``segments`` less the ``before`` steps flagged in ``once`` (the steps come first)."""
    return [seg for i, seg in enumerate(segments) if not (i < len(once) and once[i])]


def _merge(segments: list[Segment], write: WriteSpec) -> tuple[Segment, ...]:
    """Join register writes into as few FC16 requests as possible (none with FC6): all of them
    into one when together they cover one contiguous range, else neighbours in write order."""
    if write.use_single_register_write:
        return tuple(
            (address + i, (word,)) for address, words in segments for i, word in enumerate(words)
        )
    ordered = sorted(segments)
    if len(ordered) > 1 and all(a + len(w) == b for (a, w), (b, _) in pairwise(ordered)):
        # together one contiguous range (e.g. SMA: setpoint 40149, mode 40151): one request
        return ((ordered[0][0], tuple(word for _, words in ordered for word in words)),)
    merged: list[Segment] = []
    for address, words in segments:
        if merged and merged[-1][0] + len(merged[-1][1]) == address:
            merged[-1] = (merged[-1][0], merged[-1][1] + words)
        else:
            merged.append((address, words))
    return tuple(merged)
