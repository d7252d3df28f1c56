"""Victron GX (``victron_gx``) against independent register tables.

No public read-out with stated values was found. The evidence is evcc's Victron template (unit
100 registers, grid and PV sums, battery power 842 inverted to + = discharge) and hass-victron's
register table (types; the VE.Bus setpoint 37 as signed 16-bit W), with the sign of the AC-in
setpoint from Victron's ESS mode 2 and 3 page. The registers are served by a plain server that
answers undefined addresses with an exception, on unit 100 (system) and 227 (VE.Bus). See
fixtures/victron_gx.json.
"""

from __future__ import annotations

import struct

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import check, load
from plain_modbus import PlainModbusServer, PlainUnit, running

PROFILE = "victron_gx"
TABLE = load(PROFILE)["register_table"]
SYSTEM, VEBUS = 100, 227


def word(value: int, kind: str) -> int:
    return struct.unpack(">H", struct.pack(">h" if kind == "s16" else ">H", value))[0]


def units() -> dict[int, PlainUnit]:
    system = PlainUnit(fill=None)
    for fact in TABLE["facts"]:
        assert fact["unit_id"] == SYSTEM
        system.put(fact["address"], [word(fact["test_value"], fact["type"])])
    for address in TABLE["zero_registers"]["addresses"]:
        system.put(address, [0])
    vebus = PlainUnit(fill=None)
    vebus.put(TABLE["setpoint_write"]["address"], [0])
    return {SYSTEM: system, VEBUS: vebus}


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("gx", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


def expected() -> dict[str, float]:
    out = {f"gx-{f['asset']}.{f['point']}": f["model_value"] for f in TABLE["facts"] if f["point"]}
    out.update({f"gx-{s['asset']}.{s['point']}": s["model_value"] for s in TABLE["sums"]})
    return out


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units())
    async with server, running(driver_for(server)) as sink:
        readings = await sink.wait_good(expected())
        for key, value in expected().items():
            check(readings[key], {"value": value}, f"register table {key}")


async def test_setpoint_goes_to_the_vebus_ac_in_register_negated() -> None:
    case = TABLE["setpoint_write"]
    server = PlainModbusServer(units())
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            await sink.wait_good(["gx-battery.StateOfCharge"])
            result = await driver.write("gx-battery", "BatteryPowerSetpoint", case["value_w"])
        sent = [(w.unit_id, w.address, list(w.values)) for w in server.writes]
        assert (case["unit_id"], case["address"], case["expect_words"]) in sent, sent
        assert result.read_back == case["value_w"]  # read back through the same sign
