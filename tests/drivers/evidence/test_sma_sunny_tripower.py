"""SMA Sunny Tripower, SMA Modbus profile (``sma_sunny_tripower``) against independent evidence.

No public raw read-out with stated values was found. The evidence is a second SMA document - the
SMA Modbus list of the STP 15000TL-30..25000TL-30 (firmware 2.83.03.R), as transcribed in a
public repository - cross-read with openWB's SMA inverter module. Known values are encoded per
that list (address, S32/U32/U64, FIX0/FIX2/FIX3) on a plain server that, like SMA devices,
answers undefined addresses with an exception. See fixtures/sma_sunny_tripower.json.
"""

from __future__ import annotations

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, verify
from plain_modbus import PlainModbusServer, hex_words, running

PROFILE = "sma_sunny_tripower"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]
UNIT = 3  # the SMA Modbus profile's unit id


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("pv", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units_from_facts(TABLE["facts"], unit_id=UNIT, fill=None))
    async with server, running(driver_for(server)) as sink:
        await verify(sink, facts_expected(TABLE["facts"], "pv"), "SMA list")


async def test_sma_not_available_values() -> None:
    case = TABLE["not_available"]
    units = units_from_facts(TABLE["facts"], unit_id=UNIT, fill=None)
    for address, data in case["registers"].items():
        units[UNIT].put(int(address), hex_words(data))
    server = PlainModbusServer(units)
    async with server, running(driver_for(server)) as sink:
        await verify(sink, {f"pv.{p}": e for p, e in case["expect"].items()}, "SMA NaN")


async def test_power_limit_goes_to_plant_control_registers() -> None:
    case = TABLE["limit_write"]
    units = units_from_facts(TABLE["facts"], unit_id=UNIT, fill=None)
    for address, values in case["expect_words"].items():  # writable: present, initially 0
        units[UNIT].put(int(address), [0] * len(values))
    server = PlainModbusServer(units)
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            nominal = await sink.wait_good(["pv.NominalPower"])
            assert nominal["pv.NominalPower"].value == case["nominal_w"]
            await driver.write("pv", "ActivePowerLimit", case["limit_w"])
        written = {str(w.address): list(w.values) for w in server.writes if w.unit_id == UNIT}
        for address, values in case["expect_words"].items():
            assert written.get(address) == values, (address, written)
