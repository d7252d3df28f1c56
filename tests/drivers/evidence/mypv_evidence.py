"""Evidence checks shared by the three my-PV heating-rod profiles (AC•THOR, AC•THOR 9s, AC
ELWA-E): the fixture's register facts, its operation-state codes and its setpoint frames, served
from a plain Modbus server and read through the shipped profile."""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.assets import OutOfRangeError, Quality
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from ampacity.drivers.registry import builtin_profiles
from evidence_kit import facts_expected, units_from_facts, verify
from plain_modbus import PlainModbusServer, running

ASSET = "rod"


def driver_for(profile_id: str, server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig(ASSET, tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(profile_id, config)


async def check_register_table(profile_id: str, fixture: dict[str, Any]) -> None:
    facts = fixture["register_table"]["facts"]
    server = PlainModbusServer(units_from_facts(facts, unit_id=1))
    async with server, running(driver_for(profile_id, server)) as sink:
        await verify(sink, facts_expected(facts, ASSET), "register table")


async def check_states(profile_id: str, fixture: dict[str, Any]) -> None:
    """Every state code the source names gives its model state; an unknown code is Bad."""
    facts = fixture["register_table"]["facts"]
    states = fixture["register_table"]["states"]
    cases = {int(raw): {"value": model} for raw, model in states["raw_to_model"].items()}
    cases[int(states["unknown_raw"])] = {"quality": "BAD_OUT_OF_RANGE"}
    for raw, want in cases.items():
        units = units_from_facts(facts, unit_id=1)
        units[1].put(int(states["register"]), [raw])
        server = PlainModbusServer(units)
        async with server, running(driver_for(profile_id, server)) as sink:
            await verify(sink, {f"{ASSET}.RunState": want}, f"state code {raw}")


async def check_setpoint(profile_id: str, fixture: dict[str, Any]) -> None:
    """The frames the sources describe: the timeout before the first setpoint only, then the
    power in W as one UINT16 at 1000; a value above the rod's rating reaches nothing."""
    facts = fixture["register_table"]["facts"]
    case = fixture["register_table"]["setpoint_write"]
    server = PlainModbusServer(units_from_facts(facts, unit_id=1))
    async with server:
        driver = driver_for(profile_id, server)
        async with running(driver) as sink:
            await sink.wait_good([f"{ASSET}.ActivePower"])
            with pytest.raises(OutOfRangeError):
                await driver.write(ASSET, "PowerSetpoint", float(case["too_high_w"]))
            assert server.writes == []
            await driver.write(ASSET, "PowerSetpoint", float(case["value_w"]))
            await driver.write(ASSET, "PowerSetpoint", float(case["value_w"]))
            shown = await sink.wait_for(f"{ASSET}.PowerSetpoint")
            assert shown.quality is Quality.GOOD and shown.value == case["value_w"]
    sent = [(w.address, list(w.values)) for w in server.writes]
    once = [(e["address"], e["words"]) for e in case["expect"] if e.get("once")]
    every = [(e["address"], e["words"]) for e in case["expect"] if not e.get("once")]
    assert sent == once + every + every, sent


def check_refresh_beats_the_timeout(
    profile_id: str, fixture: dict[str, Any], timeout_s: float
) -> None:
    """The setpoint is re-sent well within the device's power timeout (at most half of it)."""
    profile = builtin_profiles()[profile_id]
    assert isinstance(profile, Profile)
    write = profile.assets[0].points["PowerSetpoint"].write
    assert write is not None and write.refresh_s is not None
    assert write.refresh_s <= timeout_s / 2, (write.refresh_s, timeout_s)
    assert write.max == fixture["register_table"]["setpoint_write"]["max_w"]
