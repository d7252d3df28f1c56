"""Carlo Gavazzi EM24-DIN with RS485 (``carlo_gavazzi_em24_din``) against an independent register
table.

The profile is written from Carlo Gavazzi's EM24-DIN protocol (V4R0). The evidence is Victron's
EM24 RS485 support (dbus-cgwacs: signed 32-bit, low word first, x0.1 V / W / kWh, x0.001 A, FC3)
and mbmd's EM24 producer for the frequency: known values encoded per those tables, served from a
plain Modbus server and read through the driver; broken copies of the profile must fail. mbmd
reads the import counter at 0042h, which the vendor table names the partial counter; served next
to the total, a profile that reads 0042h fails. See fixtures/carlo_gavazzi_em24_din.json.
"""

from __future__ import annotations

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from evidence_kit import fact_words, load, units_from_facts
from meter_kit import check_mistake_is_caught, check_register_table, mismatches, shipped
from plain_modbus import PlainModbusServer, running

PROFILE = "carlo_gavazzi_em24_din"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="holding")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("CurrentL3", "address"),
        ("EnergyExported", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePowerL2", "sign"),
        ("VoltageL1", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(
        PROFILE, FIXTURE, point, mistake, asset_id="meter", table="holding"
    )


async def _read_with_partial(profile: Profile, within_s: float) -> dict[str, str]:
    """Serve the table facts plus a different value in the partial counter; what differs."""
    facts = FIXTURE["register_table"]["facts"]
    units = units_from_facts(facts, unit_id=1, table="holding")
    partial = FIXTURE["partial_counter"]
    units[1].put(partial["address"], fact_words({**partial, "point": "partial"}), "holding")
    keys = {f"meter.{fact['point']}" for fact in facts}
    async with PlainModbusServer(units) as server:
        config = ModbusDeviceConfig("meter", tcp=TcpEndpoint("127.0.0.1", server.port))
        async with running(ModbusDriver(profile, config)) as sink:
            readings = await sink.wait_good(keys, timeout_s=within_s)
    return mismatches(readings, facts, "meter")


async def test_the_import_total_is_not_the_partial_counter() -> None:
    assert await _read_with_partial(shipped(PROFILE), within_s=5.0) == {}

    data = shipped(PROFILE).model_dump(mode="python", exclude_unset=True)
    data["assets"][0]["points"]["EnergyImported"]["address"] = FIXTURE["partial_counter"]["address"]
    found = await _read_with_partial(Profile.model_validate(data), within_s=5.0)
    assert found.keys() == {"EnergyImported"}
    assert found["EnergyImported"].startswith("12500.0")
