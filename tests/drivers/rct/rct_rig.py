"""Helpers of the RCT tests: a ``ReadingSink`` that keeps everything published, and a driver
built from a shipped RCT profile file."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from ampacity.assets import Reading
from ampacity.drivers.base import Driver
from ampacity.drivers.rct.driver import PROFILES, RctConnection, RctProfile, create
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file


class Sink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self._new = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)
        self._new.set()

    def history(self, asset_id: str, point: str) -> list[Reading]:
        return [r for r in self.readings if r.asset_id == asset_id and r.point == point]

    def latest(self, asset_id: str, point: str) -> Reading | None:
        found = self.history(asset_id, point)
        return found[-1] if found else None

    async def wait_for(
        self, asset_id: str, point: str, check: Callable[[Reading], bool], within: float = 2.0
    ) -> Reading:
        """The first reading of the point (old or new) that passes ``check``; woken by each
        publication, not by a timer."""
        deadline = time.monotonic() + within
        seen = 0
        while True:
            found = self.history(asset_id, point)
            for reading in found[seen:]:
                if check(reading):
                    return reading
            seen = len(found)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{asset_id}.{point}: no such reading in {within} s")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)


def profile(profile_id: str = "rct_power_storage_dc") -> RctProfile:
    loaded = load_profile_file(Path(PROFILES) / f"{profile_id}.yaml")
    assert isinstance(loaded, RctProfile)
    return loaded


async def rct_driver(
    port: int, shipped: RctProfile | str = "rct_power_storage_dc", poll_s: float | None = None
) -> Driver:
    """The driver of device ``rct`` at 127.0.0.1:``port`` (assets ``rct-<key>``)."""
    chosen = profile(shipped) if isinstance(shipped, str) else shipped
    entry = DeviceEntry(
        "rct",
        chosen,
        RctConnection(host="127.0.0.1", port=port),
        {a.key: f"rct-{a.key}" for a in chosen.assets},
        poll_s=poll_s,
    )
    return await create(entry, BuildContext())
