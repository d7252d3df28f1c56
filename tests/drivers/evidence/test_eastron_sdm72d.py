"""Eastron SDM72D-M, first version (``eastron_sdm72d``) against independent register tables.

The profile is written from Eastron's SDM72D-M manual V1.5; the evidence is mbmd's SDM72 map (total
power, import, export; FC4, FLOAT32 high word first, kWh). Known
values are encoded per those tables, served from a plain Modbus server and read through the
driver; the same check run on broken copies of the profile must fail. See
fixtures/eastron_sdm72d.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "eastron_sdm72d"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="input")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("EnergyImported", "address"),
        ("EnergyExported", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePower", "sign"),
        ("EnergyImported", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="meter", table="input")
