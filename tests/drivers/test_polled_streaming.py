"""A streaming link (SML frames, Speedwire datagrams) is read again at once after a good read:
a message that arrives while the poll loop would pause must not wait for ``poll_s``.

The clock is a fake whose pauses never end, so the tests show what the loop does without any
time passing: a streaming driver publishes every queued message; a polled one stops after the
first and waits for its pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

from ampacity.assets import AssetKind, PointValue, Reading
from ampacity.drivers.runtime import AssetPlan, PointKey, PolledDriver, Sample


class FrozenClock:
    """Time stands still: a pause longer than 0 s never ends."""

    def monotonic(self) -> float:
        return 1000.0

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.Event().wait()
        await asyncio.sleep(0)


class QueueLink:
    """Each read waits for the next queued message (a meter's frame)."""

    endpoint = "queue"

    def __init__(self, messages: list[float]) -> None:
        self.queue: asyncio.Queue[float] = asyncio.Queue()
        for m in messages:
            self.queue.put_nowait(m)

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        return {("meter", "ActivePower"): await self.queue.get()}

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        raise AssertionError("no writes")

    async def close(self) -> None:
        pass


class Powers:
    def __init__(self) -> None:
        self.values: list[PointValue] = []
        self.changed = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        for r in readings:
            if r.point == "ActivePower":
                self.values.append(r.value)
                self.changed.set()


async def published(streaming: bool, messages: list[float]) -> list[PointValue]:
    """The ActivePower values the driver publishes while no time passes."""
    clock = FrozenClock()
    plan = AssetPlan("meter", "m", AssetKind.ELECTRICITY_METER, ("ActivePower",))
    driver = PolledDriver(
        "m", [plan], QueueLink(messages), poll_s=0.1, streaming=streaming, clock=clock
    )
    sink = Powers()
    task = asyncio.create_task(driver.run(sink))
    try:
        for _ in range(50):  # let the loop run as far as it goes without time passing
            await asyncio.sleep(0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return sink.values


async def test_a_streaming_link_is_read_again_at_once() -> None:
    assert await published(True, [100.0, -250.0, 75.5]) == [100.0, -250.0, 75.5]


async def test_a_polled_link_pauses_poll_s_after_a_read() -> None:
    assert await published(False, [100.0, -250.0, 75.5]) == [100.0]
