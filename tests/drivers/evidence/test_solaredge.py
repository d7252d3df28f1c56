"""SolarEdge (``solaredge``) against a real read-out, another project's test data and independent
register facts for the power control.

* A SE10K-RWS at night (model 103, int + scale factors; solaredge_modbus issue #106) and openWB's
  single-phase register set (model 101) are laid out as SunSpec maps with the SunSpec Alliance's
  point offsets (not the project's model tables) and served from a plain Modbus server; the
  driver built from the shipped profile discovers and reads them.
* The meter's sign: a SolarEdge meter's W is + = export (evcc negates it).
* The limit: the Enhanced Dynamic Power Control registers as victronenergy/dbus-fronius writes
  them (0xF300 enable, 0xF304 rating, 0xF310 timeout, 0xF312 fallback, 0xF322 limit; floats and
  uint32 low word first, packed here with ``struct``).

See fixtures/solaredge.json.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest
from ampacity.assets import WriteError
from ampacity.drivers.modbus import Backoff, TcpLink
from ampacity.drivers.modbus.plugin import ModbusConnection, links_of
from ampacity.drivers.registry import BuildContext, DeviceEntry, builtin_profiles, driver_type
from ampacity.drivers.solaredge.driver import SolarEdgeDriver
from ampacity.drivers.solaredge.plugin import SolarEdgeProfile
from evidence_kit import FIXTURES, load, verify
from plain_modbus import PlainModbusServer, PlainUnit, hex_words, running, text_words, words

PROFILE = "solaredge"
FIXTURE = load(PROFILE)
LAYOUTS: dict[str, Any] = FIXTURE["layouts"]
EDPC: dict[str, Any] = FIXTURE["edpc"]
BASE = 40000

_WIRE = {"uint16": "u16", "enum16": "u16", "int16": "s16", "sunssf": "s16", "acc32": "u32"}


def point_words(value: Any, size: int, wire: str) -> list[int]:
    if wire == "string":
        return text_words(str(value), size)
    return words(int(value), _WIRE[wire])


def chain(models: list[tuple[str, dict[str, Any]]]) -> dict[int, int]:
    """'SunS', the models with their points, the end marker (unset points are 0)."""
    regs = {BASE: 0x5375, BASE + 1: 0x6E53}
    at = BASE + 2
    for model_id, values in models:
        layout = LAYOUTS["103" if model_id == "101" else model_id]
        regs[at], regs[at + 1] = int(model_id), layout["length"]
        for i in range(layout["length"]):
            regs[at + 2 + i] = 0
        for name, value in values.items():
            offset, size, wire = layout["points"][name]
            for i, word in enumerate(point_words(value, size, wire)):
                regs[at + 2 + offset + i] = word
        at += 2 + layout["length"]
    regs[at], regs[at + 1] = 0xFFFF, 0
    return regs


def se10k_models() -> list[tuple[str, dict[str, Any]]]:
    readout = FIXTURE["readouts"][0]
    fields = json.loads((FIXTURES / readout["file"]).read_text(encoding="utf-8"))
    models: dict[str, dict[str, Any]] = {"1": {}, "103": {}}
    for field, (model, point) in FIXTURE["field_points"].items():
        models[model][point] = fields[field]
    return [("1", models["1"]), ("103", models["103"])]


def openwb_registers() -> dict[int, int]:
    """openWB's words: lists are consecutive registers, 40093 is the acc32 energy."""
    readout = FIXTURE["readouts"][1]
    data = json.loads((FIXTURES / readout["file"]).read_text(encoding="utf-8"))
    regs = chain([("1", {"Mn": "SolarEdge", "Md": "SE4000H"}), ("101", {})])
    for key, value in data.items():
        address = int(key)
        if isinstance(value, list):
            for i, item in enumerate(value):
                regs[address + i] = item & 0xFFFF
        elif address == 40093:
            regs[address], regs[address + 1] = words(value, "u32")
        else:
            regs[address] = value & 0xFFFF
    return regs


def edpc_words(values: dict[str, Any]) -> dict[int, int]:
    out: dict[int, int] = {}
    for name, (address, wire) in EDPC["registers"].items():
        for i, word in enumerate(words(values[name], wire, EDPC["word_order"])):
            out[address + i] = word
    return out


def f32_of(pair: tuple[int, ...]) -> float:
    """A float from two words, low word first (packed independently of the driver)."""
    value: float = struct.unpack(">f", struct.pack(">HH", pair[1], pair[0]))[0]
    return value


def driver_for(server: PlainModbusServer) -> SolarEdgeDriver:
    link = TcpLink(
        "127.0.0.1", server.port, timeout_s=0.3, backoff=Backoff(initial_s=0.05, cap_s=0.2)
    )
    profile = builtin_profiles()[PROFILE]
    return SolarEdgeDriver("se", link, profile=profile, poll_s=0.2, request_timeout_s=0.3)  # type: ignore[arg-type]


def inverter_unit(regs: dict[int, int], edpc: dict[str, Any] | None = None) -> PlainUnit:
    """An inverter that answers exception 2 outside its map (as SolarEdge does)."""
    holding = dict(regs)
    if edpc is not None:
        holding.update(edpc_words(edpc))
    return PlainUnit(holding=holding, fill=None)


async def test_se10k_night_readout() -> None:
    readout = FIXTURE["readouts"][0]
    server = PlainModbusServer({1: inverter_unit(chain(se10k_models()))})
    async with server, running(driver_for(server)) as sink:
        expected = {f"se-inverter.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])


async def test_single_phase_register_set_as_openwb_decodes_it() -> None:
    readout = FIXTURE["readouts"][1]
    server = PlainModbusServer({1: inverter_unit(openwb_registers())})
    async with server, running(driver_for(server)) as sink:
        expected = {f"se-inverter.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])
        assert "se-inverter.CurrentL2" not in sink.latest  # model 101: one phase


async def test_hd_wave_trace_from_evcc() -> None:
    readout = FIXTURE["readouts"][2]
    regs: dict[int, int] = {}
    for address, data in {**readout["registers"], **readout["added_here"]}.items():
        if address == "note":
            continue
        values = hex_words(data) if isinstance(data, str) else data
        for i, word in enumerate(values):
            regs[int(address) + i] = word
    server = PlainModbusServer({1: inverter_unit(regs)})
    async with server, running(driver_for(server)) as sink:
        expected = {f"se-inverter.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])


async def test_meter_power_is_positive_for_import() -> None:
    case = FIXTURE["meter_sign"]
    models = [*se10k_models(), ("1", {"Mn": "SolarEdge", "Md": "WND-3Y-400-MB"}), ("203", {})]
    models[3] = ("203", dict(case["values"]))
    server = PlainModbusServer({1: inverter_unit(chain(models))})
    async with server, running(driver_for(server)) as sink:
        expected = {f"se-meter.{p}": e for p, e in case["expect"].items()}
        await verify(sink, expected, "meter sign")


async def test_the_limit_goes_to_the_dynamic_power_control_registers() -> None:
    device = dict(EDPC["device"])
    server = PlainModbusServer({1: inverter_unit(chain(se10k_models()), device)})
    regs = EDPC["registers"]
    async with server:
        driver = driver_for(server)
        await driver.discover(timeout_s=5)
        async with running(driver) as sink:
            await verify(
                sink,
                {
                    "se-inverter.NominalPower": {"value": device["max_active_power"]},
                    "se-inverter.ActivePowerLimit": {"value": device["max_active_power"]},
                },
                "EDPC off",
            )
            result = await driver.write("se-inverter", "ActivePowerLimit", EDPC["write_w"])
            assert result.written == pytest.approx(EDPC["write_w"])
            assert result.read_back == pytest.approx(EDPC["write_w"])
            by_address = {w.address: w.values for w in server.writes}
            assert f32_of(by_address[regs["dynamic_limit"][0]]) == pytest.approx(
                EDPC["expect_limit_pct"]
            )
            assert by_address[regs["enable"][0]] == (1,)
            # the timeout and fallback already had the wanted values: not rewritten (flash)
            assert regs["command_timeout"][0] not in by_address
            assert regs["fallback_limit"][0] not in by_address
            server.writes.clear()
            await driver.write("se-inverter", "ActivePowerLimit", EDPC["write_w"])
            assert [w.address for w in server.writes] == [regs["dynamic_limit"][0]]


async def test_settings_that_differ_are_written_once() -> None:
    device = {**EDPC["device"], "command_timeout": 0, "fallback_limit": 0.0}
    server = PlainModbusServer({1: inverter_unit(chain(se10k_models()), device)})
    regs = EDPC["registers"]
    async with server:
        driver = driver_for(server)
        await driver.discover(timeout_s=5)
        await driver.write("se-inverter", "ActivePowerLimit", 2500)
        by_address = {w.address: w.values for w in server.writes}
        timeout = by_address[regs["command_timeout"][0]]
        assert timeout[0] | timeout[1] << 16 == EDPC["expect_timeout_s"]
        fallback = by_address[regs["fallback_limit"][0]]
        assert f32_of(fallback) == pytest.approx(EDPC["expect_fallback_pct"])
        assert f32_of(by_address[regs["dynamic_limit"][0]]) == pytest.approx(25.0)
        server.writes.clear()
        await driver.write("se-inverter", "ActivePowerLimit", 2500)
        assert [w.address for w in server.writes] == [regs["dynamic_limit"][0]]


async def test_firmware_without_dynamic_power_control_refuses_the_limit_clearly() -> None:
    device = dict(EDPC["device"])
    unit = inverter_unit(chain(se10k_models()), device)
    dynamic = EDPC["registers"]["dynamic_limit"][0]
    del unit.holding[dynamic], unit.holding[dynamic + 1]  # exception 2 there
    server = PlainModbusServer({1: unit})
    async with server:
        driver = driver_for(server)
        await driver.discover(timeout_s=5)
        async with running(driver) as sink:
            with pytest.raises(WriteError, match=r"0xF322.*Modbus exception 2"):
                await driver.write("se-inverter", "ActivePowerLimit", 5000)
            reading = await sink.wait_for("se-inverter.Health.LastError")
            for _ in range(100):
                if "0xF322" in str(reading.value):
                    break
                await asyncio.sleep(0.02)
                reading = sink.latest["se-inverter.Health.LastError"]
            assert "Modbus exception 2" in str(reading.value)
            # the values are still read
            await verify(sink, {"se-inverter.Frequency": {"value": 50.03, "tolerance": 1e-9}}, "")


async def test_the_limit_is_refreshed_before_the_command_timeout() -> None:
    profile = builtin_profiles()[PROFILE]
    assert isinstance(profile, SolarEdgeProfile)
    short = profile.model_copy(
        update={"sunspec": profile.sunspec.model_copy(update={"revert_s": 1})}  # type: ignore[union-attr]
    )
    server = PlainModbusServer({1: inverter_unit(chain(se10k_models()), dict(EDPC["device"]))})
    dynamic = EDPC["registers"]["dynamic_limit"][0]
    async with server:
        link = TcpLink("127.0.0.1", server.port, timeout_s=0.3)
        driver = SolarEdgeDriver("se", link, profile=short, poll_s=0.1, request_timeout_s=0.3)
        await driver.discover(timeout_s=5)
        async with running(driver):
            await driver.write("se-inverter", "ActivePowerLimit", 3000)
            first = sum(w.address == dynamic for w in server.writes)
            for _ in range(150):  # the refresh is due after half the timeout (0.5 s)
                if sum(w.address == dynamic for w in server.writes) > first:
                    break
                await asyncio.sleep(0.02)
            sent = [w for w in server.writes if w.address == dynamic]
            assert len(sent) > first, "the limit was not re-sent"
            assert f32_of(sent[-1].values) == pytest.approx(30.0)


async def test_leader_and_follower_share_one_connection() -> None:
    """Two inverters behind the leader's TCP endpoint (units 1 and 2): two device entries, one
    shared connection, each unit's own values."""
    leader = chain(se10k_models())
    follower_models = se10k_models()
    follower_models[1][1].update({"W": 4321, "W_SF": 0})
    follower = chain(follower_models)
    server = PlainModbusServer({1: inverter_unit(leader), 2: inverter_unit(follower)})
    solaredge = driver_type("solaredge")
    assert solaredge.create is not None
    context = BuildContext()
    async with server:
        drivers = []
        for name, unit in (("leader", 1), ("follower", 2)):
            connection = ModbusConnection(host="127.0.0.1", port=server.port, unit_id=unit)
            entry = DeviceEntry(name, builtin_profiles()[PROFILE], connection, {}, 0.2)
            drivers.append(await solaredge.create(entry, context))
        links = links_of(context)
        shared = drivers[0]._link
        assert shared is drivers[1]._link and links.users(shared) == 2  # type: ignore[arg-type]
        sinks = []
        for driver in drivers:
            sinks.append(running(driver))
        async with sinks[0] as lead, sinks[1] as follow:
            await verify(lead, {"leader-inverter.ActivePower": {"value": 0}}, "leader")
            await verify(follow, {"follower-inverter.ActivePower": {"value": 4321}}, "follower")
        for driver in drivers:
            await driver.close()
        await context.aclose()


async def test_a_garbage_rating_is_not_a_value_and_blocks_the_limit() -> None:
    device = {**EDPC["device"], "max_active_power": float("nan")}
    server = PlainModbusServer({1: inverter_unit(chain(se10k_models()), device)})
    async with server:
        driver = driver_for(server)
        await driver.discover(timeout_s=5)
        async with running(driver) as sink:
            await verify(sink, {"se-inverter.NominalPower": {"quality": "BAD_OUT_OF_RANGE"}}, "")
            with pytest.raises(WriteError, match=r"no usable MaxActivePower \(0xF304\)"):
                await driver.write("se-inverter", "ActivePowerLimit", 3000)
        assert server.writes == []
