"""Hardy Barth eCB1 (``hardybarth_cph1``, cPH1 / cPµ1): real charge-control answers decode as
their source states, the meter's OBIS codes become W/Wh/A/V, the write path (manual mode, whole
amperes, stop for 0 A and start again), and garbage, errors and silence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from ampacity.assets import OutOfRangeError, Quality, Reading
from ampacity.drivers.hardybarth.link import meter_points, status_points
from ampacity.drivers.hardybarth.plugin import ECB1_CHARGE_CONTROL, PROFILES, EcbConnection
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from ampacity.drivers.runtime import DeviceError, PolledDriver
from ampacity.sim.hardybarth import EcbSimulator

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "ecb1_chargecontrol.json").read_text())


class Sink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def latest(self, point: str) -> Reading | None:
        found = [r for r in self.readings if r.point == point]
        return found[-1] if found else None


@pytest.fixture
async def sim() -> AsyncIterator[EcbSimulator]:
    simulator = EcbSimulator()
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def driver_for(url: str, poll_s: float | None = None) -> PolledDriver:
    profile = load_profile_file(PROFILES / "hardybarth_cph1.yaml")
    entry = DeviceEntry("hb", profile, EcbConnection(url=url), {"chargepoint": "hb"}, poll_s)
    assert ECB1_CHARGE_CONTROL.create is not None
    driver = await ECB1_CHARGE_CONTROL.create(entry, BuildContext())
    assert isinstance(driver, PolledDriver)
    return driver


def values(readings: list[Reading]) -> dict[str, Any]:
    return {r.point: r.value for r in readings if r.quality is Quality.GOOD}


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["name"])
async def test_real_answers_decode_as_the_source_states(
    sim: EcbSimulator, readout: dict[str, Any]
) -> None:
    sim.captured = readout["body"]
    got = values(await (await driver_for(sim.url)).read_once())
    for point, want in readout["expect"].items():
        assert got[point] == want, point


def test_a_wrong_mapping_would_fail() -> None:
    """The state rule the fixture pins down: stateid 5 is charging, 17 is disabled."""
    disabled, released = (r["body"] for r in FIXTURE["readouts"])
    assert status_points(released, "x")["Charging"] is True
    assert status_points(disabled, "x")["Charging"] is False
    flipped = json.loads(json.dumps(released).replace('"stateid": 5', '"stateid": 3'))
    assert status_points(flipped, "x")["Charging"] is False


def test_meter_obis_codes_in_model_units() -> None:
    body = {
        "meter": {
            "data": {
                "1-0:1.4.0": 7360.0,
                "1-0:1.8.0": 1234.567,
                "1-0:31.4.0": 10.7,
                "1-0:32.4.0": 231.0,
            }
        }
    }
    assert meter_points(body, "x") == {
        "ActivePower": 7360.0,
        "EnergyTotal": 1234567.0,  # kWh -> Wh
        "CurrentL1": 10.7,
        "VoltageL1": 231.0,
    }
    with pytest.raises(DeviceError, match=r"meter.data\['1-0:1.4.0'\] is 'x', not a number"):
        meter_points({"meter": {"data": {"1-0:1.4.0": "x"}}}, "x")
    with pytest.raises(DeviceError, match="no 'chargecontrol' object"):
        status_points({"secc": {}}, "http://wb/api/v1/chargecontrols/1")


async def test_the_car_follows_the_current_and_0_a_stops(sim: EcbSimulator) -> None:
    sim.plugged = True
    driver = await driver_for(sim.url)
    got = values(await driver.read_once())
    assert (got["VehicleConnected"], got["Charging"]) == (True, True)
    assert got["ActivePower"] == pytest.approx(230 * 16 * 3)
    result = await driver.write("hb", "ChargeCurrentLimit", 10.4)
    assert (result.written, result.clamped) == (10, True)  # whole amperes
    assert sim.posts[:2] == [
        ("/api/v1/chargecontrols/1/mode", {"mode": "manual"}),
        ("/api/v1/chargecontrols/1/mode/manual/ampere", {"manualmodeamp": "10"}),
    ]
    got = values(await driver.read_once())
    assert got["ChargeCurrentLimit"] == 10.0
    assert got["CurrentL1"] == 10.0
    assert got["ActivePower"] == pytest.approx(230 * 10 * 3)
    await driver.write("hb", "ChargeCurrentLimit", 0.0)
    assert sim.posts[-1][0] == "/api/v1/chargecontrols/1/stop"
    got = values(await driver.read_once())
    assert (got["Charging"], got["ActivePower"], got["ChargeCurrentLimit"]) == (False, 0.0, 0.0)
    await driver.write("hb", "ChargeCurrentLimit", 8.0)
    assert [p for p, _ in sim.posts[-2:]] == [
        "/api/v1/chargecontrols/1/mode/manual/ampere",
        "/api/v1/chargecontrols/1/start",
    ]
    assert values(await driver.read_once())["ActivePower"] == pytest.approx(230 * 8 * 3)
    sent = len(sim.posts)
    with pytest.raises(OutOfRangeError):
        await driver.write("hb", "ChargeCurrentLimit", 40.0)
    assert len(sim.posts) == sent


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


async def test_garbage_and_errors_give_a_clear_error_and_the_right_quality(
    sim: EcbSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await driver_for(sim.url, poll_s=0.05)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        power = lambda: sink.latest("ActivePower")  # noqa: E731
        await until(lambda: power() is not None and power().quality is Quality.GOOD)
        sim.fault = "garbage"
        await until(lambda: power().quality is Quality.UNCERTAIN_LAST_USABLE)
        error = str(sink.latest("Health.LastError").value)
        assert "/api/v1/chargecontrols/1: the answer is not JSON" in error
        sim.fault = "error"
        await until(lambda: "answered HTTP 500" in str(sink.latest("Health.LastError").value))
        sim.fault = None
        await until(lambda: power().quality is Quality.GOOD)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
