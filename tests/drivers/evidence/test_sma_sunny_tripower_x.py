"""SMA Sunny Tripower X, SMA Modbus profile (``sma_sunny_tripower_x``) against independent evidence.

No public Modbus read-out of a Tripower X with stated values was found. The evidence is SMA's own
Tripower X register list (firmware 02.02.07.R) cross-read with two implementations that read the
X on unit 3 (an ioBroker template and a Homey app). Known values - partly a real Tripower X's as
its web interface showed them - are encoded per those tables on a plain server that, like SMA
devices, answers undefined addresses with an exception. See fixtures/sma_sunny_tripower_x.json.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ampacity.assets import WriteError
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from ampacity.drivers.registry import ReadTarget, all_profiles, builtin_profiles
from ampacity.server.read import read_device
from ampacity.sim.pv_inverter import RampedPvInverter
from ampacity.sim.server import SimServer, SimulatedDevice
from evidence_kit import fact_words, facts_expected, load, units_from_facts, verify
from meter_kit import break_profile, mismatches, shipped
from plain_modbus import PlainModbusServer, PlainUnit, hex_words, running

PROFILE = "sma_sunny_tripower_x"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]
UNIT = 3  # the SMA Modbus profile's unit id


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("pv", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


def units() -> dict[int, PlainUnit]:
    """The table's facts, with DC input C (a third register the kit's ``also`` cannot hold)."""
    tables = units_from_facts(TABLE["facts"], unit_id=UNIT, fill=None)
    for fact in TABLE["facts"]:
        extra: dict[str, Any] | None = fact.get("also_c")
        if extra is not None:
            tables[UNIT].put(int(extra["address"]), fact_words(fact, extra["test_value"]))
    return tables


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units())
    async with server, running(driver_for(server)) as sink:
        await verify(sink, facts_expected(TABLE["facts"], "pv"), "SMA Tripower X list")


async def test_sma_not_available_values() -> None:
    case = TABLE["not_available"]
    tables = units()
    for address, data in case["registers"].items():
        tables[UNIT].put(int(address), hex_words(data))
    server = PlainModbusServer(tables)
    async with server, running(driver_for(server)) as sink:
        await verify(sink, {f"pv.{p}": e for p, e in case["expect"].items()}, "SMA NaN")


async def test_power_limit_goes_to_the_volatile_setpoint_only() -> None:
    """6000 W of 15000 W is 40.00 % in 40023 (S16 FIX2); no persisted register is touched."""
    case = TABLE["limit_write"]
    tables = units()
    for address, values in case["expect_words"].items():  # writable: present, initially 0
        tables[UNIT].put(int(address), [0] * len(values))
    for address in case["never_written"]:  # present, so a write would succeed and be seen
        tables[UNIT].put(int(address), [0, 0])
    server = PlainModbusServer(tables)
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            nominal = await sink.wait_good(["pv.NominalPower"])
            assert nominal["pv.NominalPower"].value == case["nominal_w"]
            await driver.write("pv", "ActivePowerLimit", case["limit_w"])
        written = {str(w.address): list(w.values) for w in server.writes if w.unit_id == UNIT}
        for address, values in case["expect_words"].items():
            assert written.get(address) == values, (address, written)
        assert not {str(a) for a in case["never_written"]} & set(written), written


async def test_read_command_decodes_the_register_image() -> None:
    """What ``ampacity read sma_sunny_tripower_x --host ... --json`` prints for the image."""
    server = PlainModbusServer(units())
    async with server:
        target = ReadTarget(host="127.0.0.1", port=server.port)
        result = await read_device(PROFILE, target, builtin_profiles(), timeout_s=8)
    assert result.any_good, result.error
    payload: dict[str, Any] = result.as_json()
    points = next(a for a in payload["assets"] if a["key"] == "pv")["points"]
    assert points["DcPower"] == {"value": 4261, "unit": "W", "status": "Good"}
    assert points["CurrentL3"]["value"] == pytest.approx(6.185)
    assert points["EnergyProduced"]["value"] == 12345678


async def test_simulated_tripower_x_follows_the_limit() -> None:
    """The simulator built from the profile takes 40023 as the limit: 15 kW of sun, 6 kW out."""
    now = [0.0]
    pv = RampedPvInverter(15000.0, 15000.0, ramp_w_per_s=4000.0, clock=lambda: now[0])
    sim = SimServer([SimulatedDevice(all_profiles()[PROFILE], pv)], refresh_s=0.05)  # type: ignore[arg-type]
    _, port = await sim.start_tcp()
    try:
        config = ModbusDeviceConfig("pv", tcp=TcpEndpoint("127.0.0.1", port), timeout_s=0.5)
        driver = ModbusDriver.from_profile_id(PROFILE, config)
        async with running(driver) as sink:
            before = await sink.wait_good(["pv.ActivePower", "pv.NominalPower"])
            assert before["pv.ActivePower"].value == 15000
            await driver.write("pv", "ActivePowerLimit", 6000)
            assert pv.limit_w == pytest.approx(6000, abs=1.5)  # 40.00 % in 0.01 % steps
            now[0] += 1.0  # the simulated clock: 4 kW/s down from 15 kW
            assert pv.step() == pytest.approx(11000)
            now[0] += 9.0
            assert pv.step() == pytest.approx(6000, abs=1.5)
    finally:
        await sim.stop()


async def test_a_refused_setpoint_is_a_clear_write_error() -> None:
    """An X that refuses 40023 (absent here: exception 2) fails the write, naming the register."""
    server = PlainModbusServer(units())  # 40023 not present
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            await sink.wait_good(["pv.NominalPower"])
            with pytest.raises(WriteError, match=r"40023.*Modbus exception 2"):
                await driver.write("pv", "ActivePowerLimit", 6000)


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("VoltageL2", "address"),
        ("Frequency", "scale"),
        ("ActivePower", "word_order"),
        ("ActivePowerL2", "sign"),
        ("CurrentL1", "function"),
    ],
)
async def test_a_wrong_profile_fails_the_table(point: str, mistake: str) -> None:
    """The register-table check can fail: a copy of the profile with one mistake at ``point``
    reads a value other than the table's there (the shipped profile, read the same way, none)."""
    assert await table_mismatches(shipped(PROFILE)) == {}
    broken = break_profile(shipped(PROFILE), point, mistake)
    assert point in await table_mismatches(broken), f"{mistake} at {point} not caught"


async def table_mismatches(profile: Profile) -> dict[str, str]:
    """``point -> what was read`` where ``profile`` disagrees with the table's numeric facts
    (the serial number, a text, is checked by ``test_independent_register_table``)."""
    facts = [f for f in TABLE["facts"] if not f["point"].startswith("Identification.")]
    server = PlainModbusServer(units())
    config = ModbusDeviceConfig("pv", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    keys = {f"pv.{fact['point']}" for fact in facts}
    async with server, running(ModbusDriver(profile, config)) as sink:
        for _ in range(150):  # every point read Good, or at most 3 s
            if all(k in sink.latest and sink.latest[k].quality.is_good for k in keys):
                break
            await asyncio.sleep(0.02)
        readings = dict(sink.latest)
    return mismatches(readings, facts, "pv")
