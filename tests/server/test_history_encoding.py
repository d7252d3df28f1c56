"""The one-pass HistoryRead encoding sends exactly the bytes asyncua's own encoding would."""

from __future__ import annotations

import pytest
from ampacity.server import history_encoding
from ampacity.server.history import to_data_value
from ampacity.server.history_encoding import encode_history_data
from ampacity.storage import HistValue
from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import extensionobject_from_binary, extensionobject_to_binary

T_US = 1_767_225_600_123_456  # 2026-01-01 00:00:00.123456 UTC
UNCERTAIN = ua.StatusCodes.UncertainLastUsableValue
BAD = ua.StatusCodes.BadCommunicationError

VALUES = {
    "Double": [1.5, -0.0, 1e300, 7],
    "Boolean": [True, False, 1.0, 0.0],
    "Int32": [-5, 2**31 - 1, 3.0, 0],
    "UInt32": [0, 2**32 - 1, 4.0, 17],
}


def stored(data_type: str) -> list[HistValue]:
    values = [HistValue(T_US + i * 1_000_000, v, 0) for i, v in enumerate(VALUES[data_type])]
    values.append(HistValue(T_US + 10_000_000, VALUES[data_type][0], UNCERTAIN))
    values.append(HistValue(T_US + 11_000_000, None, BAD))
    return values


def asyncua_bytes(values: list[HistValue], data_type: str, ttr: ua.TimestampsToReturn) -> bytes:
    data = ua.HistoryData(DataValues=[to_data_value(v, data_type, ttr) for v in values])
    return extensionobject_to_binary(data)


@pytest.mark.parametrize("data_type", sorted(VALUES))
@pytest.mark.parametrize(
    "ttr",
    [
        ua.TimestampsToReturn.Both,
        ua.TimestampsToReturn.Source,
        ua.TimestampsToReturn.Server,
    ],
)
def test_the_same_bytes_as_asyncua(data_type: str, ttr: ua.TimestampsToReturn) -> None:
    values = stored(data_type)
    encoded = encode_history_data(values, data_type, ttr)
    assert encoded is not None
    assert extensionobject_to_binary(encoded) == asyncua_bytes(values, data_type, ttr)


def test_a_client_decodes_the_values_times_and_statuses() -> None:
    values = stored("Double")
    encoded = encode_history_data(values, "Double", ua.TimestampsToReturn.Both)
    assert encoded is not None
    decoded = extensionobject_from_binary(Buffer(extensionobject_to_binary(encoded)))
    assert isinstance(decoded, ua.HistoryData)
    assert [dv.Value.Value for dv in decoded.DataValues] == [1.5, -0.0, 1e300, 7.0, 1.5, None]
    assert decoded.DataValues[4].StatusCode.value == UNCERTAIN
    assert decoded.DataValues[5].StatusCode.value == BAD
    first = decoded.DataValues[0]
    assert first.SourceTimestamp == first.ServerTimestamp
    assert first.SourceTimestamp.isoformat() == "2026-01-01T00:00:00.123456+00:00"


def test_an_empty_page_is_an_empty_history() -> None:
    encoded = encode_history_data([], "Double", ua.TimestampsToReturn.Both)
    assert encoded is not None
    assert extensionobject_to_binary(encoded) == asyncua_bytes(
        [], "Double", ua.TimestampsToReturn.Both
    )


@pytest.mark.parametrize(
    ("values", "data_type"),
    [
        ([HistValue(T_US, "text", 0)], "String"),
        ([HistValue(T_US, "2026-01-01T00:00:00+00:00", 0)], "DateTime"),
        ([HistValue(T_US, 1.0, 0), HistValue(T_US + 1, "odd", 0)], "Double"),
        ([HistValue(T_US, 2**40, 0)], "Int32"),  # out of range: asyncua's path reports it
    ],
)
def test_what_does_not_fit_goes_the_ordinary_way(values: list[HistValue], data_type: str) -> None:
    assert encode_history_data(values, data_type, ua.TimestampsToReturn.Both) is None


FLOATS = [1.5, -0.0, 1e300, float("inf"), float("-inf"), float("nan"), 2.0**-1074, 230.25]


@pytest.mark.parametrize(
    "ttr",
    [ua.TimestampsToReturn.Both, ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Server],
)
def test_a_page_of_floats_takes_the_array_path_with_the_same_bytes(
    ttr: ua.TimestampsToReturn,
) -> None:
    statuses = [0, UNCERTAIN, BAD]
    values = [
        HistValue(T_US + i * 1_000_000, v, statuses[i % 3]) for i, v in enumerate(FLOATS * 500)
    ]
    mask, _, count = history_encoding._timestamps(ttr)
    fast = history_encoding._doubles(values, 0x03 | mask, ua.VariantType.Double.value, count)
    assert fast is not None  # all floats: the array path
    encoded = encode_history_data(values, "Double", ttr)
    assert encoded is not None and encoded.Body == fast
    assert extensionobject_to_binary(encoded) == asyncua_bytes(values, "Double", ttr)


@pytest.mark.parametrize(
    "odd",
    [
        HistValue(T_US, None, BAD),  # a Null value (numpy would read it as NaN)
        HistValue(T_US, "1.5", 0),  # a text (numpy would read it as 1.5)
        HistValue(T_US, 2, 0),  # an int: packed as a double value by value
        HistValue(T_US, 1.0, 2**32),  # a status beyond 32 bits
        HistValue(T_US, 1.0, -1),
        HistValue(300_000_000_000_000_000, 1.0, 0),  # after asyncua's last DateTime
        HistValue(-11_644_473_600_000_000, 1.0, 0),  # 1601-01-01: asyncua's "no time"
    ],
)
def test_a_page_with_anything_else_goes_value_by_value(odd: HistValue) -> None:
    values = [HistValue(T_US + i, 1.0, 0) for i in range(1, 100)] + [odd]
    both = ua.TimestampsToReturn.Both
    mask, _, count = history_encoding._timestamps(both)
    assert (
        history_encoding._doubles(values, 0x03 | mask, ua.VariantType.Double.value, count) is None
    )
    encoded = encode_history_data(values, "Double", both)
    if encoded is not None:  # what value by value encodes is asyncua's bytes
        assert extensionobject_to_binary(encoded) == asyncua_bytes(values, "Double", both)


@pytest.mark.parametrize("data_type", sorted(VALUES))
@pytest.mark.parametrize(
    "ttr",
    [ua.TimestampsToReturn.Both, ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Server],
)
def test_value_size_is_what_a_value_takes_on_the_wire(
    data_type: str, ttr: ua.TimestampsToReturn
) -> None:
    """Raw pages of numeric points are sized by ``value_size``: it is the encoded size of a
    value (a Null value takes less)."""
    values = [HistValue(T_US + i, float(VALUES[data_type][1]), 0) for i in range(100)]
    body = asyncua_bytes(values, data_type, ttr)
    empty = asyncua_bytes([], data_type, ttr)
    size = history_encoding.value_size(data_type, ttr)
    assert size is not None and size * 100 == len(body) - len(empty)
    null = asyncua_bytes([HistValue(T_US, None, BAD)], data_type, ttr)
    assert len(null) - len(empty) < size


def test_text_values_have_no_fixed_size() -> None:
    assert history_encoding.value_size("String", ua.TimestampsToReturn.Both) is None
    assert history_encoding.value_size("DateTime", ua.TimestampsToReturn.Both) is None
    assert history_encoding.value_size(None, ua.TimestampsToReturn.Both) == 30  # computed Double
