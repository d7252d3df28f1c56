"""``TariffDriver``: one price source as the ``Tariff`` asset (``CurrentPrice``, ``PriceForecast``).

What it publishes:

* ``CurrentPrice`` (currency/kWh, end-customer) - the price of the slot that covers now, again
  at every slot boundary (the loop wakes at each boundary, not only when it fetches). ``Good``
  while a known slot covers now, also from the last good forecast while the source fails (a
  day-ahead price does not change once published). When no known slot covers now:
  ``UncertainLastUsableValue`` with the last price and its old source time, and
  ``Health.LastError`` says why; ``BadCommunicationError`` if no price was ever known.
* ``PriceForecast`` - the known slots that end after now, as JSON
  ``[{"start": "2026-11-23T23:00:00Z", "end": "2026-11-23T23:15:00Z", "price": 0.2871}, ...]``
  (ISO 8601 UTC, end-customer price per kWh, rounded to 6 decimals), whenever it changes.
* ``Health.Connected`` (the last fetch succeeded), ``Health.LastGood`` (time of the last good
  fetch), ``Health.ErrorCount`` (failed fetches since start), ``Health.LastError`` (located
  message; also the first entry a partial answer left out), ``Health.PollDuration`` (ms of the
  last fetch) - after every fetch.

When it fetches: at start; then every ``refresh_s``; and once the known slots end within 11 h
(tomorrow's day-ahead prices are published around 12:45-13:00 CET, when today's slots end in 11
h), so a long ``refresh_s`` still picks them up soon after publication. After a failure it
retries with exponential backoff and jitter (``retry_initial_s`` doubling up to ``retry_max_s``).
Good slots of earlier answers are kept (cache) unless a newer answer covers them; slots that
ended more than a day ago are dropped.

Nothing of a tariff is writable: ``write`` raises ``WriteError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from ampacity.assets import AssetKind, PointValue, Quality, Reading, ReadingSink, WriteResult
from ampacity.assets.readings import WriteError
from ampacity.drivers.base import AssetInfo
from ampacity.drivers.runtime import Backoff, DeviceRuntime

from . import awattar, energy_charts, entsoe, tibber
from .config import TariffConfig
from .http import TariffRequest, fetch, load_json, request_window
from .model import ParsedSlots, PriceSlot, TariffError, TariffFormatError, iso_utc, utc

log = logging.getLogger(__name__)

TOMORROW_LEAD = timedelta(hours=11)
"""Fetch again once the known slots end within this time (day-ahead results ~13:00 CET)."""
KEEP_PAST = timedelta(days=1)
"""Slots that ended longer ago than this are dropped from the cache."""
POINTS = ("CurrentPrice", "PriceForecast")

Now = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]

_MODELS = {
    "tibber": ("Tibber", "Tibber price API (GraphQL)"),
    "awattar": ("aWATTar", "aWATTar market data API"),
    "energy-charts": ("Fraunhofer ISE", "Energy-Charts day-ahead price API"),
    "entsoe": ("ENTSO-E", "Transparency Platform day-ahead prices (A44)"),
}


def _system_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch brought: end-customer slots and what the answer left out."""

    slots: list[PriceSlot]
    skipped: list[str]


class _InjectedClock:
    """The runtime's clock from the driver's injected ``now`` and ``sleep`` (a tariff lives on
    wall-clock time: slot boundaries; its "monotonic" time is the wall clock's seconds)."""

    def __init__(self, now: Now, sleep: Sleep) -> None:
        self.now = now
        self._sleep = sleep

    def monotonic(self) -> float:
        return self.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)


class TariffDriver:
    """Serves one ``Tariff`` asset from a price source.

    Args:
        config: the tariff's configuration.
        session: an aiohttp session to use (not closed here); default: one of its own, opened
            in ``run`` and closed when ``run`` ends.
        now: wall clock, timezone-aware UTC (tests pass a fake clock).
        sleep: ``await sleep(seconds)`` (tests pass one that moves the fake clock).
        rng: random source of the retry jitter.

    Example::

        driver = TariffDriver(TariffConfig(provider="energy-charts", bidding_zone="DE-LU"))
        await driver.run(sink)  # until cancelled
    """

    def __init__(
        self,
        config: TariffConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        now: Now | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.device_id = config.id
        self._session = session
        self._now = now or _system_now
        self._sleep = sleep or asyncio.sleep
        self._backoff = Backoff(
            config.retry_initial_s,
            max(config.retry_initial_s, config.retry_max_s),
            rng=rng or random.Random(),
        )
        self.runtime = DeviceRuntime(
            config.id, [config.id], clock=_InjectedClock(self._now, self._sleep), logger=log
        )
        manufacturer, model = _MODELS[config.provider]
        if config.provider == "tibber":
            model += f", {config.product}"
        self._info = AssetInfo(
            config.id,
            AssetKind.TARIFF,
            POINTS,
            identification={
                "Manufacturer": manufacturer,
                "Model": model,
                "DeviceProfile": f"tariff:{config.provider}",
            },
        )
        self._slots: list[PriceSlot] = []
        self._last_current: Reading | None = None
        self._current_price = self.runtime.point(config.id, "CurrentPrice")
        """The runtime's cache of ``CurrentPrice``: its last good value and quality."""
        self._last_forecast: str | None = None
        self.fetch_count = 0
        """Fetch attempts since construction (for tests and diagnostics)."""

    # --- Driver --------------------------------------------------------------------------------

    @property
    def assets(self) -> tuple[AssetInfo, ...]:
        return (self._info,)

    @property
    def slots(self) -> tuple[PriceSlot, ...]:
        """The cached end-customer slots, sorted by start."""
        return tuple(self._slots)

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Nothing of a tariff is writable.

        Raises:
            WriteError: always.
        """
        raise WriteError(f"{asset_id}.{point}: not writable (a tariff has no setpoints)")

    async def run(self, sink: ReadingSink) -> None:
        """Fetch, cache and publish until cancelled; never raises for source faults."""
        self.runtime.sink = sink
        self._publish(self._identification())
        own = self._session is None
        session = self._session or aiohttp.ClientSession()
        try:
            await self._loop(session)
        finally:
            if own:
                await session.close()

    # --- scheduling ----------------------------------------------------------------------------

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        next_fetch = self._now()
        while True:
            now = self._now()
            if now >= next_fetch:
                ok = await self.refresh(session)
                now = self._now()
                if ok:
                    self._backoff.reset()
                    next_fetch = now + self._refresh_delay(now)
                else:
                    next_fetch = now + timedelta(seconds=self._backoff.next_delay())
            else:
                self._publish_prices(now)
            wake = min(next_fetch, self._next_boundary(now) or next_fetch)
            await self._sleep(max(0.0, (wake - self._now()).total_seconds()))

    def _refresh_delay(self, now: datetime) -> timedelta:
        """``refresh_s``, or less to fetch again once the known slots end within 11 h."""
        delay = timedelta(seconds=self.config.refresh_s)
        if self._slots:
            lead_at = self._slots[-1].end - TOMORROW_LEAD
            if now < lead_at < now + delay:
                delay = lead_at - now
        return delay

    def _next_boundary(self, now: datetime) -> datetime | None:
        """The next instant at which the slot covering now changes."""
        for slot in self._slots:
            if slot.start > now:
                return slot.start
            if slot.end > now:
                return slot.end
        return None

    # --- fetching ------------------------------------------------------------------------------

    async def refresh(self, session: aiohttp.ClientSession) -> bool:
        """One fetch: update the cache, publish health and prices. ``True`` when it succeeded."""
        self.fetch_count += 1
        started = time.perf_counter()
        try:
            result = await self._fetch(session)
        except TariffError as exc:
            self._fail(self._scrub(str(exc)))
        except Exception as exc:  # a bug or an unexpected answer must not stop the driver
            log.exception("%s: fetch failed unexpectedly", self.device_id)
            self._fail(self._scrub(f"{self.config.provider}: {type(exc).__name__}: {exc}"))
        else:
            now = self._now()
            self._merge(result.slots, now)
            self.runtime.answered()
            if result.skipped:
                first = self._scrub(result.skipped[0])
                more = len(result.skipped) - 1
                self.runtime.health.last_error = first + (f" (+{more} more)" if more else "")
                for message in result.skipped:
                    log.warning("%s: %s", self.device_id, self._scrub(message))
            else:
                self.runtime.health.last_error = ""
        self.runtime.health.poll_ms = (time.perf_counter() - started) * 1000.0
        now = self._now()
        self._publish(self.runtime.health_readings())
        self._publish_prices(now)
        return self.runtime.health.connected

    async def _fetch(self, session: aiohttp.ClientSession) -> FetchResult:
        config = self.config
        now = self._now()
        if config.provider == "tibber" and config.product == "monthly":
            return await self._fetch_monthly(session, now)
        module = {
            "awattar": awattar,
            "energy-charts": energy_charts,
            "entsoe": entsoe,
            "tibber": tibber,
        }[config.provider]
        request: TariffRequest = module.build_request(config, now)
        body = await fetch(session, request, config.provider, config.timeout_s)
        parsed: ParsedSlots = module.slots_from_body(body, config)
        if not parsed:
            reason = f"; {parsed.skipped[0]}" if parsed.skipped else ""
            raise TariffFormatError(f"{config.provider}: the answer holds no price slot{reason}")
        return FetchResult(config.components.apply(parsed), list(parsed.skipped))

    async def _fetch_monthly(self, session: aiohttp.ClientSession, now: datetime) -> FetchResult:
        """Tibber's monthly product: one price, flat over today and tomorrow.

        The configured ``monthly_price_per_kwh`` needs no request; otherwise Tibber's
        ``current.total`` is held flat until the end of the local month.
        """
        config = self.config
        start, end = request_window(now, config.zone)
        price = config.monthly_price_per_kwh
        if price is None:
            request = tibber.build_request(config, now)
            body = await fetch(session, request, tibber.PROVIDER, config.timeout_s)
            price = tibber.tibber_current_price(
                load_json(tibber.PROVIDER, body), home_id=config.home_id, currency=config.currency
            )
            local = now.astimezone(config.zone)
            first_next = (local.replace(day=28) + timedelta(days=4)).replace(
                day=1, hour=0, minute=0, second=0, microsecond=0
            )
            end = min(end, first_next.astimezone(UTC))
        hour = timedelta(hours=1)
        slots = []
        at = start
        while at < end:
            slots.append(PriceSlot(at, min(at + hour, end), price))
            at += hour
        return FetchResult(config.components.apply(slots), [])

    def _merge(self, fresh: list[PriceSlot], now: datetime) -> None:
        """New slots win; cached ones are kept where no new one overlaps them."""
        fresh = sorted(fresh, key=lambda s: s.start)
        kept = [
            old
            for old in self._slots
            if old.end > now - KEEP_PAST
            and not any(new.start < old.end and old.start < new.end for new in fresh)
        ]
        self._slots = sorted(kept + fresh, key=lambda s: s.start)

    def _fail(self, message: str) -> None:
        self.runtime.failed(message)

    def _scrub(self, text: str) -> str:
        secret = self.config.secret()
        return text.replace(secret, "***") if secret else text

    # --- readings ------------------------------------------------------------------------------

    def current_slot(self, now: datetime) -> PriceSlot | None:
        """The cached slot that covers ``now``."""
        now = utc(now)
        return next((s for s in self._slots if s.covers(now)), None)

    def forecast_json(self, now: datetime) -> str:
        """``PriceForecast``: the slots that end after ``now`` as JSON."""
        now = utc(now)
        return json.dumps(
            [
                {
                    "start": iso_utc(s.start),
                    "end": iso_utc(s.end),
                    "price": round(s.price_per_kwh, 6),
                }
                for s in self._slots
                if s.end > now
            ],
            separators=(",", ":"),
        )

    def _publish_prices(self, now: datetime) -> None:
        aid = self.config.id
        out: list[Reading] = []
        slot = self.current_slot(now)
        price = self._current_price
        if slot is not None:
            current = price.accept(slot.price_per_kwh, Quality.GOOD, now, now.timestamp())
        elif price.last_good is not None or self.fetch_count:
            # no known slot covers now: the last price as Uncertain, or Bad if there never was one
            current = price.stale(now)
            if self.runtime.health.ever_connected:
                self._note_uncovered(now)
        else:
            return
        previous = self._last_current
        if (
            previous is None
            or previous.value != current.value
            or previous.quality is not current.quality
            or (slot is not None and previous.source_time < slot.start)
        ):
            out.append(current)
            self._last_current = current
        if self.runtime.health.ever_connected:
            forecast = self.forecast_json(now)
            if forecast != self._last_forecast:
                quality = Quality.GOOD if forecast != "[]" else Quality.UNCERTAIN_LAST_USABLE
                out.append(Reading(aid, "PriceForecast", forecast, quality, now))
                self._last_forecast = forecast
        elif self.fetch_count and self._last_forecast is None:
            out.append(Reading(aid, "PriceForecast", None, Quality.BAD_COMMUNICATION_ERROR, now))
            self._last_forecast = ""
        self._publish(out)

    def _note_uncovered(self, now: datetime) -> None:
        """Say in ``Health.LastError`` that no known slot covers now (published once)."""
        known = f"known slots end at {iso_utc(self._slots[-1].end)}" if self._slots else "none"
        message = f"{self.config.provider}: no price for {iso_utc(now)} ({known})"
        health = self.runtime.health
        if not health.last_error.startswith(f"{self.config.provider}: no price for "):
            if health.last_error and "no price for" not in health.last_error:
                message += f"; last fetch: {health.last_error}"
            health.last_error = message
            self._publish([Reading(self.config.id, "Health.LastError", message, Quality.GOOD, now)])

    def _identification(self) -> list[Reading]:
        now = self._now()
        return [
            Reading(self.config.id, f"Identification.{k}", v, Quality.GOOD, now)
            for k, v in self._info.identification.items()
        ]

    def _publish(self, readings: list[Reading]) -> None:
        self.runtime.publish(readings)
