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

CACHE_LIMIT = 100_000
"""DataValues whose bytes are kept for other subscriptions (cleared when reached)."""
_cache: dict[int, tuple[ua.DataValue, bytes]] = {}


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
        parts.append(_TIME.pack(datetime_to_win_epoch(dv.SourceTimestamp)))
    if dv.ServerTimestamp is not None:
        mask |= 0x08
        parts.append(_TIME.pack(datetime_to_win_epoch(dv.ServerTimestamp)))
    return bytes((mask,)) + b"".join(parts)


def _cached(dv: ua.DataValue) -> bytes:
    entry = _cache.get(id(dv))
    if entry is not None and entry[0] is dv:
        return entry[1]
    if len(_cache) >= CACHE_LIMIT:
        _cache.clear()
    encoded = encode_data_value(dv)
    _cache[id(dv)] = (dv, encoded)  # holds dv: its id is not reused while cached
    return encoded


class SharedNotification(ua.MonitoredItemNotification):  # type: ignore[misc]
    """A notification whose DataValue is shared and never changed (its bytes may be reused)."""


def encode_data_changes(items: Sequence[ua.MonitoredItemNotification]) -> ua.ExtensionObject:
    """A ``DataChangeNotification`` of ``items`` (no diagnostics), already encoded."""
    pack_handle = _HANDLE.pack
    parts = [_COUNT.pack(len(items))]
    for item in items:
        value = _cached(item.Value) if type(item) is SharedNotification else None
        if value is None:
            value = encode_data_value(item.Value)
        parts.append(pack_handle(item.ClientHandle) + value)
    parts.append(_NO_DIAGNOSTICS)
    return ua.ExtensionObject(TypeId=_NOTIFICATION_ID, Body=b"".join(parts))
