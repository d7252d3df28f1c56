"""TQ Energy Manager EM 300 / KSEM (``tq_energy_manager``) against independent register tables.

The profile is written from TQ's "Modbus Slave.0013" technical note. The evidence is Victron's
KSEM driver (SunSpec power registers int16 x10 W, native big-endian uint32/uint64 values) and
OpenEMS's B-Control EM 300 driver (currents, voltages, energies): known values encoded per those
tables, served from a plain Modbus server and read through the driver; the same check on broken
copies of the profile must fail. See fixtures/tq_energy_manager.json.
"""

from __future__ import annotations

import pytest
from evidence_kit import load
from meter_kit import check_mistake_is_caught, check_register_table

PROFILE = "tq_energy_manager"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="holding")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("VoltageL2", "address"),
        ("ActivePower", "scale"),
        ("EnergyImported", "word_order"),
        ("ActivePowerL2", "sign"),
        ("Frequency", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(
        PROFILE, FIXTURE, point, mistake, asset_id="meter", table="holding"
    )
