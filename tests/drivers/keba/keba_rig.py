"""Helpers of the KEBA tests: free UDP ports, a recording sink, a KEBA device built as a site
builds it, captures from ``fixtures/``, a fake clock for the simulated station."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ampacity.assets import Reading
from ampacity.drivers.registry import BuildContext, DeviceEntry, load_profile_file
from ampacity.drivers.runtime import PolledDriver

FIXTURES = Path(__file__).parent / "fixtures"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def capture(name: str) -> dict[int, bytes]:
    """``{n: the exact payload of report n}`` of one capture (e.g. ``openems_..._fw3.10.57``)."""
    return {n: (FIXTURES / f"{name}_report{n}.json").read_bytes() for n in (1, 2, 3)}


class Sink:
    """Keeps every published reading."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def latest(self, asset_id: str, point: str) -> Reading | None:
        found = [r for r in self.readings if r.asset_id == asset_id and r.point == point]
        return found[-1] if found else None


class StationClock:
    """The simulated station's time, moved by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def keba_driver(
    port: int,
    bind: str,
    context: BuildContext,
    *,
    device_id: str = "keba",
    profile_changes: dict[str, Any] | None = None,
    chargepoint_changes: dict[str, Any] | None = None,
    poll_s: float | None = 0.2,
) -> PolledDriver:
    """A ``keba_p30`` device on ``127.0.0.1:port`` built through the registry's ``create``
    (polled every 0.2 s unless ``poll_s`` says otherwise; ``None``: the profile's 2 s)."""
    from ampacity.drivers.keba.plugin import KEBA_UDP, PROFILES, KebaConnection, KebaUdpProfile

    profile = load_profile_file(PROFILES / "keba_p30.yaml")
    assert isinstance(profile, KebaUdpProfile)
    if chargepoint_changes:
        cp = profile.chargepoint.model_copy(update=chargepoint_changes)
        profile = profile.model_copy(update={"chargepoint": cp})
    if profile_changes:
        profile = profile.model_copy(update=profile_changes)
    entry = DeviceEntry(
        device_id,
        profile,
        KebaConnection(host="127.0.0.1", port=port, bind=bind),
        {"chargepoint": device_id},
        poll_s=poll_s,
    )
    assert KEBA_UDP.create is not None
    driver = await KEBA_UDP.create(entry, context)
    assert isinstance(driver, PolledDriver)
    return driver


async def until(check: Callable[[], bool], within_s: float = 3.0) -> None:
    """Until ``check`` holds (polled every 10 ms), else fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)
