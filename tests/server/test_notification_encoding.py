"""Data-change notifications encoded in one pass are byte for byte what asyncua sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from ampacity.server import notification_encoding
from ampacity.server.notification_encoding import (
    SharedNotification,
    encode_data_changes,
    encode_data_value,
)
from asyncua import ua
from asyncua.ua.ua_binary import extensionobject_to_binary, struct_to_binary

T = datetime(2026, 1, 1, 12, 30, 1, 123456, tzinfo=UTC)
BAD = ua.StatusCode(ua.StatusCodes.BadCommunicationError)

VARIANTS = [
    ua.Variant(1.5, ua.VariantType.Double),
    ua.Variant(-1e300, ua.VariantType.Double),
    ua.Variant(True, ua.VariantType.Boolean),
    ua.Variant(-7, ua.VariantType.Int32),
    ua.Variant(2**32 - 1, ua.VariantType.UInt32),
    ua.Variant(2.5, ua.VariantType.Float),
    ua.Variant(-(2**40), ua.VariantType.Int64),
    ua.Variant(3, ua.VariantType.UInt16),
    ua.Variant("Grüße ⚡", ua.VariantType.String),
    ua.Variant("", ua.VariantType.String),
    ua.Variant(None, ua.VariantType.String),
    ua.Variant(T, ua.VariantType.DateTime),
    ua.Variant(None, ua.VariantType.Null),
    # not on the fast path: asyncua encodes them
    ua.Variant([1.0, 2.0], ua.VariantType.Double),
    ua.Variant(ua.Range(Low=0.0, High=1.0), ua.VariantType.ExtensionObject),
    ua.Variant(ua.LocalizedText("W"), ua.VariantType.LocalizedText),
]


def data_values() -> list[ua.DataValue]:
    out = [ua.DataValue(Value=v, SourceTimestamp=T, ServerTimestamp=T) for v in VARIANTS]
    out += [
        ua.DataValue(Value=VARIANTS[0], StatusCode=BAD, SourceTimestamp=T),
        ua.DataValue(Value=VARIANTS[0], StatusCode=None, ServerTimestamp=T),
        ua.DataValue(Value=None, StatusCode=BAD),
        ua.DataValue(),
        ua.DataValue(Value=VARIANTS[0], SourceTimestamp=T, SourcePicoseconds=5),
        ua.DataValue(Value=VARIANTS[0], ServerTimestamp=T, ServerPicoseconds=7),
        ua.DataValue(Value=VARIANTS[0], SourceTimestamp=datetime(1500, 1, 1, tzinfo=UTC)),
    ]
    return out


@pytest.mark.parametrize("dv", data_values(), ids=repr)
def test_a_data_value_is_encoded_as_asyncua_encodes_it(dv: ua.DataValue) -> None:
    assert encode_data_value(dv) == struct_to_binary(dv)


def test_a_notification_is_encoded_as_asyncua_encodes_it() -> None:
    dvs = data_values()
    items = [
        ua.MonitoredItemNotification(ClientHandle=i * 1000, Value=dv) for i, dv in enumerate(dvs)
    ]
    items += [SharedNotification(ClientHandle=2**32 - 1, Value=dvs[0])]
    shared = [(7 + i, dv) for i, dv in enumerate(dvs)]  # a client subscription's queue entries
    expected = ua.DataChangeNotification(
        MonitoredItems=[ua.MonitoredItemNotification(i.ClientHandle, i.Value) for i in items]
        + [ua.MonitoredItemNotification(handle, dv) for handle, dv in shared]
    )
    encoded = encode_data_changes([*items, *shared])
    assert extensionobject_to_binary(encoded) == extensionobject_to_binary(expected)


def test_a_shared_value_is_encoded_once_for_every_subscription() -> None:
    dv = ua.DataValue(Value=VARIANTS[0], SourceTimestamp=T, ServerTimestamp=T)
    notification_encoding.clear_cache()
    first = encode_data_changes([SharedNotification(ClientHandle=1, Value=dv)])
    assert notification_encoding._cached_entry(dv) == encode_data_value(dv)
    second = encode_data_changes([SharedNotification(ClientHandle=1, Value=dv)])
    assert first.Body == second.Body
    # a notification that is not shared is always encoded from its current content
    other = ua.DataValue(Value=VARIANTS[2], SourceTimestamp=T)
    encode_data_changes([ua.MonitoredItemNotification(ClientHandle=1, Value=other)])
    assert notification_encoding._cached_entry(other) is None


def test_equal_times_encode_alike_and_other_times_apart() -> None:
    """Encoded timestamps are remembered by value: the same instant in another zone encodes as
    UTC does, a naive time as asyncua encodes it, and the memo never mixes them up."""
    plus_two = T.astimezone(timezone(timedelta(hours=2)))
    naive = T.replace(tzinfo=None) + timedelta(hours=1)
    times = [T, plus_two, naive, T + timedelta(microseconds=1), datetime(9999, 12, 31, tzinfo=UTC)]
    for _ in range(2):  # the second time from the memo
        for when in times:
            dv = ua.DataValue(Value=VARIANTS[0], SourceTimestamp=when, ServerTimestamp=T)
            assert encode_data_value(dv) == bytes(struct_to_binary(dv))


def test_a_value_s_bytes_are_kept_for_one_to_two_generations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notification_encoding, "CACHE_GENERATION", 4)
    notification_encoding.clear_cache()
    values = [ua.DataValue(Value=ua.Variant(float(i)), SourceTimestamp=T) for i in range(9)]
    for dv in values:
        encode_data_changes([SharedNotification(ClientHandle=1, Value=dv)])
    kept = {id(dv) for dv in values if notification_encoding._cached_entry(dv) is not None}
    assert kept == {id(dv) for dv in values[4:]}  # the last full generation and the new one
    notification_encoding.clear_cache()
    assert all(notification_encoding._cached_entry(dv) is None for dv in values)
