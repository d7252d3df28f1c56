"""Engine setup: SQLite in WAL mode, or PostgreSQL (with TimescaleDB when it is installed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from .config import StorageConfig
from .migrations import backup_before_migration, migrate

log = logging.getLogger(__name__)

PG_CONNECT_TIMEOUT_S = 5
PG_TCP_USER_TIMEOUT_MS = 10_000
"""A PostgreSQL server that stops answering is noticed within this time (libpq option)."""


@dataclass(frozen=True)
class Database:
    """An opened, migrated store."""

    engine: Engine
    dialect: str
    """``sqlite`` or ``postgresql``."""
    timescale: bool
    url: str


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss, so the disk buffer may be acknowledged after it.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create(url: str, pg_schema: str | None = None) -> tuple[Engine, str]:
    """An engine for ``url`` with the connection settings the historian relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine, "sqlite"
    options = "-c statement_timeout=120000"
    if pg_schema:
        options += f" -c search_path={pg_schema}"
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=4,
        connect_args={
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "tcp_user_timeout": PG_TCP_USER_TIMEOUT_MS,
            "options": options,
        },
    )
    return engine, "postgresql"


def _timescale(engine: Engine) -> bool:
    """Whether TimescaleDB is usable: installed here, or installable by us."""
    with engine.begin() as conn:
        installed = conn.execute(
            text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        ).first()
        if installed:
            return True
        available = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        ).first()
    if not available:
        return False
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        return True
    except Exception as exc:  # no privilege, not preloaded: plain tables then
        log.warning("TimescaleDB is available but cannot be enabled (%s); using plain tables", exc)
        return False


def open_database(config: StorageConfig, data_dir: Path) -> Database:
    """Connect, detect TimescaleDB, create the schema and run migrations.

    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    url = config.database_url(data_dir)
    engine, dialect = create(url, config.pg_schema)
    timescale = False
    if dialect == "postgresql":
        if config.pg_schema:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{config.pg_schema}"'))
        timescale = _timescale(engine)
    backup_before_migration(engine)
    migrate(engine, timescale)
    log.info(
        "history store %s (%s%s)",
        engine.url.render_as_string(hide_password=True),
        dialect,
        ", TimescaleDB" if timescale else "",
    )
    return Database(engine, dialect, timescale, url)
