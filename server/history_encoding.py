"""HistoryRead raw results encoded in one pass, straight from the stored values.

asyncua makes a ``DataValue`` (with a ``Variant`` and two datetimes) per historical value, then
encodes each one field by field: for one day at 1 s (86,400 values) that was most of the time of
a HistoryRead. ``encode_history_data`` writes the binary ``HistoryData`` body from the stored
tuples (µs timestamps, number, status) with one precompiled struct per value and hands it to
asyncua as an already-encoded ExtensionObject. The bytes are exactly those asyncua would send
(a test compares them), so no client sees a difference.

Only numeric points (Double, Boolean, Int32, UInt32) take this path; text and DateTime values,
and anything unexpected, return ``None`` and go the ordinary way.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from operator import itemgetter

from ampacity.storage.values import RawRow
from asyncua import ua

_EPOCH_TICKS = 116_444_736_000_000_000
"""1970-01-01 in OPC UA DateTime ticks (100 ns since 1601-01-01)."""
_LAST_TICKS = 2_500_000_000_000_000_000
"""About the year 9523 in ticks (asyncua sends the maximum Int64 from shortly before 10000)."""

_HAS_VALUE, _HAS_STATUS, _HAS_SOURCE, _HAS_SERVER = 0x01, 0x02, 0x04, 0x08

_FORMATS: dict[str, tuple[int, str]] = {
    "Double": (ua.VariantType.Double.value, "d"),
    "Boolean": (ua.VariantType.Boolean.value, "?"),
    "Int32": (ua.VariantType.Int32.value, "i"),
    "UInt32": (ua.VariantType.UInt32.value, "I"),
}
"""Point data type (``DataType`` value, as the historian stores it) → variant id, struct code."""

_HISTORY_DATA_ID = ua.FourByteNodeId(ua.ObjectIds.HistoryData_Encoding_DefaultBinary)


def _timestamps(ttr: ua.TimestampsToReturn) -> tuple[int, str, int]:
    """Mask bits, struct codes and count of the timestamps ``ttr`` asks for."""
    source = ttr in (ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Both)
    server = ttr in (ua.TimestampsToReturn.Server, ua.TimestampsToReturn.Both)
    mask = (_HAS_SOURCE if source else 0) | (_HAS_SERVER if server else 0)
    return mask, "q" * (source + server), source + server


def value_size(data_type: str | None, ttr: ua.TimestampsToReturn) -> int | None:
    """Bytes one value of a point of ``data_type`` takes in an encoded ``HistoryData`` (mask,
    variant type, value, StatusCode and the timestamps ``ttr`` asks for: 30 for a Double with
    both), or ``None`` where values have no fixed size (text, DateTime). A Null value is
    smaller, never larger."""
    code = _FORMATS.get(data_type or "Double", (0, ""))[1]
    if not code:
        return None
    return struct.calcsize(f"<BB{code}I{_timestamps(ttr)[1]}")


def encode_history_data(
    values: Sequence[RawRow], data_type: str | None, ttr: ua.TimestampsToReturn
) -> ua.ExtensionObject | None:
    """The ``HistoryData`` of ``values`` as an encoded ExtensionObject, or ``None`` when a value
    does not fit the fast path (the caller then builds DataValues as usual).

    Args:
        values: stored values (µs since the epoch, number or ``None``, 32-bit StatusCode):
            ``HistValue``s or the database's plain tuples.
        data_type: the point's data type name (``None``: a computed Double).
        ttr: which timestamps the client asked for (both carry the value's time).
    """
    variant_id, code = _FORMATS.get(data_type or "Double", (0, ""))
    if not code:
        return None
    ts_mask, ts_codes, ts_count = _timestamps(ttr)
    if code == "d":
        body = _doubles(values, _HAS_VALUE | _HAS_STATUS | ts_mask, variant_id, ts_count)
        if body is not None:
            return ua.ExtensionObject(TypeId=_HISTORY_DATA_ID, Body=body)
    with_value = struct.Struct(f"<BB{code}I{ts_codes}")
    without_value = struct.Struct(f"<BBI{ts_codes}")  # a Null variant: its type byte only
    mask = _HAS_VALUE | _HAS_STATUS | ts_mask
    parts = [struct.pack("<i", len(values))]
    append = parts.append
    pack, pack_null = with_value.pack, without_value.pack
    boolean = code == "?"
    integer = code in ("i", "I")
    try:
        for t_us, value, status in values:
            ticks = t_us * 10 + _EPOCH_TICKS
            if not 0 < ticks < _LAST_TICKS:
                return None  # asyncua clamps such times; leave them to it
            stamps = (ticks,) * ts_count
            if value is None:
                append(pack_null(mask, 0, status, *stamps))
                continue
            if isinstance(value, str):
                return None
            if boolean:
                value = bool(value)
            elif integer:
                value = int(value)
            append(pack(mask, variant_id, value, status, *stamps))
    except struct.error:  # out of the type's range: the ordinary path reports it
        return None
    return ua.ExtensionObject(TypeId=_HISTORY_DATA_ID, Body=b"".join(parts))


_STATUS_LIMIT = 1 << 32


def _doubles(values: Sequence[RawRow], mask: int, variant_id: int, ts_count: int) -> bytes | None:
    """The body for a page of float values as one numpy record array (five times faster than
    value by value: 2 ms for 10,000), or ``None`` where a value is no float (a Null, a text), a
    status does not fit 32 bits or a time is out of range (then it goes value by value)."""
    if not values or set(map(type, map(_VALUE, values))) != {float}:  # C loops, no frames
        return None
    import numpy as np  # on the first HistoryRead, not at start-up

    stored = np.fromiter(values, dtype=_STORED, count=len(values))
    t_us, status = stored["t"], stored["s"]
    if (
        t_us.min() <= _FIRST_US
        or t_us.max() >= _LAST_US
        or status.min() < 0
        or status.max() >= _STATUS_LIMIT
    ):
        return None
    fields = [("mask", "u1"), ("variant", "u1"), ("value", "<f8"), ("status", "<u4")]
    fields += [(f"ts{i}", "<i8") for i in range(ts_count)]
    out = np.empty(len(values), dtype=np.dtype(fields))  # packed: the wire layout
    out["mask"] = mask
    out["variant"] = variant_id
    out["value"] = stored["v"]
    out["status"] = status
    ticks = t_us * 10 + _EPOCH_TICKS
    for i in range(ts_count):
        out[f"ts{i}"] = ticks
    return struct.pack("<i", len(values)) + out.tobytes()


_VALUE = itemgetter(1)
"""A stored value's value."""
_STORED = [("t", "<i8"), ("v", "<f8"), ("s", "<i8")]
"""A stored value as numpy reads it (µs, value, status)."""
_FIRST_US = -_EPOCH_TICKS // 10
"""The earliest time (µs since the epoch) that encodes as a positive tick count (exclusive)."""
_LAST_US = (_LAST_TICKS - _EPOCH_TICKS) // 10
