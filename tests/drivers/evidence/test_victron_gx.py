"""Victron GX (``victron_gx``) against independent register tables.

No public read-out with stated values was found. The evidence is evcc's Victron template (unit
100 registers, grid and PV sums, battery power 842 inverted to + = discharge) and hass-victron's
register table (types; the VE.Bus setpoint 37 as signed 16-bit W), with the sign of the AC-in
setpoint from Victron's ESS mode 2 and 3 page. The registers are served by a plain server that
answers undefined addresses with an exception, on unit 100 (system) and 227 (VE.Bus). See
fixtures/victron_gx.json.
"""

from __future__ import annotations

import asyncio
import struct
import time
from itertools import zip_longest
from typing import Any

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import check, load
from plain_modbus import Collector, PlainModbusServer, PlainUnit, running

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


STATES = TABLE["states"]


async def _read_states(state_raw: int, mode_raw: int) -> tuple[Any, Any]:
    """BatteryState and ControlMode read through the profile from a GX whose VE.Bus state is
    ``state_raw`` and whose ESS mode is ``mode_raw``."""
    served = units()
    state, mode = STATES["battery_state"], STATES["control_mode"]
    served[state["unit_id"]].put(state["address"], [state_raw])
    served[mode["unit_id"]].put(mode["address"], [mode_raw])
    server = PlainModbusServer(served)
    async with server, running(driver_for(server)) as sink:
        return (
            await _decoded(sink, "gx-battery.BatteryState"),
            await _decoded(sink, "gx-battery.ControlMode"),
        )


DECODED = (Quality.GOOD, Quality.BAD_OUT_OF_RANGE)
"""What a decoded enum reads as (a value, or a code the table does not name); anything else is a
request that has not been answered yet, e.g. on a loaded machine."""


async def _decoded(sink: Collector, key: str, within_s: float = 10.0) -> Reading:
    deadline = time.monotonic() + within_s
    while (reading := sink.latest.get(key)) is None or reading.quality not in DECODED:
        assert time.monotonic() < deadline, f"{key} not decoded within {within_s} s: {reading}"
        await asyncio.sleep(0.02)
    return reading


async def test_vebus_state_and_ess_mode() -> None:
    """Each VE.Bus state and ESS mode of the independent table becomes the model's enum value;
    a code Victron's list does not name reads as out of range."""
    state_cases = STATES["battery_state"]["cases"]
    mode_cases = STATES["control_mode"]["cases"]
    pairs = list(zip_longest(state_cases, mode_cases, fillvalue=mode_cases[-1]))
    results = await asyncio.gather(*(_read_states(s["raw"], m["raw"]) for s, m in pairs))
    for (state_case, mode_case), (state, mode) in zip(pairs, results, strict=True):
        check(state, _expectation(state_case), f"VE.Bus state {state_case['name']}")
        check(mode, _expectation(mode_case), f"ESS mode {mode_case['name']}")


def _expectation(case: dict[str, Any]) -> dict[str, Any]:
    if "quality" in case:
        return {"quality": case["quality"]}
    return {"value": case["model_value"]}
