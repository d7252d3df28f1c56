"""ABL eM4 (``abl_em4``, two charge points) against OpenEMS's independent ABL register table:
known values encoded per that table on both charge points, the documented state codes, the
current limit as one FC16 word in 0.1 A; broken copies of the profile must fail. No public
read-out of an eM4 was found. Provenance in fixtures/abl_em4.json.
"""

from __future__ import annotations

import pytest
from charger_kit import shipped, state_differences, table_differences, written_frames
from evidence_kit import load
from meter_kit import break_profile

PROFILE = "abl_em4"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]
DEVICE = "abl"


async def test_independent_register_table() -> None:
    found = await table_differences(shipped(PROFILE), TABLE["facts"], device_id=DEVICE, unit_id=255)
    assert found == {}


async def test_states_as_documented() -> None:
    found = await state_differences(
        shipped(PROFILE), TABLE["states"], address=12337, asset_id=DEVICE, unit_id=255
    )
    assert found == {}


async def test_the_current_limit_is_one_fc16_word_in_tenths_of_an_ampere() -> None:
    frame = TABLE["write"]
    sent = await written_frames(
        shipped(PROFILE),
        asset_id=DEVICE,
        point=frame["point"],
        value=frame["value"],
        unit_id=255,
        ready="point2.ActivePower",
    )
    assert (frame["function"], frame["address"], frame["words"]) in sent, sent


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("CurrentL1", "scale"),
        ("CurrentL3", "address"),
        ("ActivePower", "word_order"),
        ("EnergyTotal", "scale"),
        ("ChargeCurrentLimit", "scale"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)  # point 1's mapping
    found = await table_differences(
        broken, TABLE["facts"], device_id=DEVICE, unit_id=255, within_s=1.0
    )
    assert f"point1.{point}" in found, found
