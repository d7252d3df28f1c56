"""``ampacity read`` against a plain Modbus server serving real devices' read-outs: the command an
installer runs prints, for each point, the value the source of the read-out states.

The read-outs (with their provenance) are the evidence fixtures of the Heidelberg Energy Control
(a real wallbox logged by evcc) and of the Fronius Symo 8.2-3-M (an ``evcc sunspec`` dump)."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from typing import Any

import pytest
from evidence_kit import load, units_from_readout
from plain_modbus import PlainModbusServer, PlainUnit
from test_fronius_symo import readout_models, sunspec_image


async def read_json(*args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ampacity.server.cli",
        "read",
        *args,
        "--json",
        "--timeout",
        "8",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    payload: dict[str, Any] = json.loads(out)
    return payload


def assert_stated(point: dict[str, Any], want: dict[str, Any], what: str) -> None:
    assert point["status"] == "Good", what
    value, stated = point["value"], want["value"]
    if isinstance(stated, bool | str):
        assert value == stated, what
    else:
        tolerance = float(want.get("tolerance", 0.0))
        assert math.isclose(value, stated, abs_tol=tolerance), f"{what}: {value} != {stated}"


@pytest.mark.parametrize(
    "readout", load("heidelberg_energy_control")["readouts"], ids=lambda r: r["source"]
)
async def test_read_prints_a_real_heidelbergs_values(readout: dict[str, Any]) -> None:
    server = PlainModbusServer(units_from_readout(readout))
    async with server:
        payload = await read_json(
            "heidelberg_energy_control",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--unit",
            str(readout["unit_id"]),
        )
    [asset] = payload["assets"]
    for point, want in readout["expect"].items():
        assert_stated(asset["points"][point], want, f"{readout['source']} {point}")


async def test_read_prints_a_real_fronius_values() -> None:
    readout = load("fronius_symo")["readouts"][0]  # the Symo 8.2-3-M dump
    image = sunspec_image(readout_models(readout))
    server = PlainModbusServer({readout["unit_id"]: PlainUnit(holding=image)})
    async with server:
        payload = await read_json("fronius_symo", "--host", "127.0.0.1", "--port", str(server.port))
    inverter = next(a for a in payload["assets"] if a["key"] == readout["asset"])
    for point, want in readout["expect"].items():
        assert_stated(inverter["points"][point], want, f"{readout['source']} {point}")
