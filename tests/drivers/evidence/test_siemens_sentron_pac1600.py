"""Siemens SENTRON 7KT PAC1600 / 7KT1665 (``siemens_sentron_pac1600``) against independent
register tables and an owner's report.

evcc's 7KT1665 template and OpenEMS's PAC1600 driver give the same addresses and scales (power
x0.01 W signed, currents x0.0001 A, energies in Wh); Siemens' Node-RED nodes list the same
addresses as FLOAT32. A 7KT1665 owner's report (evcc #11363: evcc's integer read shows 42 MW
during feed-in, i.e. a negative int32 read as uint32) decides for scaled integers: the test
serves that case and shows that the profile reads the feed-in while an unsigned read would show
the 42.9 MW of the report. See fixtures/siemens_sentron_pac1600.json.
"""

from __future__ import annotations

import pytest
from ampacity.drivers.profile import Profile
from evidence_kit import load
from meter_kit import (
    check_mistake_is_caught,
    check_register_table,
    read_facts,
    shipped,
)

PROFILE = "siemens_sentron_pac1600"
FIXTURE = load(PROFILE)
REPORT = FIXTURE["owner_report"]


async def test_independent_register_tables() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="grid", table="input", fill=None)


def _power_fact() -> dict[str, object]:
    return {
        "point": "ActivePower",
        "address": REPORT["address"],
        "type": "s32",
        "word_order": "big",
        "scale": 0.01,
        "test_value": REPORT["raw_int32"] * 0.01,
        "model_value": REPORT["model_value"],
    }


async def test_the_owners_feed_in_reads_negative_not_42_megawatts() -> None:
    fact = _power_fact()
    readings = await read_facts(shipped(PROFILE), [fact], asset_id="grid", table="input")
    assert readings["grid.ActivePower"].value == pytest.approx(REPORT["model_value"])

    data = shipped(PROFILE).model_dump(mode="python", exclude_unset=True)
    data["assets"][0]["points"]["ActivePower"]["type"] = "u32"  # evcc's template before #11363
    unsigned = Profile.model_validate(data)
    readings = await read_facts(unsigned, [fact], asset_id="grid", table="input")
    assert readings["grid.ActivePower"].value == pytest.approx(REPORT["as_uint32_w"])


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("CurrentL2", "address"),
        ("ActivePower", "scale"),
        ("EnergyImported", "word_order"),
        ("ActivePowerL2", "sign"),
        ("EnergyExported", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="grid", table="input")
