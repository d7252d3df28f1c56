"""Eastron SDM630 / SDM72D-M-V2 (``eastron_sdm630``) against independent register tables.

The profile is written from Eastron's protocol sheets; the evidence is mbmd's SDM630 and
SDM72D-M-V2 maps (FC4, FLOAT32 high word first, kWh), cross-read with nmakel/sdm_modbus. Known
values are encoded per those tables, served from a plain Modbus server and read through the
driver; the same check run on broken copies of the profile must fail. See
fixtures/eastron_sdm630.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "eastron_sdm630"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="input")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("VoltageL2", "address"),
        ("EnergyImported", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePowerL2", "sign"),
        ("Frequency", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="meter", table="input")
