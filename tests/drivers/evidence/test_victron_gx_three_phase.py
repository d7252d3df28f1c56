"""Victron GX, three-phase (``victron_gx_three_phase``, hybrid driver) against the independent
register tables of ``fixtures/victron_gx.json`` (evcc's Victron template, hass-victron's register
table, the AC-in sign from Victron's ESS mode 2 and 3 page): the same system values on unit 100,
and the setpoint split over the VE.Bus AC-in setpoints 37 / 40 / 41 in one FC16 block."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from ampacity.assets import Quality, WriteError
from ampacity.drivers.hybrid.driver import PROFILES, HybridProfile, create
from ampacity.drivers.modbus.plugin import ModbusConnection
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from evidence_kit import check, load
from plain_modbus import PlainModbusServer, PlainUnit

TABLE = load("victron_gx")["register_table"]
STATES = TABLE["states"]
SYSTEM, VEBUS = 100, 227


def word(value: int, kind: str) -> int:
    return struct.unpack(">H", struct.pack(">h" if kind == "s16" else ">H", value))[0]


def units() -> dict[int, PlainUnit]:
    system = PlainUnit(fill=None)
    for fact in TABLE["facts"]:
        system.put(fact["address"], [word(fact["test_value"], fact["type"])])
    for address in TABLE["zero_registers"]["addresses"]:
        system.put(address, [0])
    system.put(STATES["control_mode"]["address"], [3])  # ESS mode 3, external control
    vebus = PlainUnit(fill=None)
    vebus.put(37, [0, 0, 0, 0, 0])
    vebus.put(STATES["battery_state"]["address"], [252])  # external control
    return {SYSTEM: system, VEBUS: vebus}


async def driver_for(server: PlainModbusServer):  # type: ignore[no-untyped-def]
    profile = load_profile_file(Path(PROFILES) / "victron_gx_three_phase.yaml")
    assert isinstance(profile, HybridProfile)
    context = BuildContext()
    entry = DeviceEntry(
        "gx",
        profile,
        ModbusConnection(host="127.0.0.1", port=server.port),
        {key: f"gx-{key}" for key, _ in profile.asset_kinds()},
    )
    return await create(entry, context), context


def expected() -> dict[str, float]:
    out = {f"gx-{f['asset']}.{f['point']}": f["model_value"] for f in TABLE["facts"] if f["point"]}
    out.update({f"gx-{s['asset']}.{s['point']}": s["model_value"] for s in TABLE["sums"]})
    out["gx-battery.BatteryState"] = 6  # VE.Bus 252 external control
    out["gx-battery.ControlMode"] = 2  # ESS mode 3
    return out


async def test_vebus_state_and_ess_mode() -> None:
    """Every case of the independent state table (hass-victron) becomes the model's value."""
    state, mode = STATES["battery_state"], STATES["control_mode"]
    async with PlainModbusServer(units()) as server:
        driver, context = await driver_for(server)
        try:
            for state_case in state["cases"]:
                server.units[VEBUS].put(state["address"], [state_case["raw"]])
                reading = _by_key(await driver.read_once())["gx-battery.BatteryState"]
                check(reading, _expectation(state_case), f"VE.Bus state {state_case['name']}")
            for mode_case in mode["cases"]:
                server.units[SYSTEM].put(mode["address"], [mode_case["raw"]])
                reading = _by_key(await driver.read_once())["gx-battery.ControlMode"]
                check(reading, _expectation(mode_case), f"ESS mode {mode_case['name']}")
        finally:
            await driver.link.close()
            await context.aclose()


async def test_a_setpoint_outside_ess_mode_3_is_refused_before_it_is_written() -> None:
    async with PlainModbusServer(units()) as server:
        server.units[SYSTEM].put(STATES["control_mode"]["address"], [1])  # the GX's own ESS
        driver, context = await driver_for(server)
        try:
            with pytest.raises(WriteError, match=r"ESS mode 1 .*set ESS mode 3"):
                await driver.write("gx-battery", "BatteryPowerSetpoint", 2000.0)
            assert server.writes == []
        finally:
            await driver.link.close()
            await context.aclose()


def _by_key(readings: Any) -> dict[str, Any]:
    return {r.node_key: r for r in readings}


def _expectation(case: dict[str, Any]) -> dict[str, Any]:
    if "quality" in case:
        return {"quality": case["quality"]}
    return {"value": case["model_value"]}


async def test_values_and_the_split_setpoint() -> None:
    async with PlainModbusServer(units()) as server:
        driver, context = await driver_for(server)
        try:
            readings = {r.node_key: r for r in await driver.read_once()}
            for key, value in expected().items():
                assert readings[key].quality is Quality.GOOD, key
                assert readings[key].value == pytest.approx(value), key
            result = await driver.write("gx-battery", "BatteryPowerSetpoint", 3000.0)
            minus_1000 = 0xFC18  # -1000 W per phase at AC-in: fed back, the battery discharges
            sent = [(w.unit_id, w.function, w.address, list(w.values)) for w in server.writes]
            assert sent == [(VEBUS, 16, 37, [minus_1000, 0, 0, minus_1000, minus_1000])]
            assert result.read_back == 3000.0
        finally:
            await driver.link.close()
            await context.aclose()


async def test_setpoints_the_gx_overwrites_are_a_refused_write() -> None:
    async with PlainModbusServer(units()) as server:
        vebus = server.units[VEBUS]
        real = vebus.put
        vebus.put = lambda address, values, table="holding": None  # type: ignore[method-assign]
        driver, context = await driver_for(server)
        try:
            with pytest.raises(WriteError, match=r"not taken \(ESS mode 3"):
                await driver.write("gx-battery", "BatteryPowerSetpoint", -1500.0)
        finally:
            vebus.put = real  # type: ignore[method-assign]
            await driver.link.close()
            await context.aclose()
