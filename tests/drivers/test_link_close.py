"""Closing a link fails the request in flight at once, even when a pymodbus call kept the cancel
(it answered instead of raising ``CancelledError``): the caller hears "link closed" instead of
waiting for ever and holding up the driver's shutdown; requests waiting their turn fail too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ampacity.drivers.modbus.link import ModbusIOError
from ampacity.drivers.modbus.tcp import TcpLink
from modbus_rig import TestServer, Unit


async def test_close_fails_a_request_whose_call_swallowed_the_cancel() -> None:
    server = await TestServer({1: Unit(holding={0: 5})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=1.0)
    started = asyncio.Event()

    async def call_that_keeps_the_cancel(client: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # as a library call may do: an (empty) answer instead
            return None

    try:
        op = (1, "test request", 0, 1)
        request = asyncio.create_task(link._submit(op, call_that_keeps_the_cancel))
        await asyncio.wait_for(started.wait(), 5)
        waiting = asyncio.create_task(link.read_holding_registers(1, 0, 1))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # its turn comes after the request in flight
        await asyncio.wait_for(link.close(), 3)
        with pytest.raises(ModbusIOError, match=r"test request.*: link closed"):
            await asyncio.wait_for(request, 3)
        with pytest.raises(ModbusIOError, match=r"read holding registers.*: link closed"):
            await asyncio.wait_for(waiting, 3)
        assert not request.cancelled() and asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    finally:
        await server.stop()


async def test_a_cancelled_caller_stays_cancelled_and_the_link_goes_on() -> None:
    server = await TestServer({1: Unit(holding={0: 5})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=1.0)
    started = asyncio.Event()

    async def slow(client: Any) -> Any:
        started.set()
        await asyncio.sleep(30)

    try:
        request = asyncio.create_task(link._submit((1, "slow request", 0, 1), slow))
        await asyncio.wait_for(started.wait(), 5)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert await link.read_holding_registers(1, 0, 1) == [5]  # the lock was given back
    finally:
        await link.close()
        await server.stop()


async def test_a_call_that_never_returns_is_given_up_after_the_safety_limit() -> None:
    server = await TestServer({1: Unit(holding={0: 5})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=0.05)  # limit: 2 x 0.05 + 1 s

    async def hangs(client: Any) -> Any:
        await asyncio.sleep(30)

    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(ModbusIOError, match=r"hung request.*no valid answer within 0\.05 s"):
            await asyncio.wait_for(link._submit((1, "hung request", 0, 1), hangs), 5)
        assert 1.1 <= loop.time() - began < 2.5
        assert "hung request" in link.last_error
        assert await link.read_holding_registers(1, 0, 1) == [5]
    finally:
        await link.close()
        await server.stop()


async def test_a_cancel_that_the_call_swallowed_stays_a_cancel() -> None:
    server = await TestServer({1: Unit(holding={0: 5})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=1.0)
    started = asyncio.Event()

    async def answers_despite_the_cancel(client: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # as asyncio.wait_for does on Python 3.11 at times
            return await client.read_holding_registers(0, count=1, device_id=1)

    try:
        request = asyncio.create_task(
            link._submit((1, "request", 0, 1), answers_despite_the_cancel)
        )
        await asyncio.wait_for(started.wait(), 5)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):  # before the fix: the answer, and a driver
            await asyncio.wait_for(request, 3)  # that polled on after its shutdown
        assert await link.read_holding_registers(1, 0, 1) == [5]
    finally:
        await link.close()
        await server.stop()


async def test_a_cancelled_task_may_still_hand_its_device_back() -> None:
    server = await TestServer({1: Unit(holding={0: 5})}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=1.0)
    cleaned_up: list[int] = []

    async def driver() -> None:
        try:
            await asyncio.sleep(30)
        finally:  # cancelled: a clean-up write and read still go out (hybrid drivers do this)
            await link.write_register(1, 0, 9)
            cleaned_up.extend(await link.read_holding_registers(1, 0, 1))

    try:
        task = asyncio.create_task(driver())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 3)
        assert cleaned_up == [9]
    finally:
        await link.close()
        await server.stop()
