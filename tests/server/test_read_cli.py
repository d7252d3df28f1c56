"""``ampacity read``: every shipped profile read once from the demo's simulators, the JSON shape
an installer's script relies on, and a one-line reason when the device cannot be reached."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from ampacity.drivers.registry import ReadTarget, builtin_profiles
from ampacity.server.read import read_device
from ampacity.sim.demo import DemoSite, Endpoint
from ampacity.sim.sunspec import ConstantSource, SunSpecSimulator

pytestmark = pytest.mark.asyncio(loop_scope="module")

MODBUS_PROFILES = (
    "siemens_sentron_pac2200",
    "sma_sunny_tripower",
    "sma_sunny_boy_storage",
    "alfen_eve_double",
    "heidelberg_energy_control",
    "janitza_umg604",
)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sims() -> AsyncIterator[dict[str, Endpoint]]:
    async with DemoSite() as site:
        yield site.endpoints


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fronius() -> AsyncIterator[SunSpecSimulator]:
    simulator = SunSpecSimulator.fronius_symo(ConstantSource(pv_available_w=4200.0, load_w=900.0))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def target_of(endpoint: Endpoint) -> ReadTarget:
    if endpoint.transport == "tcp":
        return ReadTarget(host=endpoint.host, port=endpoint.port, unit=endpoint.unit_ids[0])
    return ReadTarget(
        serial=endpoint.device,
        baudrate=endpoint.baudrate,
        parity=endpoint.parity,
        unit=endpoint.unit_ids[0],
    )


@pytest.mark.parametrize("profile_id", MODBUS_PROFILES)
async def test_every_point_of_a_modbus_profile_is_read_once(
    sims: dict[str, Endpoint], profile_id: str
) -> None:
    result = await read_device(
        profile_id, target_of(sims[profile_id]), builtin_profiles(), timeout_s=10
    )
    assert result.error == ""
    assert result.any_good
    profile = builtin_profiles()[profile_id]
    assert [a.key for a in result.assets] == [key for key, _ in profile.asset_kinds()]
    for asset in result.assets:
        for point in asset.points:
            reading = asset.readings[point]
            assert reading.quality.is_good or reading.quality.is_bad, (point, reading)
        assert asset.readings["ActivePower"].quality.is_good


async def test_a_sunspec_device_is_discovered_and_read(fronius: SunSpecSimulator) -> None:
    result = await read_device(
        "fronius_symo",
        ReadTarget(host=fronius.host, port=fronius.port),
        builtin_profiles(),
        timeout_s=10,
    )
    assert result.any_good
    inverter = next(a for a in result.assets if a.kind.value == "PvInverter")
    assert inverter.readings["NominalPower"].value == pytest.approx(8200.0)
    assert inverter.readings["ActivePower"].value == pytest.approx(4200.0, rel=0.02)
    meter = next(a for a in result.assets if a.kind.value == "ElectricityMeter")
    assert meter.readings["ActivePower"].quality.is_good


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ampacity.server.cli",
        "read",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_json_output_has_the_documented_shape(sims: dict[str, Endpoint]) -> None:
    meter = sims["siemens_sentron_pac2200"]
    code, out, _ = await run_cli(
        "siemens_sentron_pac2200", "--host", str(meter.host), "--port", str(meter.port), "--json"
    )
    assert code == 0
    payload = json.loads(out)
    assert set(payload) == {"profile", "assets"}
    assert payload["profile"] == "siemens_sentron_pac2200"
    [asset] = payload["assets"]
    assert set(asset) == {"key", "kind", "points"}
    assert (asset["key"], asset["kind"]) == ("grid", "ElectricityMeter")
    power = asset["points"]["ActivePower"]
    assert set(power) == {"value", "unit", "status"}
    assert power["unit"] == "W" and power["status"] == "Good"
    assert isinstance(power["value"], float)
    assert asset["points"]["Frequency"]["unit"] == "Hz"
    assert 45.0 < asset["points"]["Frequency"]["value"] < 55.0


async def test_the_table_names_asset_point_value_unit_and_quality(
    sims: dict[str, Endpoint],
) -> None:
    battery = sims["sma_sunny_boy_storage"]
    code, out, _ = await run_cli(
        "sma_sunny_boy_storage", "--host", str(battery.host), "--port", str(battery.port)
    )
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["asset", "point", "value", "unit", "quality"]
    soc = next(row.split() for row in rows if row.split()[1] == "StateOfCharge")
    assert soc[3:] == ["%", "Good"] and 0.0 <= float(soc[2]) <= 100.0


async def test_an_unreachable_device_exits_1_with_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    code, out, err = await run_cli(
        "janitza_umg604", "--host", "127.0.0.1", "--port", str(port), "--timeout", "5"
    )
    assert code == 1
    assert out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("ampacity read: janitza_umg604: cannot read the device: ")
    assert f"127.0.0.1:{port}" in line and "connection refused" in line


async def test_flags_that_make_no_device_exit_2() -> None:
    code, _, err = await run_cli("janitza_umg604")
    assert code == 2
    assert "give either 'host' (Modbus TCP) or 'bus' (RS485)" in err
    code, _, err = await run_cli("no_such_profile", "--host", "127.0.0.1")
    assert code == 2 and "unknown profile 'no_such_profile'" in err
