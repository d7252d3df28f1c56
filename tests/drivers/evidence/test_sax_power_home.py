"""SAX Power Home (``sax_power_home``) against independent register tables.

No public read-out with stated values was found. The evidence is evcc's SAX template and openWB's
SAX battery module: unit 64, SoC at 46, the battery power at 47 with its 16384 offset (+ =
discharge) and the discharge cap at 43 written with FC6. See fixtures/sax_power_home.json.
"""

from __future__ import annotations

import pytest
from ampacity.assets import OutOfRangeError
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import check, load
from plain_modbus import PlainModbusServer, PlainUnit, running

PROFILE = "sax_power_home"
FIXTURE = load(PROFILE)
UNIT = FIXTURE["unit_id"]


def server() -> PlainModbusServer:
    unit = PlainUnit(fill=None)
    for address, word in FIXTURE["registers"].items():
        unit.put(int(address), [word])
    return PlainModbusServer({UNIT: unit})


def driver_for(plain: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("sax", tcp=TcpEndpoint("127.0.0.1", plain.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


async def test_values_follow_the_independent_tables() -> None:
    plain = server()
    async with plain, running(driver_for(plain)) as sink:
        readings = await sink.wait_good(FIXTURE["expected"])
        for key, value in FIXTURE["expected"].items():
            check(readings[key], {"value": value}, key)
    plain.units[UNIT].put(47, [FIXTURE["charging"]["47"]])
    async with plain, running(driver_for(plain)) as sink:
        readings = await sink.wait_good(FIXTURE["charging"]["expected"])
        for key, value in FIXTURE["charging"]["expected"].items():
            check(readings[key], {"value": value}, key)


async def test_setpoint_is_the_discharge_cap_and_no_charge() -> None:
    plain = server()
    async with plain:
        driver = driver_for(plain)
        async with running(driver) as sink:
            await sink.wait_good(["sax.StateOfCharge"])
            for case in FIXTURE["setpoint_writes"]:
                plain.writes.clear()
                await driver.write("sax", "BatteryPowerSetpoint", case["value_w"])
                function, address, values = case["expect"]
                sent = [(w.function, w.address, list(w.values)) for w in plain.writes]
                assert sent == [(function, address, values)], case["note"]
            plain.writes.clear()
            with pytest.raises(OutOfRangeError):
                await driver.write("sax", "BatteryPowerSetpoint", -1000)
            assert plain.writes == []
