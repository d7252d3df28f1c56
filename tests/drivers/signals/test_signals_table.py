"""The contact table: default stages, patterns, don't-care, precedence, located errors; config."""

from __future__ import annotations

import itertools
import re

import pytest
from ampacity.drivers.signals import ContactTable, RippleReceiverConfig, TableError
from pydantic import ValidationError


def states(text: str) -> tuple[bool, ...]:
    return tuple(c == "1" for c in text)


@pytest.mark.parametrize(
    ("closed", "limit"),
    [
        ("0000", 100.0),  # no contact: no restriction
        ("1000", 100.0),  # K1
        ("0100", 60.0),  # K2
        ("0010", 30.0),  # K3
        ("0001", 0.0),  # K4
        ("1100", 60.0),  # several closed: the lowest of their stages
        ("0110", 30.0),
        ("1011", 0.0),
        ("1111", 0.0),
    ],
)
def test_default_table_is_the_four_stage_scheme(closed: str, limit: float) -> None:
    assert ContactTable.build(4).limit(states(closed)) == limit


def test_default_table_never_exceeds_the_lowest_closed_stage() -> None:
    table = ContactTable.build(4)
    stages = (100.0, 60.0, 30.0, 0.0)
    for combo in itertools.product((False, True), repeat=4):
        expected = min((s for s, c in zip(stages, combo, strict=True) if c), default=100.0)
        assert table.limit(combo) == expected


def test_default_table_with_fewer_contacts() -> None:
    table = ContactTable.build(2)
    assert table.as_config() == {"x1": 60.0, "1x": 100.0}
    assert table.limit((False, True)) == 60.0
    assert table.limit((False, False)) == 100.0


def test_patterns_with_dont_care_and_first_match_precedence() -> None:
    table = ContactTable.build(4, {"x1xx": 50.0, "1xxx": 70.0, "0000": 100.0}, default=0.0)
    assert table.limit(states("0100")) == 50.0
    assert table.limit(states("1100")) == 50.0  # both match: the first written wins
    assert table.limit(states("1000")) == 70.0
    assert table.limit(states("0000")) == 100.0
    assert table.limit(states("0010")) == 0.0  # none matches: the default


def test_order_decides_not_specificity() -> None:
    loose_first = ContactTable.build(2, {"1x": 10.0, "11": 90.0})
    assert loose_first.limit((True, True)) == 10.0


def test_pattern_case_and_spaces_are_forgiven() -> None:
    assert ContactTable.build(2, {" X1 ": 40.0}).limit((True, True)) == 40.0


def test_dimming_contact_is_no_stage_and_reported_apart() -> None:
    table = ContactTable.build(4, dimming_contact=4)
    assert table.limit(states("0001")) == 100.0  # K4 dims consumers, it does not limit PV
    assert table.limit(states("0011")) == 30.0
    assert table.dimming(states("0001")) is True
    assert table.dimming(states("1110")) is False
    assert ContactTable.build(4).dimming(states("0001")) is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"10a0": 30}, 'table["10a0"]: pattern may contain only 0, 1 and x'),
        ({"": 30}, 'table[""]: pattern may contain only 0, 1 and x'),
        ({"100": 30}, 'table["100"]: pattern has 3 characters, the receiver uses 4 contacts'),
        ({"100x": 130}, 'table["100x"]: 130 % outside 0..100 %'),
        ({"100x": -1}, 'table["100x"]: -1 % outside 0..100 %'),
        ({"100x": "60"}, 'table["100x"]: the limit must be a number'),
        ({"0001": 0}, 'table["0001"]: contact 4 is the §14a dimming contact'),
    ],
)
def test_invalid_tables_name_the_entry(table: dict[str, object], message: str) -> None:
    with pytest.raises(TableError) as info:
        ContactTable.build(4, table, dimming_contact=4)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


def test_invalid_contact_count_and_dimming_contact() -> None:
    with pytest.raises(TableError, match=re.escape("contacts: 5 outside 1..4")):
        ContactTable.build(5)
    with pytest.raises(
        TableError, match=re.escape("dimming_contact: 3 is not one of the contacts 1..2")
    ):
        ContactTable.build(2, dimming_contact=3)


def test_limit_needs_one_state_per_contact() -> None:
    with pytest.raises(ValueError, match="3 contact states for a table of 4"):
        ContactTable.build(4).limit((True, False, False))


# --- config --------------------------------------------------------------------------------------


def entry(**extra: object) -> dict[str, object]:
    return {"id": "rcr", "source": {"type": "simulated"}, **extra}


def test_config_defaults() -> None:
    config = RippleReceiverConfig.model_validate(entry())
    assert config.contacts == 4
    assert config.poll_interval_s == 0.1
    assert config.contact_table().as_config() == {
        "xxx1": 0.0,
        "xx1x": 30.0,
        "x1xx": 60.0,
        "1xxx": 100.0,
    }


def test_config_table_errors_are_located() -> None:
    with pytest.raises(ValidationError) as info:
        RippleReceiverConfig.model_validate(entry(table={"10a0": 30}))
    assert 'table["10a0"]: pattern may contain only 0, 1 and x' in str(info.value)


def test_config_unquoted_pattern_gets_its_own_message() -> None:
    with pytest.raises(ValidationError) as info:
        RippleReceiverConfig.model_validate(entry(table={100: 60}))
    assert "write it in quotes" in str(info.value)


def test_config_counts_must_agree() -> None:
    modbus = {"type": "modbus", "host": "192.0.2.1", "addresses": [0, 1, 2]}
    with pytest.raises(
        ValidationError, match=re.escape("source.addresses: 3 entries for 4 contacts")
    ):
        RippleReceiverConfig.model_validate(entry(source=modbus))
    nc = {**modbus, "invert": [True]}
    with pytest.raises(ValidationError, match=re.escape("source.invert: 1 entries for 3 contacts")):
        RippleReceiverConfig.model_validate(entry(source=nc, contacts=3))


def test_config_register_bits() -> None:
    source = {"type": "modbus", "host": "h", "function": "holding_bit", "addresses": [7, 7]}
    with pytest.raises(ValidationError, match="needs 'bits'"):
        RippleReceiverConfig.model_validate(entry(source=source, contacts=2))
    with pytest.raises(ValidationError, match=r"bits\[1\]: 16 outside 0..15"):
        RippleReceiverConfig.model_validate(entry(source={**source, "bits": [0, 16]}, contacts=2))


def test_config_rejects_unknown_keys_and_bad_sources() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RippleReceiverConfig.model_validate(entry(limit=3))
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        RippleReceiverConfig.model_validate(entry(source={"type": "gpio"}))
    kmtronic = {"type": "kmtronic", "url": "http://192.0.2.9", "elements": ["a", "b"]}
    with pytest.raises(ValidationError, match="give both 'user' and 'password'"):
        RippleReceiverConfig.model_validate(entry(source={**kmtronic, "user": "admin"}, contacts=2))


def test_kmtronic_polls_no_faster_than_the_board_allows_by_default() -> None:
    kmtronic = {"type": "kmtronic", "url": "http://192.0.2.9/", "elements": ["in1"]}
    config = RippleReceiverConfig.model_validate(entry(source=kmtronic, contacts=1))
    assert config.poll_interval_s == 0.3
