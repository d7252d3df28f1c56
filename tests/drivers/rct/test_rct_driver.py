"""The RCT driver against the RCT simulator on loopback: values with Good quality, the setpoint
followed with the battery's ramp and stopped at the SoC limit, kept alive and re-asserted after
the inverter lost it, refusals as write errors, a damaged frame retried or reported (never a
value), silence as UncertainLastUsableValue, and the battery handed back on close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from ampacity.assets import Quality, WriteError
from ampacity.sim.rct import RctSimulator
from rct_rig import Sink, profile, rct_driver


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[RctSimulator]:
    device = RctSimulator(soc=60.0, pv_w=2000.0, load_w=600.0)
    await device.start()
    try:
        yield device
    finally:
        await device.stop()


async def driver_for(sim: RctSimulator, refresh_s: float | None = None):  # type: ignore[no-untyped-def]
    chosen = profile()
    if refresh_s is not None:
        battery = chosen.assets[0]
        assert battery.setpoint is not None
        fast = battery.model_copy(
            update={"setpoint": battery.setpoint.model_copy(update={"refresh_s": refresh_s})}
        )
        chosen = chosen.model_copy(update={"assets": (fast, *chosen.assets[1:])})
    return await rct_driver(sim.port, chosen, poll_s=0.1)


async def running(driver, sink: Sink) -> asyncio.Task[None]:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(driver.run(sink))
    await sink.wait_for("rct-battery", "StateOfCharge", lambda r: r.quality is Quality.GOOD)
    return task


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_simulated_battery_ramps_to_its_setpoint_and_stops_at_its_soc_limit() -> None:
    clock = FakeTime()
    device = RctSimulator(soc=96.0, capacity_wh=1000.0, ramp_w_per_s=2000.0, clock=clock)
    device.settings.update(
        {
            "power_mng.soc_strategy": 2,
            "power_mng.battery_power_extern": -3000.0,
            "power_mng.use_grid_power_enable": True,
        }
    )
    clock.now += 0.5
    device.step()
    assert device.value("g_sync.p_acc_lp") == pytest.approx(-1000.0)  # 2000 W/s for 0.5 s
    clock.now += 0.5
    device.step()
    assert device.value("g_sync.p_acc_lp") == pytest.approx(-2000.0)
    for _ in range(40):  # 1 % of 1 kWh at ~3 kW takes ~12 s: the limit (97 %) is reached
        clock.now += 0.5
        device.step()
    assert device.value("battery.soc") == pytest.approx(0.97, abs=1e-6)
    assert device.value("g_sync.p_acc_lp") == pytest.approx(0.0, abs=1.0)
    # without grid charging the battery charges from the PV surplus only
    device.settings["power_mng.use_grid_power_enable"] = False
    device.battery.soc = 50.0
    device.pv_w, device.load_w = 1500.0, 500.0
    for _ in range(10):
        clock.now += 0.5
        device.step()
    assert device.value("g_sync.p_acc_lp") == pytest.approx(-1000.0)


async def test_values_setpoint_and_hand_back(sim: RctSimulator) -> None:
    driver = await driver_for(sim)
    sink = Sink()
    task = await running(driver, sink)
    try:
        soc = sink.latest("rct-battery", "StateOfCharge")
        assert soc is not None and soc.value == pytest.approx(60.0, abs=0.5)
        pv = sink.latest("rct-pv", "ActivePower")
        assert pv is not None and pv.value == 2000.0
        model = sink.latest("rct-battery", "Identification.Model")
        assert model is not None and model.value == "PS 6.0 BA3L"
        result = await driver.write("rct-battery", "BatteryPowerSetpoint", 1500.0)
        assert result.read_back == 1500.0
        assert sim.external
        await sink.wait_for(
            "rct-battery", "ActivePower", lambda r: r.value == pytest.approx(1500.0), within=3.0
        )
        grid = await sink.wait_for(
            "rct-grid", "ActivePower", lambda r: r.value == pytest.approx(-2900.0), within=2.0
        )
        assert grid.quality is Quality.GOOD  # 600 W load - 2000 W PV - 1500 W battery
        result = await driver.write("rct-battery", "BatteryPowerSetpoint", -12000.0 + 2000.0)
        assert (result.written, result.read_back) == (-10000.0, -10000.0)
        assert sim.settings["power_mng.use_grid_power_enable"] is True
    finally:
        await stopped(task)
    # stopping the driver gives the battery back to the inverter's own control
    assert sim.settings["power_mng.soc_strategy"] == 4
    assert sim.settings["power_mng.use_grid_power_enable"] is False
    assert sim.settings["power_mng.battery_power_extern"] == 0.0


async def test_out_of_range_and_refusals_reach_nothing_or_say_why(sim: RctSimulator) -> None:
    from ampacity.assets import OutOfRangeError

    driver = await driver_for(sim)
    sink = Sink()
    task = await running(driver, sink)
    try:
        with pytest.raises(OutOfRangeError):
            await driver.write("rct-battery", "BatteryPowerSetpoint", 10001.0)
        assert sim.writes == []
        sim.settings["battery.bat_status"] = 2048
        with pytest.raises(WriteError, match=r"not ready.*bat_status = 2048"):
            await driver.write("rct-battery", "BatteryPowerSetpoint", 500.0)
        assert sim.writes == [] and not sim.external
        connected = sink.latest("rct-battery", "Health.Connected")
        assert connected is not None and connected.value is True  # a refusal is no failure
    finally:
        await stopped(task)


async def test_the_setpoint_is_re_asserted_after_the_inverter_dropped_it(
    sim: RctSimulator,
) -> None:
    driver = await driver_for(sim, refresh_s=0.2)
    sink = Sink()
    task = await running(driver, sink)
    try:
        await driver.write("rct-battery", "BatteryPowerSetpoint", 800.0)
        sim.settings["power_mng.soc_strategy"] = 4  # a reboot: back to the stored strategy
        sim.settings["power_mng.battery_power_extern"] = 0.0
        for _ in range(40):
            if sim.external and sim.settings["power_mng.battery_power_extern"] == 800.0:
                break
            await asyncio.sleep(0.05)
        assert sim.external
        assert sim.settings["power_mng.battery_power_extern"] == 800.0
    finally:
        await stopped(task)


async def test_a_damaged_frame_is_asked_again_or_reported_never_a_value(
    sim: RctSimulator,
) -> None:
    driver = await driver_for(sim)
    sink = Sink()
    task = await running(driver, sink)
    try:
        sim.corrupt_next("battery.soc")  # once: asked again, the read still succeeds
        polls = len(sink.history("rct-battery", "Health.LastGood"))
        await sink.wait_for(
            "rct-battery",
            "Health.LastGood",
            lambda r: (
                not sim._corrupt and len(sink.history("rct-battery", "Health.LastGood")) > polls + 2
            ),
        )
        errors = sink.latest("rct-battery", "Health.ErrorCount")
        assert errors is not None and errors.value == 0
        soc = sink.latest("rct-battery", "StateOfCharge")
        assert soc is not None and soc.quality is Quality.GOOD
        sim.corrupt_always.add("battery.soc")  # always: the read fails with the reason
        stale = await sink.wait_for(
            "rct-battery",
            "StateOfCharge",
            lambda r: r.quality is Quality.UNCERTAIN_LAST_USABLE,
            within=5.0,
        )
        assert stale.value == pytest.approx(60.0, abs=0.5)
        error = await sink.wait_for(
            "rct-battery", "Health.LastError", lambda r: "CRC" in str(r.value), within=3.0
        )
        assert "battery.soc (0x959930BF)" in str(error.value)
        sim.corrupt_always.clear()
        await sink.wait_for(
            "rct-battery", "StateOfCharge", lambda r: r.quality is Quality.GOOD, within=5.0
        )
    finally:
        await stopped(task)


async def test_silence_and_garbage_make_values_uncertain_with_the_cause(
    sim: RctSimulator,
) -> None:
    driver = await driver_for(sim)
    sink = Sink()
    task = await running(driver, sink)
    try:
        sim.garbage = b"\x00\xff junk \x2b\x77"  # before every answer: skipped
        await asyncio.sleep(0)
        count = len(sink.history("rct-grid", "ActivePower"))
        await sink.wait_for(
            "rct-grid",
            "ActivePower",
            lambda r: (
                r.quality is Quality.GOOD
                and len(sink.history("rct-grid", "ActivePower")) > count + 2
            ),
            within=3.0,
        )
        sim.silent = True
        await sink.wait_for(
            "rct-grid",
            "ActivePower",
            lambda r: r.quality is Quality.UNCERTAIN_LAST_USABLE,
            within=5.0,
        )
        error = sink.latest("rct-grid", "Health.LastError")
        assert error is not None and "no answer" in str(error.value)
    finally:
        await stopped(task)
