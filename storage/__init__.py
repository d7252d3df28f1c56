"""The historian: SQLite / PostgreSQL (TimescaleDB) storage of point values and events.

This package imports only ``ampacity.assets``; the OPC UA side (HistoryRead) lives in
``ampacity.server.history``.

API for the server::

    from ampacity.storage import Historian, StorageConfig, EventKind

    historian = Historian.open(StorageConfig.model_validate(site.storage or {}), data_dir)
    handle = historian.register_series("pv1.ActivePower", point_spec)   # before or after start
    await historian.start()              # recovers the disk buffer, connects (or keeps retrying)
    historian.record("pv1.ActivePower", 4210.0, 0x00000000, source_time, server_time)
    historian.record_event(EventKind.AUDIT_WRITE, "pv1.ActivePowerLimit", "ActivePowerLimit set",
                           user="operator", old_value=5000.0, new_value=3000.0, status=0)
    writer.add_batch_listener(historian.on_readings)   # or: record every applied node
                                                # change (per reading: add_listener(on_reading));
                                                # also turns Health.Connected changes into
                                                # device connected / lost events
    historian.health()                   # HistorianHealth: buffered, oldest_buffered, ...
    await historian.stop()               # flushes; what the database did not take stays on disk

The OPC UA side (``ampacity.server.history``)::

    manager = await enable_history(server, historian, {key: node, ...}, site_ns,
                                   event_sources={asset_id: asset_node})
    install_audit(server, historian, site_ns)      # audit events for client writes and calls
    health = await HistorianHealthNodes.create(parent_node, site_ns)
    task = asyncio.create_task(health.run(historian))

``record`` is synchronous and cheap (a dict lookup, the policy check, a list append): call it from
the node writer's change listener for every applied change. The recording policy per point is
``default_policy(spec)`` (every change of counters, setpoints, discrete, enum and info points;
analog values beyond a unit-based deadband, at least every 5 min), then the ``storage.policies``
overrides matching the key by glob, then ``policy_override``. A StatusCode change is always
recorded.

Guarantees: every ``flush_interval_s`` (default 1 s) recorded values go into a checksummed,
fsynced frame of the disk buffer (``<data_dir>/history-buffer``) before the database sees them;
the buffer position is acknowledged only after the database committed. A database outage or a
restart loses nothing (frames are written, in order, when it is back; inserts are idempotent); a
``kill -9`` loses at most the values of the last flush interval; a torn frame is cut off on the
next start. The buffer is bounded (``buffer_max_mb``): beyond it the oldest frames are dropped and
counted in ``health().dropped``.

Reads (``read_raw``, ``read_processed``, ``read_at_time``, ``read_events``) are coroutines
running SQL in worker threads; times are aware UTC datetimes in, ``t_us`` (µs since the epoch)
in the returned ``HistValue``s. Storage layout and semantics: ``schema``, ``aggregates``,
``maintenance``; CSV export: ``export``.
"""

from .aggregates import Aggregate
from .config import PolicyOverride, RetentionConfig, StorageConfig
from .events import EventKind
from .historian import Historian, HistorianHealth, HistorianUnavailable
from .policy import Mode, RecordingPolicy, default_policy
from .recorder import SeriesHandle
from .series import SeriesInfo
from .timeutil import from_us, to_us
from .values import EventRecord, HistValue, RawPage

__all__ = [
    "Aggregate",
    "EventKind",
    "EventRecord",
    "HistValue",
    "Historian",
    "HistorianHealth",
    "HistorianUnavailable",
    "Mode",
    "PolicyOverride",
    "RawPage",
    "RecordingPolicy",
    "RetentionConfig",
    "SeriesHandle",
    "SeriesInfo",
    "StorageConfig",
    "default_policy",
    "from_us",
    "to_us",
]
