"""``DeviceRuntime``: what every driver shares, whatever its protocol.

One runtime per device owns the assets' point caches (last good value, quality transitions),
the device's ``Health``, the failure log, publishing to the sink, and the staleness watchdog.
A protocol driver owns only its wire: how to read (a register block, a frame, a datagram, a
JSON body → point values) and how to write. Used by the Modbus engine, SunSpec, the ripple
receivers, the tariffs and the code drivers (``PolledDriver``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from ampacity.assets import PointValue, Quality, Reading, ReadingSink

from .backoff import SYSTEM_CLOCK, Clock
from .health import DeviceHealth, FailureLog
from .points import PointCache

log = logging.getLogger("ampacity.drivers")

STALE_AFTER_INTERVALS = 2.5
"""A value without a good read for this many poll intervals is published Uncertain (< 3)."""

_WATCHDOG_SLACK_S = 0.001
"""The watchdog wakes this long after a deadline, so the point is past it when checked, s."""


class DeviceRuntime:
    """Point caches, health, failure log and publishing of one device.

    Args:
        device_id: the configured device id (first word of its log lines).
        asset_ids: the ids of the assets the device serves (each gets ``Health`` points).
        clock: time source.
        logger: where the device's lines go.
    """

    def __init__(
        self,
        device_id: str,
        asset_ids: Iterable[str] = (),
        *,
        clock: Clock = SYSTEM_CLOCK,
        logger: logging.Logger = log,
    ) -> None:
        self.device_id = device_id
        self.asset_ids: list[str] = list(asset_ids)
        self.clock = clock
        self.health = DeviceHealth()
        self.failures = FailureLog(logger, device_id)
        self.points: dict[tuple[str, str], PointCache] = {}
        self.sink: ReadingSink | None = None
        self.started_mono: float | None = None
        self._log = logger

    # --- points --------------------------------------------------------------------------------

    def point(self, asset_id: str, path: str) -> PointCache:
        """The cache of one point (created on first use)."""
        key = (asset_id, path)
        cache = self.points.get(key)
        if cache is None:
            cache = self.points[key] = PointCache(asset_id, path)
        return cache

    def accept(
        self,
        asset_id: str,
        path: str,
        value: PointValue,
        quality: Quality = Quality.GOOD,
        when: datetime | None = None,
    ) -> Reading:
        """An answer for a point (source time = ``when`` or now)."""
        at = when if when is not None else self.clock.now()
        return self.point(asset_id, path).accept(value, quality, at, self.clock.monotonic())

    def stale_readings(self, caches: Iterable[PointCache] | None = None) -> list[Reading]:
        """What the points show while the device does not answer."""
        now = self.clock.now()
        chosen = self.points.values() if caches is None else caches
        return [cache.stale(now) for cache in chosen]

    # --- health --------------------------------------------------------------------------------

    def answered(self) -> bool:
        """The device answered; returns ``True`` when it came back after an outage."""
        mono = self.clock.monotonic()
        came_back = self.health.answered(self.clock.now(), mono)
        self.failures.recovered(mono)
        return came_back

    def failed(self, cause: str, *, disconnected: bool = True) -> None:
        """A request failed (``cause`` in words); counted, logged once per state change."""
        self.health.failed(cause, disconnected=disconnected)
        self.failures.failed(cause, self.clock.monotonic())

    def health_readings(self) -> list[Reading]:
        return self.health.readings(self.asset_ids, self.clock.now())

    def identification_readings(self, identification: dict[str, dict[str, str]]) -> list[Reading]:
        """``Identification.<name>`` readings from ``{asset_id: {name: value}}``."""
        now = self.clock.now()
        return [
            Reading(asset_id, f"Identification.{name}", value, Quality.GOOD, now)
            for asset_id, values in identification.items()
            for name, value in values.items()
        ]

    # --- publishing ----------------------------------------------------------------------------

    def publish(self, readings: list[Reading]) -> None:
        """Hand readings to the sink; a faulty sink is logged and never stops the driver."""
        if not readings or self.sink is None:
            return
        try:
            self.sink.publish(readings)
        except Exception:
            self._log.exception("%s: the reading sink failed", self.device_id)

    # --- staleness -----------------------------------------------------------------------------

    async def watchdog(
        self,
        interval_of: Callable[[PointCache], float | None],
        *,
        skip: Callable[[PointCache], bool] = lambda cache: False,
    ) -> None:
        """Publish Uncertain (or BadCommunicationError) for values whose read is overdue, even
        while a request hangs: within ``STALE_AFTER_INTERVALS`` poll intervals of the last good
        read. ``interval_of`` gives a point's poll interval (``None``: not watched)."""
        if self.started_mono is None:
            self.started_mono = self.clock.monotonic()
        # (cache, staleness limit s) of every watched point; a point's poll interval is fixed
        watched = [
            (cache, STALE_AFTER_INTERVALS * interval)
            for cache in self.points.values()
            if (interval := interval_of(cache)) is not None
        ]
        if not watched:
            return
        shortest_limit = min(limit for _, limit in watched)
        shortest = shortest_limit / STALE_AFTER_INTERVALS
        while True:
            # Sleep until the earliest deadline of a point not yet shown stale, at most the
            # shortest staleness limit: a point answered after this pass has its deadline at
            # least that far ahead, so nothing is missed, and a device that answers costs about
            # one pass per 1.5 intervals instead of four per interval.
            mono = self.clock.monotonic()
            wake = mono + shortest_limit
            overdue: list[PointCache] = []
            for cache, limit in watched:
                if cache.stale_published:
                    continue
                since = cache.last_ok_mono if cache.last_ok_mono is not None else self.started_mono
                deadline = since + limit
                if mono > deadline:
                    # asked only here: a skipped point's deadline may at most wake us early
                    if not skip(cache):
                        overdue.append(cache)
                elif deadline < wake:
                    wake = deadline
            if overdue:
                readings = self.stale_readings(overdue)
                last = self.health.last_answer_mono
                if last is None or mono - last > STALE_AFTER_INTERVALS * shortest:
                    self.health.connected = False
                readings += self.health_readings()
                self.publish(readings)
            await self.clock.sleep(wake - mono + _WATCHDOG_SLACK_S)


P = TypeVar("P")


@dataclass(slots=True)
class Setpoint(Generic[P]):
    """A setpoint the device holds only while it is refreshed.

    Attributes:
        payload: what to send again (a value, a prepared register write).
        refresh_s: re-send period, shorter than the device's own fallback timer; ``None``: only
            after a reconnect.
        next_refresh: monotonic time of the next re-send, s.
    """

    payload: P
    refresh_s: float | None
    next_refresh: float = 0.0


@dataclass
class SetpointMemory(Generic[P]):
    """The active setpoints of a device: re-sent before the device's fallback timer expires
    and after a reconnect (devices like the Heidelberg wallbox forget them on power-on)."""

    clock: Clock = SYSTEM_CLOCK
    active: dict[object, Setpoint[P]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def remember(self, key: object, payload: P, refresh_s: float | None) -> None:
        mono = self.clock.monotonic()
        self.active[key] = Setpoint(payload, refresh_s, mono + (refresh_s or 0.0))
        self.changed.set()

    def forget(self, key: object) -> None:
        if self.active.pop(key, None) is not None:
            self.changed.set()

    def due(self) -> list[tuple[object, Setpoint[P]]]:
        """The setpoints to re-send now (their next refresh is moved on)."""
        mono = self.clock.monotonic()
        out = []
        for key, sp in self.active.items():
            if sp.refresh_s and mono >= sp.next_refresh:
                sp.next_refresh = mono + sp.refresh_s
                out.append((key, sp))
        return out

    def restart_timers(self) -> None:
        """After re-sending everything: the next refresh is one period from now."""
        mono = self.clock.monotonic()
        for sp in self.active.values():
            if sp.refresh_s:
                sp.next_refresh = mono + sp.refresh_s

    async def wait_due(self) -> None:
        """Until a refresh is due or the setpoints change (the wait runs on ``clock``, so a
        test's fast or fake clock moves the refresh too)."""
        timed = [sp.next_refresh for sp in self.active.values() if sp.refresh_s]
        wait = min(timed, default=self.clock.monotonic() + 3600.0) - self.clock.monotonic()
        self.changed.clear()
        # asyncio.wait, not asyncio.timeout: on Python 3.11 a timeout expiring together with an
        # outer cancel can turn the cancel into a TimeoutError, which would be swallowed here and
        # leave the driver running after shutdown.
        changed = asyncio.ensure_future(self.changed.wait())
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, wait)))
        try:
            await asyncio.wait({changed, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            timer.cancel()
