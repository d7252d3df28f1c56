"""PQ Plus MMB 700 (``pqplus_mmb700``) against independent register tables.

The profile is written from PQ Plus's Modbus protocol 3.0. The evidence is OpenEMS's UMD 97
driver (the same protocol; FLOAT32 at 19000..19050) and, for the energies, the identical block as
mbmd and OpenEMS read it on Janitza meters: known values encoded per those tables, served from a
plain Modbus server (on the input table: FC04 gives the actual values) and read through the
driver; the same check on broken copies of the profile must fail. See fixtures/pqplus_mmb700.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "pqplus_mmb700"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="input")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("EnergyImported", "address"),
        ("CurrentL2", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePowerL3", "sign"),
        ("VoltageL1", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="meter", table="input")
