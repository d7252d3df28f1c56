"""The Prometheus endpoint: ``ampacity run --metrics HOST:PORT`` or ``metrics.listen``.

Off by default. Every value is read when Prometheus scrapes (a collector, nothing is updated on
the data path), on the event loop (the endpoint is an aiohttp server on the same loop, so no
thread reads the site's state while it changes).

Metrics (labels ``device`` = site-file device id, ``asset`` = asset id):

- ``ampacity_device_poll_duration_seconds``: duration of the last complete poll;
- ``ampacity_device_errors_total``: failed requests since start;
- ``ampacity_device_connected``: 1 while the driver talks to the device;
- ``ampacity_device_last_good_age_seconds``: age of the newest Good value of the asset;
- ``ampacity_device_points{quality="good|uncertain|bad"}``: the asset's points by quality;
- ``ampacity_control_cycle_duration_seconds``, ``ampacity_control_cycles_total``,
  ``ampacity_control_overruns_total``, ``ampacity_control_controller_errors_total``,
  ``ampacity_control_failsafe`` (1 while every asset is fail-safe);
- ``ampacity_historian_buffered_samples``, ``ampacity_historian_buffer_bytes``,
  ``ampacity_historian_oldest_buffered_age_seconds`` (the queue: what is not in the database
  yet), ``ampacity_historian_write_latency_seconds`` (the last database transaction),
  ``ampacity_historian_written_total``, ``ampacity_historian_dropped_total``,
  ``ampacity_historian_database_connected``;
- ``ampacity_opcua_sessions``, ``ampacity_opcua_subscriptions``,
  ``ampacity_opcua_monitored_items``, ``ampacity_opcua_notifications_total`` (publish rate:
  ``rate()`` of it);
- ``ampacity_clock_synchronized`` (1 yes, 0 no, -1 unknown), ``ampacity_clock_jumps_total``;
- ``ampacity_info{version}``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from ampacity import __version__
from ampacity.assets import Quality
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .app import RunningSite
    from .clock import ClockWatch

log = logging.getLogger(__name__)

DEFAULT_PORT = 9464


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6; a bare port means loopback; port 0: any free).

    Raises:
        ValueError: not an address and port.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is not in 0..65535")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IP address") from None
    return host, port


class SiteCollector(Collector):
    """Reads a running site's state at scrape time."""

    def __init__(
        self,
        site: RunningSite,
        clock_watch: ClockWatch | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.site = site
        self.clock_watch = clock_watch
        self.now = now
        self._notifications = 0
        self._seq_seen: dict[int, int] = {}

    def collect(self) -> Iterator[Metric]:
        yield from self._devices()
        yield from self._control()
        yield from self._historian()
        yield from self._opcua()
        yield from self._clock()
        info = GaugeMetricFamily("ampacity_info", "Ampacity version.", labels=["version", "site"])
        info.add_metric([__version__, self.site.config.site.id], 1.0)
        yield info

    # --- devices --------------------------------------------------------------------------------

    def _devices(self) -> Iterable[Metric]:
        labels = ["device", "asset"]
        poll = GaugeMetricFamily(
            "ampacity_device_poll_duration_seconds", "Duration of the last poll.", labels=labels
        )
        errors = CounterMetricFamily(
            "ampacity_device_errors", "Failed requests since start.", labels=labels
        )
        connected = GaugeMetricFamily(
            "ampacity_device_connected", "1 while the driver talks to the device.", labels=labels
        )
        age = GaugeMetricFamily(
            "ampacity_device_last_good_age_seconds",
            "Age of the asset's newest Good value (absent before the first).",
            labels=labels,
        )
        points = GaugeMetricFamily(
            "ampacity_device_points",
            "The asset's data points by quality.",
            labels=[*labels, "quality"],
        )
        writer = self.site.writer
        by_asset: dict[str, list[str]] = {}
        for key in writer.keys:
            by_asset.setdefault(key.split(".", 1)[0], []).append(key)
        now = self.now()
        for driver in self.site.drivers:
            for info in driver.assets:
                asset = info.asset_id
                values = [driver.device_id, asset]
                keys = by_asset.get(asset, [])
                health = {k.split(".", 1)[1]: writer.slot(k) for k in keys if ".Health." in f".{k}"}
                slot = health.get("Health.PollDuration")
                if slot is not None and isinstance(slot.value, int | float):
                    poll.add_metric(values, float(slot.value) / 1000.0)
                slot = health.get("Health.ErrorCount")
                if slot is not None and isinstance(slot.value, int | float):
                    errors.add_metric(values, float(slot.value))
                slot = health.get("Health.Connected")
                if slot is not None and slot.value is not None:
                    connected.add_metric(values, 1.0 if slot.value else 0.0)
                counts = {"good": 0, "uncertain": 0, "bad": 0}
                newest: datetime | None = None
                for key in keys:
                    point = key.split(".", 1)[1]
                    if point.startswith(("Health.", "Identification.")):
                        continue
                    data = writer.slot(key)
                    if data.quality is Quality.GOOD:
                        counts["good"] += 1
                        if data.source_time is not None and (
                            newest is None or data.source_time > newest
                        ):
                            newest = data.source_time
                    elif data.quality.is_bad:
                        counts["bad"] += 1
                    else:
                        counts["uncertain"] += 1
                for quality, count in counts.items():
                    points.add_metric([*values, quality], float(count))
                if newest is not None:
                    age.add_metric(values, max(0.0, (now - newest).total_seconds()))
        return (poll, errors, connected, age, points)

    # --- control --------------------------------------------------------------------------------

    def _control(self) -> Iterable[Metric]:
        control = self.site.control
        if control is None:
            return ()
        stats = control.cycle.stats
        writer = self.site.writer
        out: list[Metric] = []
        key = f"{control.control_key}.LastCycleDuration"
        if writer.has(key) and isinstance(writer.slot(key).value, int | float):
            duration = GaugeMetricFamily(
                "ampacity_control_cycle_duration_seconds", "Computing time of the last cycle."
            )
            duration.add_metric([], float(writer.slot(key).value) / 1000.0)  # type: ignore[arg-type]
            out.append(duration)
        for name, value, text in (
            ("cycles", stats.cycles, "Control cycles run."),
            ("overruns", stats.overruns, "Cycles that took longer than the period."),
            ("controller_errors", stats.errors, "Controllers that raised."),
        ):
            counter = CounterMetricFamily(f"ampacity_control_{name}", text)
            counter.add_metric([], float(value))
            out.append(counter)
        key = f"{control.control_key}.FailSafe"
        failsafe = GaugeMetricFamily(
            "ampacity_control_failsafe", "1 while every controlled asset is in its fail-safe state."
        )
        failsafe.add_metric([], 1.0 if writer.has(key) and writer.slot(key).value else 0.0)
        out.append(failsafe)
        return out

    # --- historian ------------------------------------------------------------------------------

    def _historian(self) -> Iterable[Metric]:
        historian = self.site.historian
        health = historian.health()
        out: list[Metric] = []

        def gauge(name: str, text: str, value: float) -> None:
            metric = GaugeMetricFamily(f"ampacity_historian_{name}", text)
            metric.add_metric([], value)
            out.append(metric)

        def counter(name: str, text: str, value: float) -> None:
            metric = CounterMetricFamily(f"ampacity_historian_{name}", text)
            metric.add_metric([], value)
            out.append(metric)

        gauge("buffered_samples", "Samples and events not yet in the database.", health.buffered)
        gauge("buffer_bytes", "Size of the disk buffer not yet written.", health.buffer_bytes)
        oldest = health.oldest_buffered
        gauge(
            "oldest_buffered_age_seconds",
            "Age of the oldest sample waiting for the database (0: none waits).",
            max(0.0, (self.now() - oldest).total_seconds()) if oldest is not None else 0.0,
        )
        gauge(
            "write_latency_seconds",
            "Duration of the last database write transaction.",
            historian.last_write_s,
        )
        gauge(
            "database_connected",
            "1 when the last database operation succeeded.",
            1.0 if health.database_connected else 0.0,
        )
        counter("recorded", "Samples and events recorded since start.", health.recorded)
        counter("written", "Samples and events committed since start.", health.written)
        counter("dropped", "Samples lost because the buffer was full.", health.dropped)
        return out

    # --- OPC UA ---------------------------------------------------------------------------------

    def _opcua(self) -> Iterable[Metric]:
        iserver: Any = self.site.server.iserver
        sessions = len(getattr(iserver, "_external_sessions", {}) or {})
        service = getattr(iserver, "subscription_service", None)
        subscriptions: dict[int, Any] = dict(getattr(service, "subscriptions", {}) or {})
        items = 0
        for sub_id, sub in subscriptions.items():
            items += len(getattr(sub.monitored_item_srv, "_monitored_items", {}) or {})
            seq = int(getattr(sub, "_notification_seq", 1))
            self._notifications += max(0, seq - self._seq_seen.get(sub_id, 1))
            self._seq_seen[sub_id] = seq
        for gone in set(self._seq_seen) - set(subscriptions):
            del self._seq_seen[gone]
        out: list[Metric] = []
        for name, text, value in (
            ("sessions", "Activated client sessions.", sessions),
            ("subscriptions", "Subscriptions of all sessions.", len(subscriptions)),
            ("monitored_items", "Monitored items of all subscriptions.", items),
        ):
            metric = GaugeMetricFamily(f"ampacity_opcua_{name}", text)
            metric.add_metric([], float(value))
            out.append(metric)
        notifications = CounterMetricFamily(
            "ampacity_opcua_notifications",
            "Notification messages published to clients (rate(): the publish rate).",
        )
        notifications.add_metric([], float(self._notifications))
        out.append(notifications)
        return out

    # --- clock ----------------------------------------------------------------------------------

    def _clock(self) -> Iterable[Metric]:
        watch = self.clock_watch
        if watch is None:
            return ()
        synced = GaugeMetricFamily(
            "ampacity_clock_synchronized",
            "1 when NTP reports the clock synchronised, 0 when not, -1 when unknown.",
        )
        state = watch.status.synchronized if watch.status is not None else None
        synced.add_metric([], -1.0 if state is None else float(state))
        jumps = CounterMetricFamily(
            "ampacity_clock_jumps", "Wall-clock jumps seen since start (see the log)."
        )
        jumps.add_metric([], float(watch.jumps))
        return (synced, jumps)


def registry_for(site: RunningSite, clock_watch: ClockWatch | None = None) -> CollectorRegistry:
    """A registry holding only the site's collector (not the process-global default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector(site, clock_watch))
    return registry


@contextlib.asynccontextmanager
async def serve_metrics(
    registry: CollectorRegistry, host: str, port: int
) -> AsyncIterator[tuple[str, int]]:
    """Serve ``/metrics`` on ``host:port`` (port 0: any free one); yields the bound address.

    Raises:
        OSError: the address cannot be bound.
    """

    async def metrics(_request: web.Request) -> web.Response:
        try:
            body = generate_latest(registry)
        except Exception:  # a scrape must never take the server down
            log.exception("metrics: collecting failed")
            return web.Response(status=500, text="collecting the metrics failed; see the log\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    server = site._server  # the bound port when 0 was asked for
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    log.info("metrics at http://%s:%d/metrics", host, bound)
    try:
        yield host, int(bound)
    finally:
        await runner.cleanup()
