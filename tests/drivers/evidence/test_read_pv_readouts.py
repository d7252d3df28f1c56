"""``ampacity read PROFILE --host … --json`` against a plain Modbus server serving a real
read-out of each PV inverter family that has one (the values the read-out states)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from plain_modbus import PlainModbusServer
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
