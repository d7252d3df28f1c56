"""A shared link belongs to the event loop it was handed out in: a later loop in the same process
(as in a test run) gets a fresh link for the same endpoint instead of one whose worker is gone."""

from __future__ import annotations

import asyncio

from ampacity.drivers.modbus.registry import LinkRegistry
from ampacity.drivers.modbus.rtu import SerialSettings


def test_one_loop_shares_a_link_and_a_later_loop_gets_its_own() -> None:
    registry = LinkRegistry()

    async def two_users() -> tuple[object, object, int]:
        first = registry.tcp("127.0.0.1", 15020)
        second = registry.tcp("127.0.0.1", 15020)
        return first, second, registry.users(first)

    first, second, users = asyncio.run(two_users())
    assert first is second and users == 2
    later, _, later_users = asyncio.run(two_users())
    assert later is not first and later_users == 2  # the old loop's entry is forgotten
    assert registry.users(first) == 0


def test_a_serial_bus_likewise() -> None:
    registry = LinkRegistry()
    settings = SerialSettings()

    async def user() -> object:
        return registry.rtu("/dev/ttyUSB-test", settings)

    first = asyncio.run(user())
    assert asyncio.run(user()) is not first
