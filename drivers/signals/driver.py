"""``RippleReceiverDriver``: a ripple-control receiver / grid-operator control box as one asset.

Published points (asset kind ``RippleControlReceiver``, asset id = ``config.id``):

* ``Contact1..ContactN`` (bool, ``True`` = closed, after NC inversion) and ``ActiveLimit``
  (% of installed PV power, from the contact table) - the first time and on every change;
  source time = when the contacts were read;
* ``Health.Connected``, ``Health.ErrorCount``, ``Health.LastError`` - on change;
  ``Health.LastGood`` and ``Health.PollDuration`` (ms) - at most once per ``HEALTH_PERIOD_S``
  while polling fast, and with every change of the others;
* ``Identification.Manufacturer``, ``.Model``, ``.DeviceProfile`` - once at start.

The §14a EnWG dimming contact (``config.dimming_contact``) is published as its ``ContactN``;
``driver.dimming_contact`` tells the server which point signals "dim controllable consumers".
It signals no feed-in stage.

Failures: when a poll fails, the contacts and ``ActiveLimit`` go ``UncertainLastUsableValue``
at once (last values, old source time; ``BadCommunicationError`` if the source never answered)
and ``Health.LastError`` says why. The driver keeps no limit of its own: the control keeps the
last known limit, because a communication failure must never lift a grid operator's limit.
Polls while failing are paced by a backoff with jitter (first pause = one poll interval, up to
``config.reconnect_max_s``); the Modbus link adds its own reconnect backoff.

Nothing is writable (``write`` raises ``WriteError``); KMTronic relay outputs are not driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ampacity.assets import (
    AssetKind,
    PointValue,
    Quality,
    Reading,
    ReadingSink,
    WriteError,
    WriteResult,
)
from ampacity.drivers.base import AssetInfo
from ampacity.drivers.modbus import DEFAULT_REGISTRY, Backoff, Clock, LinkRegistry
from ampacity.drivers.runtime import SYSTEM_CLOCK, DeviceRuntime

from .bank import ContactBank
from .config import KmtronicSource, ModbusSource, RippleReceiverConfig, SimulatedSource
from .sources import (
    BankContactSource,
    ContactSource,
    KmtronicContactSource,
    ModbusContactSource,
    SourceError,
    levels_to_closed,
)
from .table import ContactTable

log = logging.getLogger(__name__)

HEALTH_PERIOD_S = 1.0
"""``Health.PollDuration`` / ``Health.LastGood`` are published at most this often, s."""

LIMIT_POINT = "ActiveLimit"

_MODELS = {
    "modbus": ("Modbus I/O module", "ripple_control_modbus"),
    "kmtronic": ("KMTronic LAN web board", "ripple_control_kmtronic"),
    "simulated": ("Simulated contact bank", "ripple_control_simulated"),
}


class RippleReceiverDriver:
    """Reads the receiver's contacts and publishes them with the feed-in limit they signal.

    Args:
        config: the receiver's configuration.
        links: the site's Modbus link registry (shared TCP connections); default
            ``DEFAULT_REGISTRY``.
        clock: time source (source times, health timestamps, poll pacing).
        backoff: pacing of polls while the source fails (default: one poll interval doubling
            up to ``config.reconnect_max_s``, with jitter).
        bank: the contact bank of a ``simulated`` source (default: a new one with
            ``source.closed``).

    Example::

        driver = RippleReceiverDriver(RippleReceiverConfig.model_validate(entry), links=links)
        await driver.run(sink)   # until cancelled
    """

    def __init__(
        self,
        config: RippleReceiverConfig,
        *,
        links: LinkRegistry | None = None,
        clock: Clock = SYSTEM_CLOCK,
        backoff: Backoff | None = None,
        bank: ContactBank | None = None,
    ) -> None:
        self.config = config
        self.device_id = config.id
        self.asset_id = config.id
        self.table: ContactTable = config.contact_table()
        self.clock = clock
        self._links = links or DEFAULT_REGISTRY
        self._poll_s = config.poll_interval_s
        self._backoff = backoff or Backoff(
            initial_s=self._poll_s, cap_s=max(self._poll_s, config.reconnect_max_s)
        )
        self._invert = config.invert
        source = config.source
        self._bank: ContactBank | None = None
        if isinstance(source, SimulatedSource):
            self._bank = bank or ContactBank(config.contacts, source.closed)
            if self._bank.contacts != config.contacts:
                raise ValueError(
                    f"{config.id}: the bank has {self._bank.contacts} contacts, "
                    f"the config {config.contacts}"
                )
        self._contact_points = tuple(f"Contact{n}" for n in range(1, config.contacts + 1))
        manufacturer, model = _MODELS[source.type]
        self._info = AssetInfo(
            config.id,
            AssetKind.RIPPLE_CONTROL_RECEIVER,
            (*self._contact_points, LIMIT_POINT),
            identification={
                "Manufacturer": "KMTronic" if source.type == "kmtronic" else manufacturer,
                "Model": model if source.type == "kmtronic" else manufacturer,
                "DeviceProfile": model,
            },
        )
        self.runtime = DeviceRuntime(config.id, [config.id], clock=clock, logger=log)
        for point in self._info.points:
            self.runtime.point(config.id, point)
        self._closed: tuple[bool, ...] | None = None
        self._limit: float | None = None
        self._failing = False
        self._health_sent: tuple[bool, int, str] | None = None
        self._health_at = -1.0e9

    # --- Driver --------------------------------------------------------------------------------

    @property
    def assets(self) -> tuple[AssetInfo, ...]:
        return (self._info,)

    @property
    def dimming_contact(self) -> str | None:
        """The point (``"Contact3"``) whose ``True`` means "dim controllable consumers" (§14a
        EnWG), or ``None``."""
        d = self.config.dimming_contact
        return f"Contact{d}" if d is not None else None

    @property
    def bank(self) -> ContactBank | None:
        """The contact bank of a ``simulated`` source (flip with ``bank.set_contact(n, closed)``);
        ``None`` for real sources."""
        return self._bank

    @property
    def closed(self) -> tuple[bool, ...] | None:
        """The contact states of the last good read (after inversion), ``None`` before one."""
        return self._closed

    @property
    def active_limit(self) -> float | None:
        """The limit of the last good read, %; ``None`` before one."""
        return self._limit

    async def run(self, sink: ReadingSink) -> None:
        """Poll and publish until cancelled; never raises for source faults."""
        self.runtime.sink = sink
        source = self._open_source()
        try:
            self._publish(self._identification())
            while True:
                delay = await self._poll(source)
                await source.wait_change(delay)
        finally:
            with contextlib.suppress(Exception):
                await source.close()

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Nothing of a ripple-control receiver is writable.

        Raises:
            WriteError: always.
        """
        raise WriteError(f"{asset_id}.{point}: a ripple-control receiver has no setpoints")

    # --- polling -------------------------------------------------------------------------------

    def _open_source(self) -> ContactSource:
        source = self.config.source
        if isinstance(source, ModbusSource):
            return ModbusContactSource(source, self._links, self.config.timeout_s)
        if isinstance(source, KmtronicSource):
            return KmtronicContactSource(source, self.config.timeout_s)
        assert self._bank is not None
        return BankContactSource(self._bank)

    async def _poll(self, source: ContactSource) -> float:
        """One read; returns the pause before the next, s."""
        started = self.clock.monotonic()
        try:
            async with asyncio.timeout(self.config.timeout_s * 2 + 1.0):  # sources time out first
                levels = await source.read()
            if len(levels) != self.config.contacts:
                raise SourceError(
                    f"{source.endpoint}: {len(levels)} inputs for {self.config.contacts} contacts"
                )
        except (SourceError, TimeoutError) as exc:
            _raise_if_cancelling()
            message = str(exc) or f"{source.endpoint}: no answer"
            self._on_failure(message, started)
            return max(self._poll_s, self._backoff.next_delay())
        except Exception as exc:  # a bug must not end the driver; it is counted and shown
            log.exception("%s: poll failed", self.device_id)
            self._on_failure(f"{source.endpoint}: {type(exc).__name__}: {exc}", started)
            return max(self._poll_s, self._backoff.next_delay())
        self._backoff.reset()
        self._on_good(levels, started)
        return max(0.0, self._poll_s - (self.clock.monotonic() - started))

    def _on_good(self, levels: list[bool], started: float) -> None:
        now = self.clock.now()
        closed = levels_to_closed(levels, self._invert)
        limit = self.table.limit(closed)
        recovered = self._failing or self._closed is None
        self._failing = False
        rt = self.runtime
        rt.answered()
        rt.health.poll_ms = round((self.clock.monotonic() - started) * 1000.0, 3)
        readings: list[Reading] = []
        previous = self._closed
        for i, point in enumerate(self._contact_points):
            changed = recovered or previous is None or previous[i] != closed[i]
            reading = rt.accept(self.asset_id, point, closed[i], Quality.GOOD, now)
            if changed:
                readings.append(reading)
        reading = rt.accept(self.asset_id, LIMIT_POINT, limit, Quality.GOOD, now)
        if recovered or limit != self._limit:
            readings.append(reading)
        self._closed, self._limit = closed, limit
        readings += self._health_readings(force=bool(readings))
        self._publish(readings)

    def _on_failure(self, message: str, started: float) -> None:
        self.runtime.failed(message)
        self.runtime.health.poll_ms = round((self.clock.monotonic() - started) * 1000.0, 3)
        readings: list[Reading] = []
        if not self._failing:
            self._failing = True
            readings = self.runtime.stale_readings()
        readings += self._health_readings(force=False)
        self._publish(readings)

    # --- readings ------------------------------------------------------------------------------

    def _identification(self) -> list[Reading]:
        now = self.clock.now()
        return [
            Reading(self.asset_id, f"Identification.{name}", value, Quality.GOOD, now)
            for name, value in self._info.identification.items()
        ]

    def _health_readings(self, *, force: bool) -> list[Reading]:
        health = self.runtime.health
        state = (health.connected, health.error_count, health.last_error)
        mono = self.clock.monotonic()
        changed = state != self._health_sent
        if not (force or changed or mono - self._health_at >= HEALTH_PERIOD_S):
            return []
        now = self.clock.now()
        aid = self.asset_id
        out = [Reading(aid, "Health.PollDuration", health.poll_ms, Quality.GOOD, now)]
        if health.last_good is not None:
            out.append(Reading(aid, "Health.LastGood", health.last_good, Quality.GOOD, now))
        if changed or self._health_sent is None:
            out += [
                Reading(aid, "Health.Connected", health.connected, Quality.GOOD, now),
                Reading(aid, "Health.ErrorCount", health.error_count, Quality.GOOD, now),
                Reading(aid, "Health.LastError", health.last_error, Quality.GOOD, now),
            ]
        self._health_sent = state
        self._health_at = mono
        return out

    def _publish(self, readings: list[Reading]) -> None:
        self.runtime.publish(readings)


def _raise_if_cancelling() -> None:
    """Keep a cancel a cancel: on Python 3.11 a timeout that expires while the task is being
    cancelled can surface as ``TimeoutError``; swallowing it would keep the driver polling after
    shutdown."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
