"""Sungrow SH hybrids (``sungrow_sh``, hybrid driver) against independent register tables.

No public read-out with stated values was found. The evidence is evcc's sungrow-hybrid template
and mkaiser's Home Assistant Modbus map: addresses, word order (low word first), scales, the
battery direction from the running-state bits, the export-power sign, and the forced-mode
command codes. The registers are served as words by a plain Modbus server; the driver is built
from the shipped profile. See fixtures/sungrow_sh.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from ampacity.assets import Quality, WriteError
from ampacity.drivers.hybrid.driver import PROFILES, HybridProfile, create
from ampacity.drivers.modbus.plugin import ModbusConnection
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from evidence_kit import load
from plain_modbus import PlainModbusServer, PlainUnit

FIXTURE = load("sungrow_sh")
UNIT = FIXTURE["unit_id"]


def unit() -> PlainUnit:
    plain = PlainUnit(fill=0)
    for address, entry in FIXTURE["input"].items():
        plain.put(int(address), entry["words"], "input")
    for address, words in FIXTURE["holding"].items():
        plain.put(int(address), words, "holding")
    return plain


@pytest_asyncio.fixture
async def server() -> AsyncIterator[PlainModbusServer]:
    async with PlainModbusServer({UNIT: unit()}) as plain:
        yield plain


async def driver_for(server: PlainModbusServer):  # type: ignore[no-untyped-def]
    profile = load_profile_file(Path(PROFILES) / "sungrow_sh.yaml")
    assert isinstance(profile, HybridProfile)
    context = BuildContext()
    entry = DeviceEntry(
        "sh",
        profile,
        ModbusConnection(host="127.0.0.1", port=server.port),
        {key: f"sh-{key}" for key, _ in profile.asset_kinds()},
    )
    return await create(entry, context), context


async def read(driver) -> dict[str, object]:  # type: ignore[no-untyped-def]
    readings = await driver.read_once()
    setpoint = [r for r in readings if r.point == "BatteryPowerSetpoint"]
    # self-consumption (EMS mode 0): no setpoint in force, so no value
    assert [r.quality for r in setpoint] == [Quality.BAD_OUT_OF_RANGE], setpoint
    others = [r for r in readings if r.point != "BatteryPowerSetpoint"]
    assert all(r.quality is Quality.GOOD for r in others), others
    return {r.node_key: r.value for r in others}


async def test_values_follow_the_independent_tables(server: PlainModbusServer) -> None:
    driver, context = await driver_for(server)
    try:
        values = await read(driver)
        for key, want in FIXTURE["expected"].items():
            assert values[key] == pytest.approx(want), key
        assert values["sh-battery.ControlMode"] == 1  # EMS mode 0: the device's own control
        server.units[UNIT].put(13000, FIXTURE["discharging"]["13000"], "input")
        values = await read(driver)
        for key, want in FIXTURE["discharging"]["expected"].items():
            assert values[key] == pytest.approx(want), key
    finally:
        await driver.link.close()
        await context.aclose()


async def test_setpoint_is_the_forced_mode_with_the_command_codes(
    server: PlainModbusServer,
) -> None:
    driver, context = await driver_for(server)
    try:
        for case in FIXTURE["setpoint_writes"]:
            server.writes.clear()
            result = await driver.write("sh-battery", "BatteryPowerSetpoint", case["value_w"])
            sent = [[w.address, w.values[0]] for w in server.writes]
            assert all(w.function == 6 for w in server.writes), server.writes
            assert sent == case["expect"], case["note"]
            assert result.read_back == case["value_w"]
        modes = [r for r in await driver.read_once() if r.point == "ControlMode"]
        assert [r.value for r in modes] == [2]  # the setpoint's mode: external control
        server.writes.clear()
    finally:
        await driver.link.close()
        await context.aclose()
    assert [[w.address, w.values[0]] for w in server.writes] == FIXTURE["release"]["expect"]


async def test_a_device_that_keeps_its_mode_is_a_refused_write(server: PlainModbusServer) -> None:
    driver, context = await driver_for(server)
    real = server.units[UNIT].put

    def stubborn(address: int, values, table: str = "holding") -> None:  # type: ignore[no-untyped-def]
        if table == "holding" and address == 13049:
            return  # the inverter ignores the EMS mode write (e.g. external EMS configured)
        real(address, values, table)

    server.units[UNIT].put = stubborn  # type: ignore[method-assign]
    try:
        with pytest.raises(WriteError, match=r"EMS mode 0.*setpoint not taken"):
            await driver.write("sh-battery", "BatteryPowerSetpoint", 1000.0)
    finally:
        server.units[UNIT].put = real  # type: ignore[method-assign]
        await driver.link.close()
        await context.aclose()
