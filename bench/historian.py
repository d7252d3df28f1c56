"""Historian benchmark: ingest rate, read latency and size on disk. Prints figures, no verdict.

    python bench/historian.py [--runs 3] [--values 500000] [--peer-values 20000] [--no-postgres]

Figures (median of ``--runs``):

* ingest values/s into SQLite and PostgreSQL (``record()`` of every value, then ``flush()``: disk
  buffer with fsync, then the database), and asyncua's ``HistorySQLite`` fed the *same* values
  (the first ``--peer-values`` of them; it commits every row, so a full set would take minutes)
  — the ratio on that common set is the headline figure;
* latency of ReadRaw of one day at 1 s (86,400 values) in the store and through a real OPC UA
  client over TCP (continuation points after 34,914 values: the 1 MiB page of a Double);
* latency of ReadProcessed Average over one day at 15 min (96 intervals), from raw samples and
  from the 15-min rollups;
* database size per million samples.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ampacity.assets import SPECS, AssetKind
from ampacity.storage import Aggregate, Historian, RecordingPolicy, StorageConfig

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POWER = SPECS[AssetKind.PV_INVERTER].point("ActivePower")
SERIES = 50
PG = "postgresql+psycopg://{user}@127.0.0.1:5432/test"


def dataset(n: int) -> list[tuple[str, datetime, float]]:
    """``n`` values spread over ``SERIES`` series, one per second per series, all changing."""
    out = []
    for i in range(n):
        series, step = i % SERIES, i // SERIES
        out.append((f"dev{series}.ActivePower", T0 + timedelta(seconds=step), float(i % 9973)))
    return out


class Clock:
    def __init__(self) -> None:
        self.now = T0 + timedelta(days=3)

    def __call__(self) -> datetime:
        return self.now


def pg_user() -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    for user in ("postgres", "root"):
        try:
            with psycopg.connect(
                host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3
            ):
                return user
        except Exception:
            continue
    return None


def drop_schema(user: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", dbname="test", user=user, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_size(user: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(host="127.0.0.1", dbname="test", user=user) as conn:
        row = conn.execute("SELECT pg_total_relation_size(%s)", (f'"{schema}".samples',)).fetchone()
    return int(row[0]) if row else 0


async def ingest(
    config: StorageConfig, folder: Path, data: list[tuple[str, datetime, float]]
) -> tuple[float, Historian]:
    """Values/s of record + flush; returns the historian (started) for the read figures."""
    clock = Clock()
    h = Historian.open(config, folder, clock=clock)
    for key in {k for k, _, _ in data}:
        h.register_series(key, POWER, RecordingPolicy())
    await h.start(background=False)
    started = time.perf_counter()
    chunk = 20_000  # about one flush interval of a large site
    for i in range(0, len(data), chunk):
        for key, moment, value in data[i : i + chunk]:
            h.record(key, value, 0, moment, moment)
        await h._to_disk()
    assert await h.flush()
    elapsed = time.perf_counter() - started
    return len(data) / elapsed, h


async def peer_ingest(folder: Path, data: list[tuple[str, datetime, float]]) -> float:
    """Values/s of asyncua's HistorySQLite on the same values (numeric NodeIds: it rejects
    string ones)."""
    from asyncua import ua
    from asyncua.server.history_sql import HistorySQLite

    store = HistorySQLite(str(folder / "asyncua-history.db"))
    await store.init()
    ids: dict[str, object] = {}
    for key in sorted({k for k, _, _ in data}):
        ids[key] = ua.NodeId(len(ids) + 1, 2)
        await store.new_historized_node(ids[key], None, 0)
    started = time.perf_counter()
    for key, moment, value in data:
        dv = ua.DataValue(
            Value=ua.Variant(value, ua.VariantType.Double),
            SourceTimestamp=moment,
            ServerTimestamp=moment,
        )
        await store.save_node_value(ids[key], dv)
    elapsed = time.perf_counter() - started
    await store.stop()
    return len(data) / elapsed


async def day_series(h: Historian, clock_now: datetime) -> None:
    """One day of one value per second for ``bench.Day`` and its rollups."""
    h.register_series("bench.Day", POWER, RecordingPolicy())
    for s in range(86_400):
        moment = T0 + timedelta(seconds=s)
        h.record("bench.Day", float(s % 3600), 0, moment, moment)
    assert await h.flush()
    h.clock.now = clock_now  # type: ignore[attr-defined]
    await h.maintain()


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def opcua_read_raw(h: Historian) -> float:
    """Seconds for an asyncua client over TCP to read the day (86,400 values)."""
    from ampacity.server.history import enable_history
    from asyncua import Client, Server, ua

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"opc.tcp://127.0.0.1:{port}/bench"
    server = Server()
    await server.init()
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:bench")
    node = await server.nodes.objects.add_variable(ua.NodeId("bench.Day", ns), "Day", 0.0)
    await enable_history(server, h, {"bench.Day": node}, ns)
    async with server, Client(endpoint, timeout=60) as client:
        remote = client.get_node(ua.NodeId("bench.Day", ns))
        started = time.perf_counter()
        values = await remote.read_raw_history(T0, T0 + DAY, return_bounds=False)
        elapsed = time.perf_counter() - started
        assert len(values) == 86_400, len(values)
    return elapsed


async def bench_backend(
    name: str,
    make_config: Callable[[], tuple[StorageConfig, Callable[[], int] | None, Callable[[], None]]],
    data: list[tuple[str, datetime, float]],
    runs: int,
    opcua: bool,
) -> dict[str, float]:
    rates: list[float] = []
    raw_s: list[float] = []
    raw_ua_s: list[float] = []
    avg_raw_s: list[float] = []
    avg_roll_s: list[float] = []
    sizes: list[float] = []
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="ampacity-bench-"))
        config, size_of, cleanup = make_config()
        config = config.model_copy(update={"max_values_per_read": 100_000})
        try:
            rate, h = await ingest(config, folder, data)
            rates.append(rate)
            sizes.append(size_of() if size_of is not None else sqlite_size(h, folder))
            await day_series(h, T0 + timedelta(days=3))
            raw, ua_raw, avg_raw, avg_roll = await reads(h, opcua)
            raw_s.append(raw)
            avg_raw_s.append(avg_raw)
            avg_roll_s.append(avg_roll)
            if ua_raw is not None:
                raw_ua_s.append(ua_raw)
            await h.stop()
        finally:
            cleanup()
            shutil.rmtree(folder, ignore_errors=True)
    med = statistics.median
    out = {
        f"{name} ingest values/s": med(rates),
        f"{name} ReadRaw 1 day @1 s (86,400 values) ms": med(raw_s) * 1000,
        f"{name} ReadProcessed Average 1 day @15 min, raw ms": med(avg_raw_s) * 1000,
        f"{name} ReadProcessed Average 1 day @15 min, rollups ms": med(avg_roll_s) * 1000,
        f"{name} size per million samples MB": med(sizes) / len(data) * 1e6 / 1e6,
    }
    if raw_ua_s:
        out[f"{name} ReadRaw 1 day via OPC UA client over TCP ms"] = med(raw_ua_s) * 1000
    return out


def sqlite_size(h: Historian, folder: Path) -> int:
    """Bytes of the SQLite database after a WAL checkpoint."""
    from sqlalchemy import text

    assert h._db is not None
    with h._db.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return sum(p.stat().st_size for p in folder.glob("history.sqlite*"))


async def reads(h: Historian, opcua: bool) -> tuple[float, float | None, float, float]:
    """Seconds: ReadRaw of the day, the same through OPC UA, Average 15 min from raw samples,
    and from rollups."""
    from ampacity.storage import maintenance

    raw = await timed(lambda: h.read_raw("bench.Day", T0, T0 + DAY, 100_000))
    page = await h.read_raw("bench.Day", T0, T0 + DAY, 100_000)
    assert len(page.values) == 86_400
    h.config.max_values_per_read = 10_000
    ua_raw = await opcua_read_raw(h) if opcua else None
    quarter = timedelta(minutes=15)
    assert h._db is not None
    engine = h._db.engine
    maintenance.invalidate(engine, int(T0.timestamp() * 1e6))  # raw path: no rollups yet
    avg_raw = await timed(
        lambda: h.read_processed("bench.Day", T0, T0 + DAY, quarter, Aggregate.AVERAGE)
    )
    await h.maintain()
    assert maintenance.watermarks(engine)[900] >= int((T0 + DAY).timestamp() * 1e6)
    avg_roll = await timed(
        lambda: h.read_processed("bench.Day", T0, T0 + DAY, quarter, Aggregate.AVERAGE)
    )
    return raw, ua_raw, avg_raw, avg_roll


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--values", type=int, default=500_000)
    parser.add_argument("--peer-values", type=int, default=20_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # asyncua's notes about security settings
    data = dataset(args.values)
    peer = data[: args.peer_values]
    figures: dict[str, float] = {}

    def sqlite_config() -> tuple[StorageConfig, Callable[[], int] | None, Callable[[], None]]:
        return StorageConfig(), None, lambda: None

    print(
        f"historian benchmark: {args.values} values over {SERIES} series, {args.runs} runs, "
        f"median; python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
        flush=True,
    )
    figures |= await bench_backend("SQLite", sqlite_config, data, args.runs, opcua=True)
    user = None if args.no_postgres else pg_user()
    if user:

        def pg_config() -> tuple[StorageConfig, Callable[[], int] | None, Callable[[], None]]:
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            return (
                StorageConfig(url=PG.format(user=user), pg_schema=schema),
                lambda: pg_size(user, schema),
                lambda: drop_schema(user, schema),
            )

        figures |= await bench_backend("PostgreSQL", pg_config, data, args.runs, opcua=False)
    else:
        print("PostgreSQL: not reachable at 127.0.0.1:5432 (database test), skipped")

    # the same values into all three, for the ratio
    same: dict[str, list[float]] = {"SQLite": [], "PostgreSQL": [], "asyncua HistorySQLite": []}
    for _ in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix="ampacity-bench-"))
        try:
            rate, h = await ingest(StorageConfig(), folder / "ours", peer)
            await h.stop()
            same["SQLite"].append(rate)
            if user:
                schema = f"bench_{uuid.uuid4().hex[:10]}"
                try:
                    cfg = StorageConfig(url=PG.format(user=user), pg_schema=schema)
                    rate, h = await ingest(cfg, folder / "pg", peer)
                    await h.stop()
                    same["PostgreSQL"].append(rate)
                finally:
                    drop_schema(user, schema)
            same["asyncua HistorySQLite"].append(await peer_ingest(folder, peer))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    width = max(len(k) for k in figures) + 2
    for key, value in figures.items():
        print(f"{key:<{width}} {value:>14,.1f}")
    print(f"\nsame {len(peer)} values into each store (values/s, median):")
    peer_rate = statistics.median(same["asyncua HistorySQLite"])
    for name, rates in same.items():
        if not rates:
            continue
        rate = statistics.median(rates)
        print(f"  {name:<24} {rate:>12,.0f}   x{rate / peer_rate:,.1f} of HistorySQLite")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
