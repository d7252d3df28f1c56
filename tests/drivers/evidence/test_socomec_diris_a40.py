"""Socomec DIRIS A-40 (``socomec_diris_a40``) against an independent register table.

The profile is written from Socomec's common communication table (DIRIS A-30 table, 1/100 V,
1/100 Hz, 1/1000 A, 10 W steps). The evidence is OpenEMS's Socomec driver for the DIRIS A14 /
COUNTIS E34 (the same block at 0xC558), and for the energy totals volkszaehler/mbmd's reading of
the same common table (Ea+ 0xC652, Ea- 0xC658, whole kWh): known values encoded per those tables,
served from a plain Modbus server and read through the driver; the same check on broken copies of
the profile must fail. See fixtures/socomec_diris_a40.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "socomec_diris_a40"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="holding")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("CurrentL2", "address"),
        ("Frequency", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePowerL2", "sign"),
        ("VoltageL1", "function"),
        ("EnergyImported", "address"),
        ("EnergyExported", "scale"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(
        PROFILE, FIXTURE, point, mistake, asset_id="meter", table="holding"
    )
