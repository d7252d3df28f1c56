"""Carlo Gavazzi EM/ET100 series (``carlo_gavazzi_em100``) against an independent register table.

The profile is written from Carlo Gavazzi's EM100/ET100 communication protocol 4.0; the evidence
is OpenEMS's EM100 driver (signed 32-bit low word first, x0.1 V, mA, x0.1 W, x0.1 kWh, frequency
an unsigned word): known values encoded per that table, served from a plain Modbus server and
read through the driver; the same check on broken copies of the profile must fail. See
fixtures/carlo_gavazzi_em100.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "carlo_gavazzi_em100"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="input")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("EnergyImported", "address"),
        ("CurrentL1", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePower", "sign"),
        ("Frequency", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="meter", table="input")
