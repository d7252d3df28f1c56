"""Transport quirks of slow Modbus TCP devices: a wait after every (re)connect before the first
request (``connect_delay_s``, Huawei SDongle / SmartLogger) and a least pause between two requests
(``request_gap_ms``, Huawei, Sungrow WiNet-S), from the profile to the link."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ampacity.drivers.modbus import LinkRegistry, ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.modbus.tcp import TcpLink
from ampacity.drivers.profile import Transport
from modbus_rig import TestServer, Unit


class RecordingClock:
    """Monotonic time that moves only by sleeping; remembers every sleep and what came next."""

    def __init__(self) -> None:
        self.t = 0.0
        self.events: list[tuple[str, float]] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.events.append(("sleep", seconds))
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


async def test_the_first_request_waits_for_the_connect_delay_and_requests_keep_the_gap() -> None:
    server = await TestServer({1: Unit(holding={0: 7, 1: 8})}).start()
    clock = RecordingClock()
    link = TcpLink(
        "127.0.0.1",
        server.port,
        timeout_s=0.5,
        clock=clock,
        request_gap_s=0.05,
        connect_delay_s=1.0,
    )
    try:
        assert await link.read_holding_registers(1, 0, 1) == [7]
        assert clock.events == [("sleep", 1.0)]  # delay, request (the caller does not wait)
        assert await link.read_holding_registers(1, 1, 1) == [8]
        assert [e for e, _ in clock.events] == ["sleep", "sleep"]  # connected: no second delay
        assert clock.events[1][1] == pytest.approx(0.05)  # the gap
        clock.t += 0.03
        assert await link.read_holding_registers(1, 0, 1) == [7]
        assert clock.events[2][1] == pytest.approx(0.05 - 0.03)  # what is left of the gap
        clock.t += 0.2
        assert await link.read_holding_registers(1, 1, 1) == [8]
        assert len(clock.events) == 3  # the gap had passed already
        assert len(server.reads()) == 4
    finally:
        await link.close()
        await server.stop()


async def test_no_quirks_no_waiting() -> None:
    server = await TestServer({1: Unit(holding={0: 7})}).start()
    clock = RecordingClock()
    link = TcpLink("127.0.0.1", server.port, timeout_s=0.5, clock=clock)
    try:
        assert await link.read_holding_registers(1, 0, 1) == [7]
        assert clock.events == []
    finally:
        await link.close()
        await server.stop()


def test_a_profile_transport_reaches_the_shared_link() -> None:
    profile = ModbusDriver.from_profile_id(
        "siemens_sentron_pac2200", ModbusDeviceConfig("x", tcp=TcpEndpoint("192.0.2.1"))
    ).profile
    slow = profile.model_copy(
        update={
            "transport": Transport.model_validate(
                {**profile.transport.model_dump(), "connect_delay_s": 1.0, "request_gap_ms": 50}
            )
        }
    )
    registry = LinkRegistry()
    driver = ModbusDriver(
        slow, ModbusDeviceConfig("x", tcp=TcpEndpoint("192.0.2.1", 502)), registry=registry
    )
    link = driver._acquire()
    assert isinstance(link, TcpLink)
    assert (link.connect_delay_s, link.inter_frame_gap_s) == (1.0, 0.05)
    # a second device on the same endpoint shares the link (the first user's settings win)
    assert registry.tcp("192.0.2.1", 502) is link
