"""What a user reads in the log when a Modbus device misbehaves: one WARNING with the cause in
words when it starts, no traceback and no line per attempt while it lasts, one INFO when it ends."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from ampacity.assets import Reading
from ampacity.drivers.modbus import LinkRegistry, ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import all_profiles
from ampacity.sim import Fault, SimServer, SimulatedDevice
from simkit import sample_model


class Nowhere:
    def publish(self, readings: list[Reading]) -> None:
        pass


async def run_for(driver: ModbusDriver, seconds: float) -> None:
    task = asyncio.create_task(driver.run(Nowhere()))
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


async def test_a_garbage_sending_device_is_one_warning_and_one_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # as `ampacity run` sets it
    profile = all_profiles()["janitza_umg604"]
    device = SimulatedDevice(profile, sample_model(profile), unit_id=1)
    server = SimServer([device])
    host, port = await server.start_tcp()
    links = LinkRegistry()
    config = ModbusDeviceConfig(
        "meter", tcp=TcpEndpoint(host, port), unit_id=1, poll_s=0.2, backoff_max_s=0.4
    )
    driver = ModbusDriver(profile, config, registry=links)
    try:
        device.faults.set(Fault.GARBAGE)
        task = asyncio.create_task(driver.run(Nowhere()))
        for _ in range(200):  # several failed attempts, each a reconnect
            if driver.runtime.health.error_count >= 4:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert driver.runtime.health.error_count >= 4
        problems = lines(caplog, logging.WARNING)
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"meter: not answering: {host}:{port} unit 1 ")
        assert not any(r.exc_info for r in caplog.records), "no traceback"
        caplog.clear()
        device.faults.clear()
        await run_for(driver, 1.5)
        assert lines(caplog, logging.WARNING) == []
        [recovered] = [m for m in lines(caplog, logging.INFO) if m.startswith("meter: ")]
        assert recovered.startswith("meter: OK again after ")
    finally:
        await links.aclose()
        await server.stop()


async def test_a_device_that_never_answers_says_why(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    profile = all_profiles()["janitza_umg604"]
    links = LinkRegistry()
    config = ModbusDeviceConfig("meter", tcp=TcpEndpoint("127.0.0.1", port), poll_s=0.2)
    try:
        await run_for(ModbusDriver(profile, config, registry=links), 1.5)
    finally:
        await links.aclose()
    assert lines(caplog, logging.WARNING) == [
        f"meter: not answering: cannot connect to 127.0.0.1:{port}: connection refused"
    ]


async def test_no_such_serial_device_is_said_in_words(caplog: pytest.LogCaptureFixture) -> None:
    from ampacity.drivers.modbus import SerialBus

    caplog.set_level(logging.INFO)
    profile = all_profiles()["janitza_umg604"]
    links = LinkRegistry()
    config = ModbusDeviceConfig("meter", serial=SerialBus("/dev/ttyUSB97"), poll_s=0.2)
    try:
        await run_for(ModbusDriver(profile, config, registry=links), 1.0)
    finally:
        await links.aclose()
    assert lines(caplog, logging.WARNING) == [
        "meter: not answering: cannot connect to /dev/ttyUSB97: no such serial device /dev/ttyUSB97"
    ]
