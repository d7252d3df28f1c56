"""A fake clock the tariff driver sleeps on, and a sink that records what it publishes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from ampacity.assets import Reading


class FakeTime:
    """Wall time that moves only when the test says; the driver's ``sleep`` waits on it."""

    def __init__(self, start: datetime) -> None:
        self.value = start
        self.wake_at: datetime | None = None
        self.sleeps: list[float] = []
        self._sleeping = asyncio.Event()
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self.value

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.wake_at = self.value + timedelta(seconds=seconds)
        while self.value < self.wake_at:
            self._moved.clear()
            self._sleeping.set()
            await self._moved.wait()
        self._sleeping.clear()

    async def idle(self) -> None:
        """Until the driver sleeps (after its HTTP round trip, if any)."""
        await asyncio.wait_for(self._sleeping.wait(), 10)

    async def run_until(self, when: datetime) -> None:
        """Move to ``when``, waking the driver at every instant it asked for on the way."""
        while True:
            await self.idle()
            assert self.wake_at is not None
            if self.wake_at > when:
                self.value = when
                return
            self.value = self.wake_at
            self._sleeping.clear()
            self._moved.set()


class RecordingSink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def of(self, point: str) -> list[Reading]:
        return [r for r in self.readings if r.point == point]

    def last(self, point: str) -> Reading:
        found = self.of(point)
        assert found, f"nothing published for {point}"
        return found[-1]
