"""Data-change notifications encoded in one pass, each DataValue once for every client.

asyncua encodes a publish response field by field through generic dataclass serializers: at 10k
changes a second that was a third of the server's CPU. ``encode_data_changes`` writes the
``DataChangeNotification`` body directly, with one precompiled struct per scalar value, and
keeps the bytes of each DataValue for the other subscriptions that send the same (shared)
DataValue in the same round. The bytes are exactly asyncua's (a test compares them); a value this
module does not know (arrays, structures, picoseconds) is encoded by asyncua itself.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime

from asyncua import ua
from asyncua.ua.ua_binary import struct_to_binary
from asyncua.ua.uatypes import datetime_to_win_epoch

_NOTIFICATION_ID = ua.FourByteNodeId(ua.ObjectIds.DataChangeNotification_Encoding_DefaultBinary)
_HANDLE = struct.Struct("<I")
_COUNT = struct.Struct("<i")
_STATUS = struct.Struct("<I")
_TIME = struct.Struct("<q")
_NO_DIAGNOSTICS = _COUNT.pack(0)

_SCALARS: dict[ua.VariantType, struct.Struct] = {
    ua.VariantType.Double: struct.Struct("<Bd"),
    ua.VariantType.Boolean: struct.Struct("<B?"),
    ua.VariantType.Int32: struct.Struct("<Bi"),
    ua.VariantType.UInt32: struct.Struct("<BI"),
    ua.VariantType.Float: struct.Struct("<Bf"),
    ua.VariantType.Int64: struct.Struct("<Bq"),
    ua.VariantType.UInt64: struct.Struct("<BQ"),
    ua.VariantType.Int16: struct.Struct("<Bh"),
    ua.VariantType.UInt16: struct.Struct("<BH"),
    ua.VariantType.Byte: struct.Struct("<BB"),
}
"""Scalar variants of a fixed size: type byte and value."""

CACHE_GENERATION = 10_000
"""DataValues whose bytes are kept for other subscriptions: the newest up to twice this many.

Every subscription publishes a shared DataValue within about one publishing interval of the
first; the bytes are kept for the newest one to two generations of this size (at 10,000 changes
a second, at least one second) and then let go with the DataValue they belong to, which would
otherwise stay alive in the cache long after the node and the monitored items moved on (a
100,000-entry cache held about five times the DataValues alive anyway, for the collector to
walk)."""
_cache: dict[int, tuple[ua.DataValue, bytes]] = {}
_older: dict[int, tuple[ua.DataValue, bytes]] = {}

TIME_MEMO_LIMIT = 4096
_times: dict[datetime, bytes] = {}
"""Encoded timestamps: a driver's readings of one poll share a source time, the node writer's
changes of a few milliseconds a server time."""


def _variant(variant: ua.Variant) -> bytes | None:
    """A scalar variant's encoding, or ``None`` where asyncua's own encoder is needed."""
    if variant.Dimensions is not None or variant.is_array:
        return None
    vtype = variant.VariantType
    scalar = _SCALARS.get(vtype)
    value = variant.Value
    if scalar is not None:
        return scalar.pack(vtype.value, value)
    if vtype is ua.VariantType.Null:
        return b"\x00"
    if vtype is ua.VariantType.String:
        if value is None:
            return b"\x0c" + _COUNT.pack(-1)
        raw = value.encode("utf-8")
        return b"\x0c" + _COUNT.pack(len(raw)) + raw
    if vtype is ua.VariantType.DateTime and isinstance(value, datetime):
        return b"\x0d" + _TIME.pack(datetime_to_win_epoch(value))
    return None


def encode_data_value(dv: ua.DataValue) -> bytes:
    """The OPC UA binary encoding of ``dv`` (asyncua's bytes, faster for scalars)."""
    if dv.SourcePicoseconds is not None or dv.ServerPicoseconds is not None:
        return bytes(struct_to_binary(dv))
    mask = 0
    parts: list[bytes] = []
    if dv.Value is not None:
        variant = _variant(dv.Value)
        if variant is None:
            return bytes(struct_to_binary(dv))
        mask |= 0x01
        parts.append(variant)
    if dv.StatusCode is not None:
        mask |= 0x02
        parts.append(_STATUS.pack(dv.StatusCode.value))
    if dv.SourceTimestamp is not None:
        mask |= 0x04
        parts.append(_time(dv.SourceTimestamp))
    if dv.ServerTimestamp is not None:
        mask |= 0x08
        parts.append(_time(dv.ServerTimestamp))
    return bytes((mask,)) + b"".join(parts)


def _time(value: datetime) -> bytes:
    """A DateTime's encoding (remembered: equal datetimes encode alike)."""
    encoded = _times.get(value)
    if encoded is None:
        if len(_times) >= TIME_MEMO_LIMIT:
            _times.clear()
        encoded = _times[value] = _TIME.pack(datetime_to_win_epoch(value))
    return encoded


def _cached_entry(dv: ua.DataValue) -> bytes | None:
    """The kept bytes of ``dv``, if any."""
    key = id(dv)
    entry = _cache.get(key)
    if entry is None:
        entry = _older.get(key)
    if entry is not None and entry[0] is dv:
        return entry[1]
    return None


def _cached(dv: ua.DataValue) -> bytes:
    """The bytes of ``dv``: kept ones, or encoded now and kept."""
    global _cache, _older
    encoded = _cached_entry(dv)
    if encoded is not None:
        return encoded
    if len(_cache) >= CACHE_GENERATION:
        _older, _cache = _cache, {}
    encoded = encode_data_value(dv)
    _cache[id(dv)] = (dv, encoded)  # holds dv: its id is not reused while cached
    return encoded


def clear_cache() -> None:
    """Forget every DataValue's bytes (tests)."""
    _cache.clear()
    _older.clear()


class SharedNotification(ua.MonitoredItemNotification):  # type: ignore[misc]
    """A notification whose DataValue is shared and never changed (its bytes may be reused)."""


SharedChange = tuple[int, ua.DataValue]
"""A notification as ``(client handle, shared DataValue)``: a ``SharedNotification`` without
the object."""


def encode_data_changes(
    items: Sequence[ua.MonitoredItemNotification | SharedChange],
) -> ua.ExtensionObject:
    """A ``DataChangeNotification`` of ``items`` (no diagnostics), already encoded."""
    pack_handle = _HANDLE.pack
    parts = [_COUNT.pack(len(items))]
    append = parts.append
    for item in items:
        kind = type(item)
        if kind is tuple:
            handle, shared = item  # type: ignore[misc]
            append(pack_handle(handle))
            append(_cached(shared))
        elif kind is SharedNotification:
            append(pack_handle(item.ClientHandle))  # type: ignore[union-attr]
            append(_cached(item.Value))  # type: ignore[union-attr]
        else:
            append(pack_handle(item.ClientHandle))  # type: ignore[union-attr]
            append(encode_data_value(item.Value))  # type: ignore[union-attr]
    append(_NO_DIAGNOSTICS)
    return ua.ExtensionObject(TypeId=_NOTIFICATION_ID, Body=b"".join(parts))
