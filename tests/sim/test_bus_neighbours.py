"""A silent device on a shared RS485 bus must not degrade its healthy neighbour.

The demo's bus: a Heidelberg wallbox (unit 1) and a Janitza meter (unit 2) on one pty line, each
with its own driver on one shared RTU link. The wallbox goes silent (the simulator's fault
switch): its requests time out, it backs off and gets the line only when its retry is due, so the
meter stays Good throughout; the wallbox's values go Uncertain and come back when it answers."""

from __future__ import annotations

import asyncio
import time

import pytest
from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import LinkRegistry, ModbusDeviceConfig, ModbusDriver, SerialBus
from ampacity.drivers.profile import all_profiles
from ampacity.sim import Fault, SimServer, SimulatedDevice
from ampacity.sim.pty import VirtualSerialLine
from simkit import sample_model

POLL_S = 0.5
TIMEOUT_S = 0.3
SILENT_S = 6.0


class Recorder:
    def __init__(self) -> None:
        self.readings: list[tuple[float, Reading]] = []

    def publish(self, readings: list[Reading]) -> None:
        now = time.monotonic()
        self.readings += [(now, r) for r in readings]

    def of(self, asset_id: str, point: str, since: float = 0.0) -> list[Reading]:
        return [r for t, r in self.readings if t >= since and r.node_key == f"{asset_id}.{point}"]


async def test_a_silent_wallbox_leaves_the_bus_to_the_meter() -> None:
    janitza = all_profiles()["janitza_umg604"]
    heidelberg = all_profiles()["heidelberg_energy_control"]
    meter_sim = SimulatedDevice(janitza, sample_model(janitza), unit_id=2)
    charger_sim = SimulatedDevice(heidelberg, sample_model(heidelberg), unit_id=1)
    line = VirtualSerialLine()
    line.open()
    server = SimServer([charger_sim, meter_sim])
    await server.start_rtu(line.server_path, parity="N")
    links = LinkRegistry()
    bus = SerialBus(line.client_path, baudrate=19200, parity="N")
    common = {"serial": bus, "poll_s": POLL_S, "timeout_s": TIMEOUT_S, "backoff_max_s": 2.0}
    meter = ModbusDriver(janitza, ModbusDeviceConfig("meter", unit_id=2, **common), registry=links)
    charger = ModbusDriver(
        heidelberg, ModbusDeviceConfig("charger", unit_id=1, **common), registry=links
    )
    sink = Recorder()
    tasks = [asyncio.create_task(d.run(sink)) for d in (meter, charger)]
    try:
        await _until(lambda: _good(sink, "meter") and _good(sink, "charger"))
        await charger.write("charger", "ChargeCurrentLimit", 10.0)  # refreshed every 5 s
        charger_sim.faults.set(Fault.SILENT)
        silent_from = time.monotonic()
        await asyncio.sleep(SILENT_S)
        meter_power = sink.of("meter", "ActivePower", since=silent_from)
        assert len(meter_power) >= SILENT_S / POLL_S - 3  # polled on time, the whole while
        assert {r.quality for r in meter_power} == {Quality.GOOD}
        charger_power = sink.of("charger", "ActivePower", since=silent_from)
        assert charger_power[-1].quality is Quality.UNCERTAIN_LAST_USABLE
        errors = sink.of("charger", "Health.ErrorCount")[-1].value
        assert isinstance(errors, int)
        # backing off (0.5, 1, 2, 2 ... s): a handful of attempts, not one per poll
        assert errors <= 7, errors
        charger_sim.faults.clear()
        healed = time.monotonic()
        await _until(lambda: _good(sink, "charger"), within_s=4.0)
        assert time.monotonic() - healed < 3.5  # the next retry is at most 2 s (+ jitter) away
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await links.aclose()
        await server.stop()
        line.close()


def _good(sink: Recorder, asset_id: str) -> bool:
    readings = sink.of(asset_id, "ActivePower")
    return bool(readings) and readings[-1].quality is Quality.GOOD


async def _until(check, within_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("not reached in time")
        await asyncio.sleep(0.02)
