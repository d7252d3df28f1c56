"""Carlo Gavazzi EM/ET300 series and EM24 Ethernet (``carlo_gavazzi_em300``) against independent
register tables.

The profile is written from Carlo Gavazzi's EM300/ET300 communication protocol (and, for the
EM24 Ethernet, transcriptions of its protocol). The evidence is OpenEMS's EM300 driver for the
EM/ET300 series and Victron's EM24 Ethernet support (signed 32-bit, low word first, x0.1 V,
x0.001 A, x0.1 W, x0.1 kWh): known values encoded per those tables, served from a plain Modbus
server and read through the driver; the same check on broken copies of the profile must fail.
See fixtures/carlo_gavazzi_em300.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "carlo_gavazzi_em300"
FIXTURE = load(PROFILE)


async def test_em300_series_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="input")


async def test_em24_ethernet_register_table() -> None:
    await check_register_table(
        PROFILE, FIXTURE, asset_id="meter", table="input", section="em24_ethernet"
    )


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("CurrentL2", "address"),
        ("EnergyExported", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePowerL2", "sign"),
        ("EnergyImported", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="meter", table="input")
