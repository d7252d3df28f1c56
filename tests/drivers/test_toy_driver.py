"""A new protocol driver needs only its own package: the toy JSON-over-HTTP rod is registered,
validated in a site file, served in a site and read by a real OPC UA client; and the runtime
gives it quality transitions, Health, backoff, log lines and the write path for free."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from ampacity.assets import OutOfRangeError, Quality
from ampacity.drivers.registry import builtin_profiles, register, unregister
from ampacity.server.app import start_site
from ampacity.server.config import ConfigError, SiteConfig, load_config
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import SecurityConfig
from asyncua import Client, ua
from modbus_rig import Sink
from toy_http_rod.driver import TOY
from toy_http_rod.simulator import ToyRodSimulator


@pytest.fixture
def toy_driver() -> Iterator[None]:
    register(TOY)
    try:
        yield
    finally:
        unregister(TOY.name)


@pytest_asyncio.fixture
async def rod() -> AsyncIterator[ToyRodSimulator]:
    simulator = ToyRodSimulator(fallback_s=1.0)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def toy_driver_for(url: str):  # type: ignore[no-untyped-def]
    config = SiteConfig.model_validate(
        {"devices": [{"id": "rod", "profile": "toy_http_rod", "url": url}]}
    )
    [driver] = await build_drivers(config, build_context(config))
    return driver


def test_the_registry_knows_its_profile_and_checks_its_keys(toy_driver, tmp_path: Path) -> None:
    assert builtin_profiles()["toy_http_rod"].driver == "toy_http_rod"
    site = tmp_path / "site.yaml"
    site.write_text(
        "devices:\n"
        "  - id: rod\n"
        "    profile: toy_http_rod\n"
        "    url: ftp://192.0.2.7\n"
        "  - id: rod2\n"
        "    profile: toy_http_rod\n"
        "    host: 192.0.2.8\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(site)
    assert error.value.errors == [
        "site.yaml:4: devices[0].url: String should match pattern '^https?://'",
        "site.yaml:5: devices[1].url: Field required",
        "site.yaml:7: devices[1].host: Extra inputs are not permitted",
    ]


def test_without_registration_the_profile_is_unknown(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("devices:\n  - id: rod\n    profile: toy_http_rod\n    url: http://x\n")
    with pytest.raises(ConfigError, match=r"site.yaml:3: devices\[0\].profile: unknown profile"):
        load_config(site)


async def test_a_site_serves_the_toy_device_to_an_opc_ua_client(
    toy_driver, rod: ToyRodSimulator, tmp_path: Path
) -> None:
    config = SiteConfig.model_validate(
        {
            "server": {"port": free_port(), "data_dir": str(tmp_path)},
            "devices": [{"id": "rod", "profile": "toy_http_rod", "url": rod.url}],
            "security": SecurityConfig.demo().model_dump(),
        }
    )
    context = build_context(config)
    site = await start_site(config, await build_drivers(config, context))
    try:
        async with Client(config.server.endpoint, timeout=10) as client:
            ns = await client.get_namespace_index(config.site.namespace_uri)

            async def value(key: str) -> ua.DataValue:
                return await client.get_node(ua.NodeId(key, ns)).read_data_value()

            for _ in range(100):
                temperature = await value("rod.Temperature")
                if temperature.StatusCode.is_good():
                    break
                await asyncio.sleep(0.05)
            assert temperature.Value.Value == pytest.approx(55.5)
            serial = await value("rod.Identification.SerialNumber")
            assert serial.Value.Value == "TOY-0042"
            setpoint = client.get_node(ua.NodeId("rod.PowerSetpoint", ns))
            await setpoint.write_value(ua.DataValue(ua.Variant(1249.0, ua.VariantType.Double)))
            assert rod.writes[-1] == 1200.0  # the device's 100 W step
            assert (await setpoint.read_value()) == 1200.0
            with pytest.raises(ua.UaStatusCodeError) as refused:
                await setpoint.write_value(ua.DataValue(ua.Variant(5000.0, ua.VariantType.Double)))
            assert refused.value.code == ua.StatusCodes.BadOutOfRange
            assert rod.writes[-1] == 1200.0
    finally:
        await site.stop()
        await context.aclose()


async def test_quality_health_backoff_and_log_lines(
    toy_driver, rod: ToyRodSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ampacity.drivers")
    driver = await toy_driver_for(rod.url)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await until(lambda: _q(sink, "Temperature") is Quality.GOOD)
        first_good = sink.latest("rod", "Temperature")
        assert first_good is not None
        rod.mode = "garbage"
        await until(lambda: _q(sink, "Temperature") is Quality.UNCERTAIN_LAST_USABLE)
        stale = sink.latest("rod", "Temperature")
        assert stale is not None
        assert stale.value == pytest.approx(55.5)
        assert stale.source_time == first_good.source_time  # the time of the last good read
        await until(lambda: _v(sink, "Health.ErrorCount") >= 3, within_s=5)
        assert "not JSON" in str(_v(sink, "Health.LastError"))
        assert _v(sink, "Health.Connected") is False
        rod.mode = "ok"
        await until(lambda: _q(sink, "Temperature") is Quality.GOOD, within_s=5)
        assert _v(sink, "Health.Connected") is True
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    lines = [r for r in caplog.records if r.name == "ampacity.drivers"]
    warnings = [r.getMessage() for r in lines if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in lines if r.levelno == logging.INFO]
    assert len(warnings) == 1, warnings  # the failures are counted, not repeated
    assert warnings[0].startswith("rod: ") and "not JSON" in warnings[0]
    assert len(infos) == 1 and infos[0].startswith("rod: OK again after ")


async def test_a_device_that_never_answers_is_bad_and_backs_off(toy_driver) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    driver = await toy_driver_for(f"http://127.0.0.1:{port}")
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await until(lambda: _q(sink, "Temperature") is Quality.BAD_COMMUNICATION_ERROR)
        await asyncio.sleep(1.5)
        # poll 0.1 s, backoff doubling to 1 s: a handful of attempts, not fifteen
        assert 2 <= int(_v(sink, "Health.ErrorCount")) <= 6
        assert "cannot reach" in str(_v(sink, "Health.LastError"))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_setpoints_are_checked_rounded_and_refreshed_before_the_fallback(
    toy_driver, rod: ToyRodSimulator
) -> None:
    driver = await toy_driver_for(rod.url)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        with pytest.raises(OutOfRangeError):
            await driver.write("rod", "PowerSetpoint", 3100.0)
        assert rod.writes == []
        result = await driver.write("rod", "PowerSetpoint", 2040.0)
        assert (result.written, result.read_back, result.clamped) == (2000.0, 2000.0, True)
        await asyncio.sleep(2.5)  # 2.5 fallback periods: held only if refreshed every 0.5 s
        assert rod.power_w == 2000.0
        assert 4 <= len(rod.writes) <= 7
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(check: Callable[[], bool], within_s: float = 3.0) -> None:
    """Until ``check`` holds (polled every 10 ms), else fail."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


async def test_a_refresh_never_sends_an_older_value_after_a_newer_write(
    toy_driver, rod: ToyRodSimulator
) -> None:
    driver = await toy_driver_for(rod.url)
    task = asyncio.create_task(driver.run(Sink()))
    try:
        await driver.write("rod", "PowerSetpoint", 1000.0)  # refreshed every 0.5 s
        await asyncio.sleep(0.3)
        rod.write_delay_s = 0.4  # the next write holds the line while the refresh falls due
        await driver.write("rod", "PowerSetpoint", 2000.0)
        rod.write_delay_s = 0.0
        await asyncio.sleep(0.3)
        assert rod.writes[rod.writes.index(2000.0) :].count(1000.0) == 0, rod.writes
        assert rod.limit_w == 2000.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _q(sink: Sink, point: str) -> Quality | None:
    reading = sink.latest("rod", point)
    return reading.quality if reading is not None else None


def _v(sink: Sink, point: str) -> object:
    reading = sink.latest("rod", point)
    return reading.value if reading is not None else None
