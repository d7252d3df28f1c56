"""Schema versions and how to get from one to the next.

Each migration runs once, in order, inside one transaction, and bumps ``schema_version`` in
``ampacity_meta``. Add new steps at the end; never edit a released one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, select, text

from . import schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection, bool], None]
    """Called with the connection and whether TimescaleDB is in use."""


def _initial(conn: Connection, timescale: bool) -> None:
    schema.metadata.create_all(
        conn, tables=[schema.series, schema.samples, schema.rollups, schema.events]
    )
    if timescale:
        # Integer time: chunks of one week of microseconds.
        conn.execute(
            text(
                "SELECT create_hypertable('samples', 't', chunk_time_interval => 604800000000, "
                "if_not_exists => TRUE, migrate_data => TRUE)"
            )
        )


def _time_index(conn: Connection, timescale: bool) -> None:
    # PostgreSQL: a BRIN index on time (tiny; samples arrive in time order) for the
    # maintenance and retention scans over all series. SQLite probes the primary key per series.
    if conn.dialect.name == "postgresql" and not timescale:
        conn.execute(text("CREATE INDEX IF NOT EXISTS samples_t_brin ON samples USING brin (t)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "series, samples, rollups, events", _initial),
    Migration(2, "time index for maintenance scans (PostgreSQL)", _time_index),
)
LATEST = MIGRATIONS[-1].version


def schema_version(conn: Connection) -> int:
    row = conn.execute(
        select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).first()
    return int(row[0]) if row else 0


def migrate(engine: Engine, timescale: bool) -> int:
    """Bring the store to ``LATEST``; returns the version found before.

    Raises:
        RuntimeError: the store was written by a newer Ampacity.
    """
    schema.metadata.create_all(engine, tables=[schema.meta])
    with engine.begin() as conn:
        found = schema_version(conn)
        if found > LATEST:
            raise RuntimeError(f"history store has schema {found}, this Ampacity knows {LATEST}")
        for step in MIGRATIONS:
            if step.version <= found:
                continue
            log.info("history store: migration %d (%s)", step.version, step.description)
            step.apply(conn, timescale)
            conn.execute(schema.meta.delete().where(schema.meta.c.key == "schema_version"))
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(step.version)))
    return found


def backup_before_migration(engine: Engine) -> Path | None:
    """Copy a SQLite store that a migration is about to change (``<name>.schema<N>-<time>.bak``
    beside it, SQLite's online backup); returns the copy, ``None`` when nothing is to migrate.

    PostgreSQL is not copied here: back it up with ``pg_dump`` before upgrading (README).
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    path = Path(database)
    if not path.exists():
        return None
    with engine.connect() as conn:
        if not inspect(conn).has_table(schema.meta.name):
            return None
        found = schema_version(conn)
    if not 0 < found < LATEST:
        return None
    target = path.with_name(f"{path.name}.schema{found}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.bak")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        source.close()
    log.warning(
        "history store: schema %d -> %d; the store before the migration is in %s",
        found,
        LATEST,
        target,
    )
    return target
