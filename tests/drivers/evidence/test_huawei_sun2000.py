"""Huawei SUN2000 (``huawei_sun2000``) against a recorded read-out and an independent register
table.

* huawei-solar-lib's recorded registers of a SUN2000L-3KTL (night) are served as they were from a
  plain server that answers exception 2 outside them; the engine reads them through the shipped
  profile (with its 1 s wait after connect) and the stated values are checked.
* huawei-solar-lib's register definitions (address, type, gain) with test values give the scaled
  and signed points, the I32 invalid value, and the limit's register (40126, U32 W).

See fixtures/huawei_sun2000.json.
"""

from __future__ import annotations

import pytest
from ampacity.assets import WriteError
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, units_from_readout, verify
from plain_modbus import PlainModbusServer, running

PROFILE = "huawei_sun2000"
FIXTURE = load(PROFILE)
READOUT = FIXTURE["readouts"][0]
TABLE = FIXTURE["register_table"]


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("hw", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


async def test_recorded_sun2000l_registers() -> None:
    server = PlainModbusServer(units_from_readout(READOUT, fill=None))
    async with server, running(driver_for(server)) as sink:
        expected = {f"hw.{p}": e for p, e in READOUT["expect"].items()}
        await verify(sink, expected, READOUT["source"])


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units_from_facts(TABLE["facts"], unit_id=1, fill=0))
    async with server, running(driver_for(server)) as sink:
        await verify(sink, facts_expected(TABLE["facts"], "hw"), "huawei-solar-lib")


async def test_invalid_i32_is_not_a_value() -> None:
    case = TABLE["invalid"]
    units = units_from_facts(TABLE["facts"], unit_id=1, fill=0)
    for address, words_ in case["registers"].items():
        units[1].put(int(address), words_)
    server = PlainModbusServer(units)
    async with server, running(driver_for(server)) as sink:
        await verify(sink, {f"hw.{p}": e for p, e in case["expect"].items()}, "invalid")


async def test_the_limit_is_the_fixed_value_derating_in_watts() -> None:
    case = TABLE["limit_write"]
    server = PlainModbusServer(units_from_facts(TABLE["facts"], unit_id=1, fill=0))
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            await sink.wait_good(["hw.ActivePowerLimit"])
            result = await driver.write("hw", "ActivePowerLimit", case["limit_w"])
            assert result.read_back == case["limit_w"]
        written = {str(w.address): list(w.values) for w in server.writes}
        assert written == case["expect_fc16"]


async def test_a_refused_limit_is_a_clear_write_error() -> None:
    units = units_from_readout(READOUT, fill=None)  # no 40126: exception 2 (illegal address)
    server = PlainModbusServer(units)
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            await sink.wait_good(["hw.NominalPower"])
            with pytest.raises(WriteError, match=r"40126.*Modbus exception 2"):
                await driver.write("hw", "ActivePowerLimit", 1500)
