"""The historian: recording, the disk buffer, the database pipeline, queries and maintenance.

Data path: ``record()`` (cheap, synchronous) → policy → in-memory list → every flush interval a
frame in the disk buffer (fsync) → a database transaction → the buffer position acknowledged.
A database that is down only delays the last two steps; the buffer keeps everything in order
until it comes back (bounded by ``buffer_max_mb``, oldest dropped first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from ampacity.assets import PointSpec, Quality, Reading
from sqlalchemy import Connection, select

from . import maintenance, queries, schema
from .aggregates import Aggregate, Processor
from .batch import Batch, EventRow, Sample
from .config import PolicyOverride, StorageConfig
from .engine import Database, open_database
from .events import EventKind, make_event
from .ingest import Ingest
from .policy import RecordingPolicy, apply_overrides, default_policy
from .recorder import SeriesHandle
from .series import SeriesInfo
from .timeutil import from_us, to_us
from .values import EventRecord, HistValue, RawPage, RawRows
from .wal import DiskBuffer, Position

log = logging.getLogger(__name__)

T = TypeVar("T")
_STATUS = {quality: quality.value for quality in Quality}
_GOOD = Quality.GOOD
"""The 32-bit StatusCode of each quality (an enum lookup per reading costs more)."""

MAX_TXN_ROWS = 100_000
"""Rows per database transaction when draining the buffer."""
MEMORY_ROWS = 1_000_000
"""Buffered rows kept in memory as well as on disk; beyond this they are re-read from disk."""


class HistorianUnavailable(RuntimeError):
    """The database cannot be reached (reads fail; recording goes on into the buffer)."""


@dataclass(frozen=True, slots=True)
class HistorianHealth:
    """The historian's own health (for its ``Health`` object in the address space).

    Attributes:
        database_connected: the last database operation succeeded.
        backend: ``sqlite``, ``postgresql`` or ``timescaledb``; ``""`` before the first connect.
        buffered: samples and events recorded but not yet committed to the database.
        oldest_buffered: the time of the oldest of them (``None`` when nothing is buffered).
        buffer_bytes: the disk buffer's unacknowledged size.
        recorded: samples and events accepted since start.
        written: committed to the database since start.
        dropped: lost because the buffer was full.
        skipped: values the recording policy did not keep.
        last_error: the last database error (``""`` when none since the last success).
        last_write: when the last transaction committed.
    """

    database_connected: bool
    backend: str
    buffered: int
    oldest_buffered: datetime | None
    buffer_bytes: int
    recorded: int
    written: int
    dropped: int
    skipped: int
    last_error: str
    last_write: datetime | None


@dataclass(slots=True)
class _Entry:
    """A frame in the disk buffer not yet in the database."""

    position: Position
    rows: int
    oldest: int | None
    batch: Batch | None
    """``None`` when dropped from memory (it is re-read from disk)."""


class Historian:
    """See the package documentation for the API and its guarantees."""

    def __init__(
        self,
        config: StorageConfig,
        data_dir: Path,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._series: dict[str, SeriesHandle] = {}
        self._periodic: list[SeriesHandle] = []
        self._unsynced: dict[str, SeriesInfo] = {}
        self._pending: list[Sample] = []
        self._pending_events: list[EventRow] = []
        self._queue: deque[_Entry] = deque()
        self._in_memory = 0
        self._buffer = DiskBuffer(
            config.buffer_path(self.data_dir),
            int(config.buffer_max_mb * 1024 * 1024),
            fsync=config.fsync,
        )
        self._buffer_exec = ThreadPoolExecutor(1, thread_name_prefix="history-buffer")
        self._db_exec = ThreadPoolExecutor(1, thread_name_prefix="history-db")
        self._read_exec = ThreadPoolExecutor(2, thread_name_prefix="history-read")
        self._db: Database | None = None
        self._ingest: Ingest | None = None
        self._disk_lock = asyncio.Lock()
        self._drain_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._drain_task: asyncio.Task[bool] | None = None
        self._maint_task: asyncio.Task[None] | None = None
        self._next_attempt = 0.0
        self._retry_s = config.flush_interval_s
        self._next_maintenance = 0.0
        self._wm60: int | None = None
        self._started = False
        self._recorded = 0
        self._written = 0
        self._dropped = 0
        self._skipped = 0
        self._connected = False
        self._last_error = ""
        self._last_write: datetime | None = None
        self.last_write_s = 0.0
        """Duration of the last database write transaction, s (for the metrics)."""
        self._device_connected: dict[str, bool] = {}

    # --- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: StorageConfig | None,
        data_dir: Path,
        clock: Callable[[], datetime] | None = None,
    ) -> Historian:
        """A historian for ``config`` (``None``: defaults) keeping its files in ``data_dir``.

        Nothing is touched until ``start()``.
        """
        return cls(config or StorageConfig(), data_dir, clock)

    async def start(self, background: bool = True) -> None:
        """Recover the disk buffer, connect to the database (if it is down, keep trying in the
        background) and, with ``background``, start the flush and maintenance task."""
        recovered = await self._run(self._buffer_exec, self._buffer.open)
        for position, batch in recovered:
            self._enqueue(position, batch)
        if recovered:
            log.info("history buffer: %d frames to write after restart", len(recovered))
        self._started = True
        await self._drain()
        if background:
            self._task = asyncio.create_task(self._loop(), name="historian")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what was recorded, write to the database what it takes within ``timeout_s``
        (the rest stays in the disk buffer for the next start), and close."""
        for task in (self._task, self._maint_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._maint_task = None
        if self._started:
            await self._to_disk()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drain(), timeout_s)
            await self._run(self._buffer_exec, self._buffer.close)
            self._started = False
        if self._db is not None:
            await self._run(self._db_exec, self._db.engine.dispose)
            self._db = None
            self._ingest = None
        for executor in (self._buffer_exec, self._db_exec, self._read_exec):
            executor.shutdown(wait=False)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            try:
                await self._to_disk()
                now = time.monotonic()
                idle = self._drain_task is None or self._drain_task.done()
                if idle and (self._queue or self._unsynced) and now >= self._next_attempt:
                    self._drain_task = asyncio.create_task(self._drain())
                maintaining = self._maint_task is not None and not self._maint_task.done()
                if self._connected and not maintaining and now >= self._next_maintenance:
                    # its own task: flushing to disk goes on while rollups are computed
                    self._next_maintenance = now + self.config.maintenance_interval_s
                    self._maint_task = asyncio.create_task(self._maintain_logged())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("historian loop")

    # --- recording -------------------------------------------------------------------------------

    def register_series(
        self,
        key: str,
        spec: PointSpec,
        policy_override: RecordingPolicy | PolicyOverride | None = None,
    ) -> SeriesHandle:
        """Record ``key`` (NodeId string ``<asset-id>.<Point>``) from now on.

        The policy is the model default for ``spec``, then the config's matching overrides,
        then ``policy_override``. Registering a key again replaces its policy.
        """
        policy = apply_overrides(default_policy(spec), self.config.overrides_for(key))
        if isinstance(policy_override, RecordingPolicy):
            policy = policy_override
        elif policy_override is not None:
            policy = apply_overrides(policy, [policy_override])
        handle = SeriesHandle.create(key, spec, policy)
        old = self._series.get(key)
        if old is not None:
            handle.last_t, handle.last_status = old.last_t, old.last_status
            handle.last_value, handle.last_text = old.last_value, old.last_text
        self._series[key] = handle
        # kept incrementally: rebuilding it per registration made start-up quadratic in points
        if old is not None and old in self._periodic:
            self._periodic.remove(old)
        if handle.policy.mode.value == "interval" or handle.max_gap_us:
            self._periodic.append(handle)
        self._unsynced[key] = handle.info
        return handle

    def series(self, key: str) -> SeriesHandle | None:
        return self._series.get(key)

    @property
    def keys(self) -> list[str]:
        return list(self._series)

    def record(
        self,
        key: str,
        value: object,
        status_code: int,
        source_time: datetime | None,
        server_time: datetime | None = None,
    ) -> bool:
        """Offer a changed value of a registered series; never blocks, never raises for data.

        Args:
            key: the series key given to ``register_series``.
            value: the value in the model's unit (float, int, bool, str, datetime, None).
            status_code: the 32-bit OPC UA StatusCode of the value.
            source_time: when the device was read; ``None`` = ``server_time``.
            server_time: when the node changed; ``None`` = now.

        Returns:
            whether the policy kept it (unregistered keys are ignored).
        """
        handle = self._series.get(key)
        if handle is None:
            return False
        server_us = to_us(server_time) if server_time is not None else to_us(self.clock())
        source_us = to_us(source_time) if source_time is not None else server_us
        sample = handle.offer(value, status_code, source_us, server_us)
        if sample is None:
            self._skipped += 1
            return False
        self._pending.append(sample)
        self._recorded += 1
        return True

    def record_event(
        self,
        kind: EventKind,
        source: str,
        message: str,
        *,
        time: datetime | None = None,
        severity: int | None = None,
        user: str | None = None,
        old_value: Any = None,
        new_value: Any = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Keep an event (same buffer and guarantees as samples).

        Args:
            kind: what happened.
            source: the key of the node or asset it concerns (``pv1.ActivePowerLimit``,
                ``pv1``; the site id for site-wide events).
            message: a sentence for people.
            time: when it happened (default now).
            severity: 1..1000 (default by kind).
            user: who did it (audit events: the session's user name or certificate subject).
            old_value / new_value: written values (stored as JSON); for method calls the input
                arguments go into ``new_value``.
            status: the operation's 32-bit StatusCode (audit events).
            extra: anything else worth keeping (JSON).
        """
        t_us = to_us(time or self.clock())
        self._pending_events.append(
            make_event(
                kind,
                source,
                message,
                t_us,
                severity=severity,
                user=user,
                old_value=old_value,
                new_value=new_value,
                status=status,
                extra=extra,
            )
        )
        self._recorded += 1

    def on_reading(self, reading: Reading) -> None:
        """The node writer's change listener: records the reading, and turns changes of an
        asset's ``Health.Connected`` into device connected / lost events.

        Use ``writer.add_listener(historian.on_reading)``; the server time is the clock's now.
        """
        key = reading.node_key
        if key in self._series:
            self.record(key, reading.value, reading.quality.value, reading.source_time)
        if reading.point == "Health.Connected" and isinstance(reading.value, bool):
            self._connection_change(reading)

    def on_readings(self, readings: list[Reading]) -> None:
        """``on_reading`` for a batch of changes (the node writer's batch listener).

        The same samples and events as ``on_reading`` one by one, with one server time for the
        batch (the clock's now when it is handed over: the writer hands over every slice of at
        most 10 ms) and each source time converted once for a run of readings sharing it (a
        driver's readings of one poll do).

        Use ``writer.add_batch_listener(historian.on_readings)``.
        """
        series = self._series
        pending = self._pending
        server_us = to_us(self.clock())
        last_source: datetime | None = None
        last_us = server_us
        recorded = skipped = 0
        for reading in readings:
            handle = series.get(reading.node_key)
            if handle is not None:
                source = reading.source_time
                if source is None:
                    source_us = server_us
                elif source is last_source:
                    source_us = last_us
                else:
                    source_us = last_us = to_us(source)
                    last_source = source
                quality = reading.quality
                status = 0 if quality is _GOOD else _STATUS[quality]  # no enum hash when good
                sample = handle.offer(reading.value, status, source_us, server_us)
                if sample is None:
                    skipped += 1
                else:
                    pending.append(sample)
                    recorded += 1
            if reading.point == "Health.Connected" and isinstance(reading.value, bool):
                self._connection_change(reading)
        self._recorded += recorded
        self._skipped += skipped

    def _connection_change(self, reading: Reading) -> None:
        """A device connected / lost event when ``Health.Connected`` changed."""
        if isinstance(reading.value, bool):
            before = self._device_connected.get(reading.asset_id)
            self._device_connected[reading.asset_id] = reading.value
            if before is None and reading.value:
                return  # the first report of a device that is there: nothing happened
            if before != reading.value:
                kind = EventKind.DEVICE_CONNECTED if reading.value else EventKind.DEVICE_LOST
                word = "connected" if reading.value else "lost"
                self.record_event(
                    kind, reading.asset_id, f"{reading.asset_id} {word}", time=reading.source_time
                )

    def _tick(self) -> None:
        now_us = to_us(self.clock())
        for handle in self._periodic:
            sample = handle.tick(now_us)
            if sample is not None:
                self._pending.append(sample)
                self._recorded += 1

    # --- pipeline --------------------------------------------------------------------------------

    @staticmethod
    async def _run(executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def _enqueue(self, position: Position, batch: Batch) -> None:
        self._queue.append(_Entry(position, len(batch), batch.oldest_t(), batch))
        self._in_memory += len(batch)
        for entry in self._queue:
            if self._in_memory <= MEMORY_ROWS:
                break
            if entry.batch is not None:
                self._in_memory -= entry.rows
                entry.batch = None

    async def _to_disk(self) -> None:
        """Move what was recorded into the disk buffer (one frame)."""
        async with self._disk_lock:
            self._tick()
            if not self._pending and not self._pending_events:
                return
            batch = Batch(self._pending, self._pending_events)
            self._pending, self._pending_events = [], []
            position, dropped = await self._run(self._buffer_exec, self._buffer.append, batch)
            if dropped:
                self._dropped += dropped
                acked = self._buffer.ack_position
                while self._queue and self._queue[0].position <= acked:
                    gone = self._queue.popleft()
                    if gone.batch is not None:
                        self._in_memory -= gone.rows
            self._enqueue(position, batch)

    async def flush(self) -> bool:
        """Write everything recorded so far to the disk buffer and then to the database.

        Returns:
            whether the database has everything now.
        """
        await self._to_disk()
        if self._drain_task is not None and not self._drain_task.done():
            with contextlib.suppress(Exception):
                await self._drain_task
        return await self._drain()

    async def _connect(self) -> bool:
        if self._db is not None:
            return True
        try:
            db = await self._run(self._db_exec, open_database, self.config, self.data_dir)
        except Exception as exc:
            self._fail(exc)
            return False
        self._db = db
        self._ingest = Ingest(db)
        await self._run(self._db_exec, self._ingest.load_ids)
        marks = await self._run(self._db_exec, maintenance.watermarks, db.engine)
        self._wm60 = marks.get(60)  # late (replayed) samples before it get their rollups redone
        return True

    def _fail(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if self._connected or self._last_error != message:
            log.warning("history database unavailable, buffering: %s", message)
        self._connected = False
        self._last_error = message
        self._next_attempt = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, self.config.retry_max_s)

    async def _load(self, entries: list[_Entry], start: Position) -> Batch:
        merged = Batch()
        if all(e.batch is not None for e in entries):
            for entry in entries:
                merged.extend(entry.batch)  # type: ignore[arg-type]
            return merged

        def read() -> Batch:
            out = Batch()
            for _, batch in self._buffer.read(start, entries[-1].position):
                out.extend(batch)
            return out

        return await self._run(self._buffer_exec, read)

    async def _drain(self) -> bool:
        """Write buffered frames to the database in order; ``False`` if it is unavailable."""
        async with self._drain_lock:
            if not await self._connect():
                return False
            assert self._ingest is not None
            try:
                if self._unsynced:
                    infos = list(self._unsynced.values())
                    await self._run(self._db_exec, self._ingest.upsert_series, infos)
                    for info in infos:
                        if self._unsynced.get(info.key) is info:
                            del self._unsynced[info.key]
                while self._queue:
                    entries: list[_Entry] = []
                    rows = 0
                    for entry in self._queue:
                        if entries and rows + entry.rows > MAX_TXN_ROWS:
                            break
                        entries.append(entry)
                        rows += entry.rows
                    start = self._buffer.ack_position
                    batch = await self._load(entries, start)
                    began = time.monotonic()
                    await self._run(self._db_exec, self._ingest.write, batch)
                    self.last_write_s = time.monotonic() - began
                    last = entries[-1].position
                    await self._run(self._buffer_exec, self._buffer.ack, last)
                    while self._queue and self._queue[0].position <= last:
                        gone = self._queue.popleft()
                        if gone.batch is not None:
                            self._in_memory -= gone.rows
                    self._written += rows
                    self._last_write = self.clock()
                    oldest = batch.oldest_t()
                    if self._wm60 is not None and oldest is not None and oldest < self._wm60:
                        engine = self._db.engine if self._db is not None else None
                        await self._run(self._db_exec, maintenance.invalidate, engine, oldest)
                        self._wm60 = None
            except Exception as exc:
                self._fail(exc)
                return False
            if not self._connected:
                log.info("history database available again")
            self._connected = True
            self._last_error = ""
            self._retry_s = self.config.flush_interval_s
            return True

    async def _maintain_logged(self) -> None:
        try:
            await self.maintain()
        except Exception:
            log.exception("history maintenance failed")

    async def maintain(self) -> int:
        """Compute due rollups and apply retention now; returns rollup buckets written."""
        db = self._db
        if db is None:
            return 0
        now_us = to_us(self.clock())
        written = await self._run(self._db_exec, maintenance.roll_up, db.engine, now_us)
        await self._run(
            self._db_exec, maintenance.apply_retention, db.engine, self.config.retention, now_us
        )
        self._wm60 = (await self._run(self._db_exec, maintenance.watermarks, db.engine)).get(60)
        return written

    def health(self) -> HistorianHealth:
        buffered = len(self._pending) + len(self._pending_events)
        oldest: int | None = None
        for entry in self._queue:
            buffered += entry.rows
            if entry.oldest is not None and (oldest is None or entry.oldest < oldest):
                oldest = entry.oldest
        pending_times = [s[1] for s in self._pending[:1]] + [
            e["t"] for e in self._pending_events[:1]
        ]
        for t in pending_times:
            oldest = t if oldest is None else min(oldest, t)
        backend = ""
        if self._db is not None:
            backend = "timescaledb" if self._db.timescale else self._db.dialect
        try:
            size = self._buffer.unacked_bytes() if self._started else 0
        except OSError:
            size = 0
        return HistorianHealth(
            self._connected,
            backend,
            buffered,
            from_us(oldest) if oldest is not None else None,
            size,
            self._recorded,
            self._written,
            self._dropped,
            self._skipped,
            self._last_error,
            self._last_write,
        )

    # --- queries ---------------------------------------------------------------------------------

    async def _query(self, fn: Callable[[Connection], T]) -> T:
        if self._db is None and not await self._connect():
            raise HistorianUnavailable(self._last_error)
        db = self._db
        assert db is not None

        def run() -> T:
            with db.engine.connect() as conn:
                return fn(conn)

        try:
            return await self._run(self._read_exec, run)
        except HistorianUnavailable:
            raise
        except Exception as exc:
            if "OperationalError" in type(exc).__name__:
                raise HistorianUnavailable(str(exc)) from exc
            raise

    @staticmethod
    def _series_row(conn: Connection, key: str) -> tuple[int, SeriesInfo] | None:
        t = schema.series.c
        row = conn.execute(
            select(t.id, t.key, t.kind, t.data_type, t.unit, t.description, t.stepped).where(
                t.key == key
            )
        ).first()
        if row is None:
            return None
        return int(row[0]), SeriesInfo(row[1], row[2], row[3], row[4], row[5], bool(row[6]))

    async def series_info(self, key: str) -> SeriesInfo | None:
        """The stored metadata of ``key`` (``None`` if nothing was ever recorded)."""
        found = await self._query(lambda c: self._series_row(c, key))
        return found[1] if found else None

    async def stored_keys(self) -> list[str]:
        """Every series key in the store."""
        return await self._query(
            lambda c: [r[0] for r in c.execute(select(schema.series.c.key)).all()]
        )

    async def read_raw(
        self,
        key: str,
        start: datetime | None,
        end: datetime | None,
        limit: int | None = None,
        bounds: bool = False,
        resume_t: int | None = None,
        page_max: int | None = None,
    ) -> RawPage:
        """Raw values (see ``queries.read_raw``): at most ``limit`` and at most ``page_max``
        (default ``max_values_per_read``)."""
        rows = await self.read_raw_rows(key, start, end, limit, bounds, resume_t, page_max)
        return rows.page()

    async def read_raw_rows(
        self,
        key: str,
        start: datetime | None,
        end: datetime | None,
        limit: int | None = None,
        bounds: bool = False,
        resume_t: int | None = None,
        page_max: int | None = None,
    ) -> RawRows:
        """``read_raw`` as the database's ``(t_us, value, status)`` tuples."""
        page_max = page_max or self.config.max_values_per_read
        size = min(limit or page_max, page_max)
        s_us = to_us(start) if start else None
        e_us = to_us(end) if end else None

        def run(conn: Connection) -> RawRows:
            found = self._series_row(conn, key)
            if found is None:
                return RawRows([], None)
            return queries.read_raw_rows(conn, found[0], s_us, e_us, size, bounds, resume_t)

        return await self._query(run)

    async def read_at_time(self, key: str, times: Iterable[datetime]) -> list[HistValue]:
        """The value at each time (raw where a sample is exactly there, else interpolated)."""
        stamps = [to_us(t) for t in times]

        def run(conn: Connection) -> list[HistValue]:
            found = self._series_row(conn, key)
            if found is None:
                return [queries.interpolate(None, None, t, True) for t in stamps]
            return queries.read_at_time(conn, found[0], stamps, found[1].stepped)

        return await self._query(run)

    async def read_processed(
        self,
        key: str,
        start: datetime,
        end: datetime,
        interval: timedelta,
        aggregate: Aggregate,
    ) -> list[HistValue]:
        """One ``aggregate`` value per ``interval`` over ``[start, end)`` (see ``aggregates``)."""
        s_us, e_us = to_us(start), to_us(end)
        i_us = int(interval / timedelta(microseconds=1))
        now_us = to_us(self.clock())
        db = self._db

        def run(conn: Connection) -> list[HistValue]:
            found = self._series_row(conn, key)
            marks = maintenance.watermarks(db.engine) if db is not None else {}
            if found is None:
                sid, stepped = -1, False
            else:
                sid, stepped = found[0], found[1].stepped
            processor = Processor(conn, sid, s_us, e_us, i_us, stepped, now_us, marks)
            return processor.compute(aggregate)

        return await self._query(run)

    async def read_events(
        self,
        source: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int | None = None,
        resume: tuple[int, int] | None = None,
        severity: tuple[int, int] | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> tuple[list[EventRecord], tuple[int, int] | None]:
        """Events of ``source`` and below (all with ``None``), of a severity range and of
        ``kinds`` when given; see ``queries.read_events``."""
        size = min(limit or self.config.max_values_per_read, self.config.max_values_per_read)
        s_us = to_us(start) if start else None
        e_us = to_us(end) if end else None
        return await self._query(
            lambda c: queries.read_events(c, source, s_us, e_us, size, resume, severity, kinds)
        )
