"""Closing a link ends its worker even when a pymodbus call kept the cancel (it answered instead
of raising ``CancelledError``): the worker must not wait on its queue for ever and hold up the
driver's shutdown; the request in flight fails instead of waiting for ever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ampacity.drivers.modbus.link import ModbusIOError
from ampacity.drivers.modbus.tcp import TcpLink
from modbus_rig import TestServer, Unit


async def test_close_ends_a_worker_whose_call_swallowed_the_cancel() -> None:
    server = await TestServer({1: Unit()}).start()
    link = TcpLink("127.0.0.1", server.port, timeout_s=1.0)
    started = asyncio.Event()

    async def call_that_keeps_the_cancel(client: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # as a library call may do: an (empty) answer instead
            return None

    try:
        request = asyncio.create_task(link._submit("test request", call_that_keeps_the_cancel))
        await asyncio.wait_for(started.wait(), 5)
        worker = link._worker
        assert worker is not None and not worker.done()
        await asyncio.wait_for(link.close(), 3)
        assert worker.done()  # before the fix it waited on its queue for ever
        with pytest.raises(ModbusIOError, match="test request"):  # the caller hears it failed
            await asyncio.wait_for(request, 3)
    finally:
        await server.stop()
