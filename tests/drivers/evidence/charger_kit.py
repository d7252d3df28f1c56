"""Evidence checks shared by the charger profiles: real read-outs and independent register facts
served from the plain server and read through the shipped profile (read from its own file), the
vehicle states a source documents, the setpoint frame, and the same checks on a profile broken
in memory (``meter_kit.break_profile``), which must fail.

A fixture's ``readouts[]`` hold words as logged (``registers``: address or ``table:address`` →
hex bytes) with ``expect`` (point → value / quality); ``register_table.facts`` one fact per
point; ``register_table.states`` the raw state codes with ``VehicleConnected``/``Charging``;
``register_table.write`` the frame a setpoint must become (function, address, words).

Points are named ``Point`` on a single-asset device and ``assetkey.Point`` on a device with
several assets (``connector2.ActivePower``); ``device_id`` is the configured device id.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Any

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from evidence_kit import fact_words, units_from_readout
from meter_kit import shipped
from plain_modbus import PlainModbusServer, PlainUnit, running


def key_of(device_id: str, point: str) -> str:
    """The reading key of ``Point`` (single asset) or ``assetkey.Point`` (several assets)."""
    asset, dot, name = point.partition(".")
    return (
        f"{device_id}-{asset}.{name}"
        if dot and not asset[:1].isupper()
        else (f"{device_id}.{point}")
    )


def _config(asset_id: str, port: int, unit_id: int | None) -> ModbusDeviceConfig:
    return ModbusDeviceConfig(
        asset_id, tcp=TcpEndpoint("127.0.0.1", port), unit_id=unit_id, timeout_s=0.5
    )


async def read_units(
    profile: Profile,
    units: dict[int, PlainUnit],
    keys: set[str],
    *,
    asset_id: str,
    unit_id: int | None = None,
    within_s: float = 5.0,
) -> dict[str, Reading]:
    """Serve ``units`` and read through ``profile`` until every key is Good or time is up."""
    async with PlainModbusServer(units) as server:
        config = _config(asset_id, server.port, unit_id)
        async with running(ModbusDriver(profile, config)) as sink:
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline:
                if all(
                    (r := sink.latest.get(k)) is not None and r.quality is Quality.GOOD
                    for k in keys
                ):
                    break
                await asyncio.sleep(0.02)
            return {k: v for k, v in sink.latest.items() if k in keys}


def differences(
    readings: Mapping[str, Reading], expect: Mapping[str, Mapping[str, Any]], asset_id: str
) -> dict[str, str]:
    """``point -> what was read`` for every expectation that does not hold."""
    out: dict[str, str] = {}
    for point, want in expect.items():
        reading = readings.get(key_of(asset_id, point))
        if reading is None:
            out[point] = "no reading"
            continue
        if "quality" in want:
            if reading.quality is not Quality[want["quality"]]:
                out[point] = f"quality {reading.quality.name}"
            continue
        if reading.quality is not Quality.GOOD:
            out[point] = f"quality {reading.quality.name}"
            continue
        value, expected = reading.value, want["value"]
        if isinstance(expected, bool | str):
            if value != expected:
                out[point] = f"{value!r}, expected {expected!r}"
        elif not (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isclose(value, expected, rel_tol=1e-9, abs_tol=want.get("tolerance", 1e-9))
        ):
            out[point] = f"{value!r}, expected {expected!r}"
    return out


async def readout_differences(
    profile: Profile,
    readout: Mapping[str, Any],
    *,
    asset_id: str,
    within_s: float = 5.0,
    also_units: tuple[int, ...] = (),
) -> dict[str, str]:
    """Serve one read-out (unset words read 0; ``also_units`` answer with zeros too) and
    compare with what its source states."""
    units = units_from_readout(readout, fill=0)
    for uid in also_units:
        units.setdefault(uid, PlainUnit(fill=0))
    keys = {key_of(asset_id, p) for p in readout["expect"]}
    readings = await read_units(
        profile,
        units,
        keys,
        asset_id=asset_id,
        unit_id=int(readout["unit_id"]),
        within_s=within_s,
    )
    return differences(readings, readout["expect"], asset_id)


async def table_differences(
    profile: Profile,
    facts: list[Mapping[str, Any]],
    *,
    device_id: str,
    unit_id: int,
    table: str = "holding",
    within_s: float = 3.0,
    also_units: tuple[int, ...] = (),
) -> dict[str, str]:
    """Serve every fact's test value (encoded by the fact's own type, scale and word order;
    ``also_units`` answer with zeros) and compare with its model value."""
    unit = PlainUnit(fill=0)
    for fact in facts:
        unit.put(int(fact["address"]), fact_words(fact), fact.get("table", table))
    expect = {f["point"]: {"value": f["model_value"]} for f in facts}
    keys = {key_of(device_id, p) for p in expect}
    units = {unit_id: unit, **{uid: PlainUnit(fill=0) for uid in also_units if uid != unit_id}}
    readings = await read_units(
        profile, units, keys, asset_id=device_id, unit_id=unit_id, within_s=within_s
    )
    return differences(readings, expect, device_id)


async def state_differences(
    profile: Profile,
    states: list[Mapping[str, Any]],
    *,
    address: int,
    asset_id: str,
    unit_id: int,
    table: str = "holding",
    within_s: float = 5.0,
) -> dict[str, str]:
    """Each documented raw state code gives the documented ``VehicleConnected``/``Charging``."""
    out: dict[str, str] = {}
    for state in states:
        unit = PlainUnit(fill=0)
        raw = state["raw"]
        unit.put(address, [raw] if isinstance(raw, int) else list(raw), table)
        expect = {k: {"value": v} for k, v in state.items() if k != "raw"}
        keys = {key_of(asset_id, p) for p in expect}
        readings = await read_units(
            profile, {unit_id: unit}, keys, asset_id=asset_id, unit_id=unit_id, within_s=within_s
        )
        for point, why in differences(readings, expect, asset_id).items():
            out[f"{raw}:{point}"] = why
    return out


async def written_frames(
    profile: Profile,
    *,
    asset_id: str,
    point: str,
    value: float,
    unit_id: int,
    ready: str,
) -> list[tuple[int, int, list[int]]]:
    """``(function, address, words)`` of every request the setpoint sent (after ``ready`` read
    Good); ``point`` and ``ready`` as in the fixtures (``assetkey.Point`` on several assets)."""
    async with PlainModbusServer({unit_id: PlainUnit(fill=0)}) as server:
        driver = ModbusDriver(profile, _config(asset_id, server.port, unit_id))
        async with running(driver) as sink:
            await sink.wait_good([key_of(asset_id, ready)])
            target, _, name = key_of(asset_id, point).rpartition(".")
            await driver.write(target, name, value)
        return [(w.function, w.address, list(w.values)) for w in server.writes]


__all__ = [
    "differences",
    "key_of",
    "read_units",
    "readout_differences",
    "shipped",
    "state_differences",
    "table_differences",
    "written_frames",
]
