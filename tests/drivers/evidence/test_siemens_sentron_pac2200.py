"""Siemens SENTRON PAC2200 (``siemens_sentron_pac2200``) against an independent register table.

No public read-out of a PAC2200 was found; the evidence is the PAC2200 request table of Siemens
Industrial Edge's Node-RED nodes (addresses, FC3, FLOAT32 / FLOAT64, units), with signs and
energy directions cross-read from OpenEMS. Known values are encoded per that table, served from a
plain Modbus server and read through the driver. See fixtures/siemens_sentron_pac2200.json.
"""

from __future__ import annotations

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, verify
from meter_kit import check_mistake_is_caught, check_register_table
from plain_modbus import PlainModbusServer, running

PROFILE = "siemens_sentron_pac2200"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    facts = FIXTURE["register_table"]["facts"]
    # the device answers only defined offsets: no fill, every read must hit a served value
    server = PlainModbusServer(units_from_facts(facts, unit_id=1, table="holding", fill=None))
    async with server:
        config = ModbusDeviceConfig("grid", tcp=TcpEndpoint("127.0.0.1", server.port))
        async with running(ModbusDriver.from_profile_id(PROFILE, config)) as sink:
            await verify(sink, facts_expected(facts, "grid"), "register table")


@pytest.mark.parametrize("model", ["pac3200", "pac4200"])
async def test_pac3200_and_pac4200_answer_the_same_map(model: str) -> None:
    """METER-21/22: the Node-RED tables of the PAC3200 and PAC4200 (energies of the PAC4200 from
    OpenEMS) give the same offsets and formats; read through the same profile."""
    await check_register_table(
        PROFILE, FIXTURE, asset_id="grid", table="holding", fill=None, section=model
    )


@pytest.mark.parametrize(
    ("point", "mistake"),
    [("Frequency", "address"), ("EnergyImported", "word_order"), ("ActivePowerL2", "sign")],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(
        PROFILE, FIXTURE, point, mistake, asset_id="grid", table="holding"
    )
