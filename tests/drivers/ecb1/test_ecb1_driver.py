"""The eCB1 meter driver (``hardybarth_ecb1``): the documented answer gives the model's values
and signs, a wrong mapping is caught, and bad answers give a located error and the right quality.

The documented answer (fixtures/ecb1_meter.json, with its provenance) is served by a plain
aiohttp handler that knows nothing about the profile; the simulator (sim/ecb1.py) drives the
behaviour tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from ampacity.assets import Quality, Reading
from ampacity.drivers.ecb1.driver import Ecb1Profile
from ampacity.drivers.registry import ReadTarget, builtin_profiles
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.read import read_device
from ampacity.sim.ecb1 import Ecb1Simulator

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "ecb1_meter.json").read_text(encoding="utf-8")
)
assert FIXTURE["provenance"]


class Sink:
    def __init__(self) -> None:
        self.latest: dict[str, Reading] = {}

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.latest[reading.node_key.split(".", 1)[1]] = reading


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def documented() -> AsyncIterator[str]:
    """A plain server answering /api/v1/meters/1 with the documented body, nothing else."""

    async def meter(request: web.Request) -> web.StreamResponse:
        if request.match_info["id"] != "1":
            return web.Response(status=404)
        return web.json_response(FIXTURE["answer"])

    app = web.Application()
    app.router.add_get("/api/v1/meters/{id}", meter)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Ecb1Simulator]:
    simulator = Ecb1Simulator(power_w=2300.0)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def driver_for(url: str, *, profile: Ecb1Profile | None = None, **keys: Any):  # type: ignore[no-untyped-def]
    profiles = dict(builtin_profiles())
    if profile is not None:
        profiles["hardybarth_ecb1"] = profile
    config = SiteConfig.model_validate(
        {
            "devices": [
                {"id": "ecb1", "profile": "hardybarth_ecb1", "url": url, "poll_s": 0.1, **keys}
            ]
        },
        context={"profiles": profiles},
    )
    [driver] = await build_drivers(config, build_context(config))
    if profile is not None:  # the factory took the shipped profile's link; swap in the broken one
        driver.link.profile = profile
    return driver


def values(readings: list[Reading]) -> dict[str, Any]:
    return {r.node_key.split(".", 1)[1]: r.value for r in readings if r.quality is Quality.GOOD}


async def test_the_documented_answer_gives_model_values_and_signs(documented: str) -> None:
    driver = await driver_for(documented)
    got = values(await driver.read_once())
    for point, want in FIXTURE["expected"].items():
        if isinstance(want, str):
            assert got[point] == want, point
        else:
            assert got[point] == pytest.approx(want, abs=1e-9), point
    assert got["ActivePower"] < 0  # exporting: power- is 1520.5 W
    await driver.link.close()


@pytest.mark.parametrize(
    ("change", "point"),
    [
        ({"ActivePower": {"obis": "1-0:2.4.0", "minus": "1-0:1.4.0"}}, "ActivePower"),
        ({"EnergyImported": {"obis": "1-0:1.8.0", "scale": 1.0}}, "EnergyImported"),
        ({"CurrentL2": {"obis": "1-0:71.4.0"}}, "CurrentL2"),
    ],
)
async def test_a_wrong_mapping_is_caught(
    documented: str, change: dict[str, Any], point: str
) -> None:
    """Sign, scale and key mistakes in the profile show up against the documented answer."""
    shipped = builtin_profiles()["hardybarth_ecb1"]
    data = shipped.model_dump(mode="python")
    data["meter"]["points"].update(change)
    broken = Ecb1Profile.model_validate(data)
    driver = await driver_for(documented, profile=broken)
    got = values(await driver.read_once())
    assert got[point] != pytest.approx(FIXTURE["expected"][point], abs=1e-6)
    await driver.link.close()


async def test_follows_the_simulated_meter_and_its_energy(sim: Ecb1Simulator) -> None:
    driver = await driver_for(sim.url)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await until(lambda: _value(sink, "ActivePower") == pytest.approx(2300.0))
        assert _value(sink, "EnergyImported") == pytest.approx(1234.5 * 1000, abs=5)
        sim.power_w = -4200.0
        await until(lambda: _value(sink, "ActivePower") == pytest.approx(-4200.0), within_s=8)
        assert _value(sink, "ActivePowerL1") == pytest.approx(-1400.0)
        assert _value(sink, "CurrentL1") == pytest.approx(round(1400 / 230, 2))
        assert sink.latest["Health.Connected"].value is True
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    ("mode", "meter_id", "message"),
    [
        ("garbage", 1, "the answer is not JSON"),
        ("error", 1, "answered HTTP 500"),
        ("ok", 3, "no meter 3 on this controller (HTTP 404)"),
        ("empty", 1, "none of the expected OBIS keys"),
    ],
)
async def test_bad_answers_give_a_located_error_and_keep_the_last_value(
    sim: Ecb1Simulator, mode: str, meter_id: int, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await driver_for(sim.url)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await until(lambda: _quality(sink, "ActivePower") is Quality.GOOD)
        sim.mode = mode
        driver.link.meter_id = meter_id
        await until(lambda: _quality(sink, "ActivePower") is Quality.UNCERTAIN_LAST_USABLE)
        assert sink.latest["ActivePower"].value == pytest.approx(2300.0)
        last_error = str(sink.latest["Health.LastError"].value)
        assert message in last_error
        assert "/api/v1/meters/" in last_error  # located: the URL that failed
        assert sink.latest["Health.Connected"].value is False
        assert "Traceback" not in caplog.text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_silent_controller_times_out(sim: Ecb1Simulator) -> None:
    profile = builtin_profiles()["hardybarth_ecb1"].model_copy(update={"timeout_s": 0.3})
    assert isinstance(profile, Ecb1Profile)
    sim.mode = "silent"
    driver = await driver_for(sim.url, profile=profile)
    driver.timeout_s = 0.3
    with pytest.raises(TimeoutError):
        await driver.read_once()
    await driver.link.close()


async def test_read_device_prints_the_documented_answer(documented: str) -> None:
    result = await read_device(
        "hardybarth_ecb1", ReadTarget(url=documented), builtin_profiles(), timeout_s=5.0
    )
    assert result.any_good
    payload = result.as_json()
    [asset] = payload["assets"]
    assert asset["points"]["ActivePower"] == {"value": -1520.5, "unit": "W", "status": "Good"}
    assert asset["points"]["EnergyImported"]["value"] == pytest.approx(4321125.0)


async def test_ampacity_read_cli_json(documented: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ampacity.server.cli",
        "read",
        "hardybarth_ecb1",
        "--url",
        documented,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    [asset] = json.loads(out)["assets"]
    assert asset["points"]["EnergyExported"] == {"value": 987250.0, "unit": "Wh", "status": "Good"}


def _value(sink: Sink, point: str) -> Any:
    reading = sink.latest.get(point)
    return None if reading is None else reading.value


def _quality(sink: Sink, point: str) -> Quality | None:
    reading = sink.latest.get(point)
    return None if reading is None else reading.quality
