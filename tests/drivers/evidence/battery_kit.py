"""The two checks every battery profile with a register-table fixture shares: the table's values
decode as the independent source states, and ``BatteryPowerSetpoint`` goes out as the one FC16
request (setpoint and enable code) the source describes. The fixture holds ``register_table``
with ``facts`` and ``setpoint_write`` (address, value_w, expect_words)."""

from __future__ import annotations

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, verify
from plain_modbus import PlainModbusServer, running

ASSET = "bat"


def driver_for(profile: str, server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig(ASSET, tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(profile, config)


async def check_register_table(profile: str, unit_id: int) -> None:
    """Serve the table's known values (unknown addresses refused) and compare the readings."""
    table = load(profile)["register_table"]
    server = PlainModbusServer(units_from_facts(table["facts"], unit_id=unit_id, fill=None))
    async with server, running(driver_for(profile, server)) as sink:
        await verify(sink, facts_expected(table["facts"], ASSET), "register table")


async def check_setpoint_request(profile: str, unit_id: int) -> None:
    """Write the fixture's setpoint; the device must get the stated words in one FC16 request."""
    table = load(profile)["register_table"]
    case = table["setpoint_write"]
    units = units_from_facts(table["facts"], unit_id=unit_id, fill=None)
    units[unit_id].put(case["address"], [0] * len(case["expect_words"]))  # writable parameters
    server = PlainModbusServer(units)
    async with server:
        driver = driver_for(profile, server)
        async with running(driver) as sink:
            await sink.wait_good([f"{ASSET}.ActivePower"])
            await driver.write(ASSET, "BatteryPowerSetpoint", case["value_w"])
        sent = [(w.function, w.address, list(w.values)) for w in server.writes]
        assert (16, case["address"], case["expect_words"]) in sent, sent
