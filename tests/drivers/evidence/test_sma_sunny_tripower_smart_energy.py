"""SMA Sunny Tripower Smart Energy (``sma_sunny_tripower_smart_energy``, hybrid driver) against
independent register tables.

No public read-out with stated values was found. The evidence is OpenEMS's STP-SE battery
driver and evcc's sma-hybrid template: addresses, SMA data types (high word first), battery
power = discharge - charge power, SMA NaN, and the setpoint pair 40149/40151. The registers are
served by a plain server that refuses undefined addresses (as SMA devices do). See
fixtures/sma_sunny_tripower_smart_energy.json.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ampacity.assets import Quality
from ampacity.drivers.hybrid.driver import PROFILES, HybridProfile, create
from ampacity.drivers.modbus.plugin import ModbusConnection
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from evidence_kit import load
from plain_modbus import PlainModbusServer, PlainUnit, words

FIXTURE = load("sma_sunny_tripower_smart_energy")
UNIT = FIXTURE["unit_id"]


def unit() -> PlainUnit:
    plain = PlainUnit(fill=None)
    for address, fact in FIXTURE["holding"].items():
        plain.put(int(address), words(fact["value"], fact["type"], "big"))
    return plain


async def driver_for(server: PlainModbusServer):  # type: ignore[no-untyped-def]
    profile = load_profile_file(Path(PROFILES) / "sma_sunny_tripower_smart_energy.yaml")
    assert isinstance(profile, HybridProfile)
    context = BuildContext()
    entry = DeviceEntry(
        "se",
        profile,
        ModbusConnection(host="127.0.0.1", port=server.port),
        {key: f"se-{key}" for key, _ in profile.asset_kinds()},
    )
    return await create(entry, context), context


async def test_values_follow_the_independent_tables() -> None:
    async with PlainModbusServer({UNIT: unit()}) as server:
        driver, context = await driver_for(server)
        try:
            readings = {r.node_key: r for r in await driver.read_once()}
            for key, want in FIXTURE["expected"].items():
                assert readings[key].quality is Quality.GOOD, key
                assert readings[key].value == pytest.approx(want), key
            nan = FIXTURE["nan"]
            for address, kind in nan.items():
                if address.isdigit():
                    server.units[UNIT].put(int(address), [0xFFFF] * (2 if kind == "u32" else 4))
            readings = {r.node_key: r for r in await driver.read_once()}
            assert readings[nan["expect_bad"]].quality is Quality.BAD_OUT_OF_RANGE
        finally:
            await driver.link.close()
            await context.aclose()


async def test_setpoint_is_one_request_with_the_enable_code_and_803_on_release() -> None:
    async with PlainModbusServer({UNIT: unit()}) as server:
        driver, context = await driver_for(server)
        case = FIXTURE["setpoint_write"]
        try:
            result = await driver.write("se-battery", "BatteryPowerSetpoint", case["value_w"])
            assert result.read_back is None
            sent = [(w.function, w.address, list(w.values)) for w in server.writes]
            assert sent == [(16, case["address"], case["expect_words"])]
            server.writes.clear()
        finally:
            await driver.link.close()
            await context.aclose()
        release = FIXTURE["release"]
        sent = [(w.function, w.address, list(w.values)) for w in server.writes]
        assert sent == [(16, release["address"], release["expect_words"])]
