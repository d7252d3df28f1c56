"""``ampacity read PROFILE --host … --json`` against a plain Modbus server serving a real
read-out of each PV inverter family that has one (the values the read-out states); Sungrow,
which has none, with a register image built from two register tables.

One family goes through the command line (a subprocess, slow to start on a busy machine); the
others through ``read_device``, the function the command runs, and its JSON form."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from ampacity.drivers.registry import ReadTarget, builtin_profiles
from ampacity.server.read import read_device
from evidence_kit import load, units_from_readout
from plain_modbus import PlainModbusServer, PlainUnit
from test_fronius_gen24 import captured_units
from test_kostal_plenticore import chain as kostal_chain
from test_kostal_plenticore import readout_models as kostal_models
from test_solaredge import chain, inverter_unit, se10k_models


async def read_json(profile: str, port: int, *extra: str) -> tuple[int, dict[str, Any], str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ampacity.server.cli",
        "read",
        profile,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
        "--json",
        "--timeout",
        "8",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    payload = json.loads(out) if out.strip() else {}
    return process.returncode, payload, err.decode()


async def read_in_process(profile: str, port: int) -> dict[str, Any]:
    target = ReadTarget(host="127.0.0.1", port=port)
    result = await read_device(profile, target, builtin_profiles(), timeout_s=8)
    assert result.any_good, result.error
    payload: dict[str, Any] = result.as_json()
    return payload


def points_of(payload: dict[str, Any], key: str) -> dict[str, Any]:
    asset = next(a for a in payload["assets"] if a["key"] == key)
    points: dict[str, Any] = asset["points"]
    return points


async def test_solaredge_se10k_readout() -> None:
    server = PlainModbusServer({1: inverter_unit(chain(se10k_models()))})
    async with server:
        code, payload, err = await read_json("solaredge", server.port)
    assert code == 0, err
    points = points_of(payload, "inverter")
    assert points["VoltageL1"] == {"value": pytest.approx(234.2), "unit": "V", "status": "Good"}
    assert points["Frequency"]["value"] == pytest.approx(50.03)
    assert points["EnergyProduced"]["value"] == 14780800
    assert points["OperatingState"]["value"] == 2


async def test_sungrow_register_image() -> None:
    # no public read-out of an SG inverter's registers was found: a register image built from
    # OpenEMS's and evcc's tables (see fixtures/sungrow_sg.json)
    readout = load("sungrow_sg")["readouts"][0]
    server = PlainModbusServer(units_from_readout(readout, fill=0))
    async with server:
        payload = await read_in_process("sungrow_sg", server.port)
    points = points_of(payload, "pv")
    assert points["ActivePower"] == {"value": 60000, "unit": "W", "status": "Good"}
    assert points["EnergyProduced"]["value"] == 56789000
    assert points["Frequency"]["value"] == pytest.approx(49.99)


async def test_huawei_recorded_registers() -> None:
    readout = load("huawei_sun2000")["readouts"][0]
    server = PlainModbusServer(units_from_readout(readout, fill=None))
    async with server:
        payload = await read_in_process("huawei_sun2000", server.port)
    points = points_of(payload, "pv")
    assert points["NominalPower"] == {"value": 3000, "unit": "W", "status": "Good"}
    assert points["EnergyProduced"]["value"] == 207340
    assert points["OperatingState"]["value"] == 2


async def test_kostal_plenticore_dump() -> None:
    unit = PlainUnit(holding=kostal_chain(kostal_models()), fill=None)
    server = PlainModbusServer({71: unit})
    async with server:
        payload = await read_in_process("kostal_plenticore", server.port)
    points = points_of(payload, "inverter")
    assert points["ActivePower"] == {"value": 47, "unit": "W", "status": "Good"}
    assert points["VoltageL1"]["value"] == pytest.approx(219.8)


async def test_fronius_verto_capture() -> None:
    server = PlainModbusServer(captured_units())
    async with server:
        payload = await read_in_process("fronius_gen24", server.port)
    inverter = points_of(payload, "inverter")
    assert inverter["ActivePower"]["value"] == pytest.approx(2268.6)
    assert inverter["ActivePowerLimit"]["value"] == pytest.approx(8128.75)
    meter = points_of(payload, "meter")
    assert meter["ActivePower"] == {"value": pytest.approx(-1782.1), "unit": "W", "status": "Good"}
