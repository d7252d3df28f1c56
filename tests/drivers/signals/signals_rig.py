"""Helpers of the ripple-control receiver tests: a sink that records and can be awaited, a
running driver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import Backoff, LinkRegistry
from ampacity.drivers.signals import RippleReceiverConfig, RippleReceiverDriver


class RecordingSink:
    """Keeps every reading and the latest per point; ``wait_for`` waits for a condition."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.latest: dict[str, Reading] = {}
        self._changed = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)
        for reading in readings:
            self.latest[reading.point] = reading
        self._changed.set()

    def value(self, point: str) -> object:
        reading = self.latest.get(point)
        return None if reading is None else reading.value

    def quality(self, point: str) -> Quality | None:
        reading = self.latest.get(point)
        return None if reading is None else reading.quality

    def of(self, point: str) -> list[Reading]:
        return [r for r in self.readings if r.point == point]

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
        """Return as soon as ``condition()`` holds after a publish; fail after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def fast_backoff() -> Backoff:
    """Retries after 20..50 ms, so recovery tests do not wait for the production backoff."""
    return Backoff(initial_s=0.02, cap_s=0.05)


@contextlib.asynccontextmanager
async def running(
    entry: dict[str, object], sink: RecordingSink, links: LinkRegistry | None = None
) -> AsyncIterator[RippleReceiverDriver]:
    """A driver built from a config entry, running until the block ends."""
    driver = RippleReceiverDriver(
        RippleReceiverConfig.model_validate(entry), links=links, backoff=fast_backoff()
    )
    task = asyncio.create_task(driver.run(sink))
    try:
        yield driver
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
