"""Sungrow SG string inverters (``sungrow_sg``) against OpenEMS's SG125CX-P2 register image.

The input registers OpenEMS's Sungrow test serves (device type code at 4999, then the 5000 block,
32-bit values low word first) are served as they are from a plain Modbus server; the engine,
built from the shipped profile, reads them, and the values that test asserts are checked. The
limit write is checked against the setting OpenEMS's test expects (62500 W of 125 kW -> 500 in
0.1 %, FC6 at 5007) after the limitation switch (5006 = 0xAA). See fixtures/sungrow_sg.json.
"""

from __future__ import annotations

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import load, units_from_readout, verify
from plain_modbus import PlainModbusServer, running

PROFILE = "sungrow_sg"
FIXTURE = load(PROFILE)
READOUT = FIXTURE["readouts"][0]


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("sg", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


async def test_openems_register_image() -> None:
    server = PlainModbusServer(units_from_readout(READOUT, fill=0))
    async with server, running(driver_for(server)) as sink:
        expected = {f"sg.{p}": e for p, e in READOUT["expect"].items()}
        await verify(sink, expected, READOUT["source"])


async def test_the_limit_is_the_limitation_setting_in_tenths_of_a_percent() -> None:
    case = FIXTURE["limit_write"]
    server = PlainModbusServer(units_from_readout(READOUT, fill=0))
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            nominal = await sink.wait_good(["sg.NominalPower"])
            assert nominal["sg.NominalPower"].value == case["nominal_w"]
            result = await driver.write("sg", "ActivePowerLimit", case["limit_w"])
            assert result.written == case["limit_w"]
            await driver.write("sg", "ActivePowerLimit", case["limit_w"])
        sent = [[w.address, *w.values] for w in server.writes if w.function == 6]
        # the switch once per connection, then the setting with every write
        assert sent == [*case["expect_fc6"], case["expect_fc6"][1]], sent
