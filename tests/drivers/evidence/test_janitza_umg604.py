"""Janitza UMG 604 (``janitza_umg604``) against an independent register table.

No public read-out of a UMG device was found; the addresses, FLOAT32 type and units of the
openWB Janitza counter module and OpenEMS's UMG 96RM-E driver (which read the same "frequently
used values" block) are the evidence. Known values are encoded per that table, served from a
plain Modbus server, and read through the driver. See fixtures/janitza_umg604.json.
"""

from __future__ import annotations

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, verify
from meter_kit import check_mistake_is_caught, check_register_table
from plain_modbus import PlainModbusServer, running

PROFILE = "janitza_umg604"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    facts = FIXTURE["register_table"]["facts"]
    server = PlainModbusServer(units_from_facts(facts, unit_id=1, table="holding"))
    async with server:
        config = ModbusDeviceConfig("sub", tcp=TcpEndpoint("127.0.0.1", server.port))
        async with running(ModbusDriver.from_profile_id(PROFILE, config)) as sink:
            await verify(sink, facts_expected(facts, "sub"), "register table")


async def test_reads_fc3_holding_registers_as_the_sources_do() -> None:
    """Both sources read the block with FC3; an FC4-only server must not satisfy the driver."""
    facts = FIXTURE["register_table"]["facts"][:1]
    units = units_from_facts(facts, unit_id=1, table="input", fill=None)
    server = PlainModbusServer(units)
    async with server:
        config = ModbusDeviceConfig("sub", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.3)
        async with running(ModbusDriver.from_profile_id(PROFILE, config)) as sink:
            reading = await sink.wait_for("sub.VoltageL1")
            assert reading.value is None, reading


async def test_b2x_meters_answer_the_same_block() -> None:
    """METER-12: mbmd's Janitza B23 map (from the B-series manual) has the same addresses, FC3,
    FLOAT32 and Wh energies at 19068/19076 as the profile reads."""
    await check_register_table(PROFILE, FIXTURE, asset_id="sub", table="holding", section="b2x")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [("EnergyImported", "address"), ("VoltageL2", "word_order"), ("ActivePowerL3", "sign")],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    await check_mistake_is_caught(PROFILE, FIXTURE, point, mistake, asset_id="sub", table="holding")
