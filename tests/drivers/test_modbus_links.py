"""Links: RS485 over a pseudo-terminal pair, backoff on a fake clock, located error messages."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from ampacity.assets import Quality
from ampacity.drivers.modbus import (
    Backoff,
    LinkRegistry,
    ModbusDeviceConfig,
    ModbusDriver,
    ModbusExceptionResponse,
    ModbusIOError,
    QueuedLink,
    SerialBus,
    TcpLink,
)
from ampacity.drivers.profile import Profile
from modbus_rig import PtyBridge, Sink, TestServer, Unit, free_port


class FakeClock:
    """Monotonic time that moves only when told to; sleeping advances it."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


def test_backoff_grows_caps_and_jitters():
    backoff = Backoff(initial_s=0.5, cap_s=30.0, factor=2.0, jitter=0.5, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    nominal = [min(30.0, 0.5 * 2**n) for n in range(10)]
    for delay, base in zip(delays, nominal, strict=True):
        assert base * 0.5 <= delay <= base
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 0.5
    fixed = Backoff(initial_s=1.0, cap_s=4.0, jitter=0.0)
    assert [fixed.next_delay() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        Backoff(initial_s=2.0, cap_s=1.0)


async def test_reconnect_waits_for_the_backoff_on_the_injected_clock():
    clock = FakeClock()
    port = free_port()
    link = TcpLink(
        "127.0.0.1",
        port,
        timeout_s=0.2,
        clock=clock,
        backoff=Backoff(initial_s=1.0, jitter=0.0),
    )
    try:
        with pytest.raises(ModbusIOError, match="cannot connect"):
            await link.read_holding_registers(1, 0, 1)
        # within the backoff: fails at once, no connect attempt
        with pytest.raises(ModbusIOError, match=r"not connected .*next attempt in 1\.0 s"):
            await link.read_holding_registers(1, 0, 1)
        clock.t += 1.01
        server = await TestServer({1: Unit(holding={0: 42})}, port=port).start()
        try:
            assert await link.read_holding_registers(1, 0, 1) == [42]
            assert link.generation == 1 and link.connected
            assert link.backoff.failures == 0
        finally:
            await server.stop()
        with pytest.raises(ModbusIOError):
            await link.read_holding_registers(1, 0, 1)  # the server went away
        with pytest.raises(ModbusIOError, match="not connected"):
            await link.read_holding_registers(1, 0, 1)
    finally:
        await link.close()


async def test_errors_name_endpoint_unit_function_and_address():
    server = await TestServer({1: Unit(holding={0: 1})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=0.2)
    try:
        with pytest.raises(ModbusExceptionResponse) as refused:
            await link.read_holding_registers(1, 0, 3)
        assert refused.value.code == 2
        assert str(refused.value) == (
            f"127.0.0.1:{server.port} unit 1 read holding registers (FC3) address 0..2: "
            "Modbus exception 2 (illegal data address)"
        )
        with pytest.raises(
            ModbusIOError, match=r"unit 7 read input registers \(FC4\) address 5: no"
        ):
            await link.read_input_registers(7, 5, 1)  # nobody answers for unit 7
        with pytest.raises(ModbusExceptionResponse, match=r"write register \(FC6\) address 9"):
            await link.write_register(1, 9, 1)
        assert await link.read_holding_registers(1, 0, 1) == [1]  # the link is still fine
    finally:
        await link.close()
        await server.stop()


async def test_requests_are_serialised_one_at_a_time():
    server = await TestServer({1: Unit(holding={a: a for a in range(10)})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=0.5)
    try:
        results = await asyncio.gather(*(link.read_holding_registers(1, a, 1) for a in range(10)))
        assert results == [[a] for a in range(10)]
        assert [r.address for r in server.reads()] == list(range(10))  # queue order kept
        assert server.connections == 1
    finally:
        await link.close()
        await server.stop()


async def test_registry_shares_and_closes_links():
    registry = LinkRegistry()
    a = registry.tcp("127.0.0.1", 1502)
    b = registry.tcp("127.0.0.1", 1502)
    c = registry.tcp("127.0.0.1", 1503)
    assert a is b and a is not c and registry.users(a) == 2
    await registry.release(a)
    assert registry.users(b) == 1
    await registry.release(b)
    assert registry.users(a) == 0
    assert registry.tcp("127.0.0.1", 1502) is not a  # a fresh link after the last user left
    await registry.aclose()


RTU_METER = Profile.model_validate(
    {
        "id": "test_rtu_meter",
        "manufacturer": "Testco",
        "products": ["M-485"],
        "source": "register map built in tests/drivers",
        "poll_s": 0.05,
        "transport": {"timeout_s": 0.3, "serial": {"baudrate": 19200}},
        "assets": [
            {
                "key": "m",
                "kind": "ElectricityMeter",
                "points": {
                    "ActivePower": {"address": 0, "function": "input", "type": "s32", "scale": 0.1},
                    "EnergyImported": {
                        "address": 2,
                        "function": "input",
                        "type": "u32",
                        "scale": 10,
                    },
                },
            }
        ],
    }
)


async def test_rs485_bus_with_two_unit_ids_over_a_pty_pair():
    bridge = PtyBridge().start()
    units = {
        1: Unit(input={0: 0, 1: 12345, 2: 0, 3: 100}),  # 1234.5 W, 1000 Wh
        2: Unit(input={0: 0xFFFF, 1: 0xFF9C, 2: 0, 3: 7}),  # -10.0 W (export), 70 Wh
    }
    server = await TestServer(units).start_serial(bridge.b, baudrate=19200)
    registry = LinkRegistry(backoff_initial_s=0.02, backoff_cap_s=0.05)
    bus = SerialBus(bridge.a, inter_frame_gap_ms=20)
    first = ModbusDriver(
        RTU_METER, ModbusDeviceConfig("house", serial=bus, unit_id=1), registry=registry
    )
    second = ModbusDriver(
        RTU_METER, ModbusDeviceConfig("heatpump", serial=bus, unit_id=2), registry=registry
    )
    sink = Sink()
    tasks = [asyncio.create_task(d.run(sink)) for d in (first, second)]
    try:

        def good(r):
            return r.quality is Quality.GOOD

        assert (await sink.wait_for("house", "ActivePower", good)).value == 1234.5
        assert (await sink.wait_for("house", "EnergyImported", good)).value == 1000.0
        assert (await sink.wait_for("heatpump", "ActivePower", good)).value == -10.0
        assert (await sink.wait_for("heatpump", "EnergyImported", good)).value == 70.0
        await asyncio.sleep(0.2)
        reads = server.reads()
        assert {r.unit_id for r in reads} == {1, 2}
        assert {(r.address, r.count) for r in reads} == {(0, 4)}  # one coalesced FC4 block
        gaps = [b.at - a.at for a, b in pairwise(reads)]
        assert min(gaps) >= 0.019  # 20 ms inter-frame gap on the bus, never two at once
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await registry.aclose()
        await server.stop()
        bridge.close()


class _ShortReplyClient:
    """A client whose device answers FC3 with one register too few."""

    connected = True

    async def connect(self) -> bool:
        return True

    def close(self) -> None:
        pass

    async def execute(self, no_response_expected, request):
        from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

        assert request.function_code == 3 and not no_response_expected
        return ReadHoldingRegistersResponse(
            registers=[0] * (request.count - 1), dev_id=request.dev_id
        )


class _ShortReplyLink(QueuedLink):
    def _new_client(self):
        return _ShortReplyClient()


async def test_malformed_reply_is_a_located_io_error():
    link = _ShortReplyLink("198.51.100.7:502", timeout_s=0.2)
    try:
        with pytest.raises(ModbusIOError) as bad:
            await link.read_holding_registers(4, 100, 3)
        assert str(bad.value) == (
            "198.51.100.7:502 unit 4 read holding registers (FC3) address 100..102: "
            "malformed reply, 2 registers instead of 3"
        )
    finally:
        await link.close()
