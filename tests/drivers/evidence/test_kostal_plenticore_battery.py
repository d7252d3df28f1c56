"""KOSTAL PLENTICORE battery (``kostal_plenticore_battery``) against independent register tables.

No public read-out with stated values was found. The evidence is OpenEMS's KOSTAL PLENTICORE ESS
driver and openWB's KOSTAL battery module: addresses, types, the float word order (LSWMSW =
low word first), the battery sign (+ = discharge) and the setpoint register 1034. Known values
are encoded per those tables on a plain server that answers undefined addresses with an
exception. See fixtures/kostal_plenticore_battery.json.
"""

from __future__ import annotations

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, verify
from plain_modbus import PlainModbusServer, running

PROFILE = "kostal_plenticore_battery"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]
UNIT = 71  # KOSTAL unit id


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("bat", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units_from_facts(TABLE["facts"], unit_id=UNIT, fill=None))
    async with server, running(driver_for(server)) as sink:
        await verify(sink, facts_expected(TABLE["facts"], "bat"), "register table")


async def test_setpoint_is_one_request_with_the_enable_code() -> None:
    case = TABLE["setpoint_write"]
    units = units_from_facts(TABLE["facts"], unit_id=UNIT, fill=None)
    units[UNIT].put(case["address"], [0] * len(case["expect_words"]))  # writable parameters
    server = PlainModbusServer(units)
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            await sink.wait_good(["bat.ActivePower"])
            await driver.write("bat", "BatteryPowerSetpoint", case["value_w"])
        sent = [(w.function, w.address, list(w.values)) for w in server.writes]
        assert (16, case["address"], case["expect_words"]) in sent, sent
