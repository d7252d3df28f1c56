"""Mennekes AMTRON Xtra / Premium (``mennekes_amtron_hcc3``) against an independent register
table: the dr-waterstorm/MennekesAmtronWallbox client (input registers, unit 255, 32-bit values
low word first) with the session count its README printed from a real AMTRON Xtra; the CP states;
the current limit as one FC6 word in A. Broken copies of the profile must fail. Provenance in
fixtures/mennekes_amtron_hcc3.json.
"""

from __future__ import annotations

import pytest
from charger_kit import shipped, state_differences, table_differences, written_frames
from evidence_kit import load
from meter_kit import break_profile

PROFILE = "mennekes_amtron_hcc3"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]


async def test_independent_register_table() -> None:
    found = await table_differences(
        shipped(PROFILE), TABLE["facts"], device_id="amtron", unit_id=255
    )
    assert found == {}


async def test_cp_states_as_documented() -> None:
    found = await state_differences(
        shipped(PROFILE),
        TABLE["states"],
        address=770,
        asset_id="amtron",
        unit_id=255,
        table="input",
    )
    assert found == {}


async def test_the_current_limit_is_one_fc6_word_in_amperes() -> None:
    frame = TABLE["write"]
    sent = await written_frames(
        shipped(PROFILE),
        asset_id="amtron",
        point=frame["point"],
        value=frame["value"],
        unit_id=255,
        ready="ActivePower",
    )
    assert (frame["function"], frame["address"], frame["words"]) in sent, sent


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("ActivePower", "word_order"),
        ("SessionEnergy", "address"),
        ("ActivePower", "function"),
        ("SessionEnergy", "scale"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)
    found = await table_differences(
        broken, TABLE["facts"], device_id="amtron", unit_id=255, within_s=1.0
    )
    assert point in found, found
