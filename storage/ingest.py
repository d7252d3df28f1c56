"""Writing batches into the database: idempotent (a replayed batch changes nothing), one
transaction per call, PostgreSQL through COPY into a staging table."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from . import schema
from .batch import Batch
from .engine import Database
from .series import SeriesInfo


def _insert(dialect: str, table: object) -> object:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)  # type: ignore[arg-type]


class Ingest:
    """Maps series keys to ids and writes batches; called from one worker thread."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def load_ids(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(schema.series.c.key, schema.series.c.id)).all()
        with self._lock:
            self._ids = {key: sid for key, sid in rows}
            return dict(self._ids)

    def upsert_series(self, infos: Iterable[SeriesInfo]) -> None:
        """Create or update the rows of registered series."""
        infos = list(infos)
        if not infos:
            return
        with self.db.engine.begin() as conn:
            stmt = _insert(self.db.dialect, schema.series)
            stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["key"],
                set_={
                    c: getattr(stmt.excluded, c)  # type: ignore[attr-defined]
                    for c in ("kind", "data_type", "unit", "description", "stepped")
                },
            )
            conn.execute(stmt, [i.row() for i in infos])
        self.load_ids()

    def _ensure(self, conn: Connection, keys: set[str]) -> dict[str, int]:
        missing = [k for k in keys if k not in self._ids]
        if missing:
            stmt = _insert(self.db.dialect, schema.series).on_conflict_do_nothing(  # type: ignore[attr-defined]
                index_elements=["key"]
            )
            conn.execute(stmt, [SeriesInfo(k).row() for k in missing])
            rows = conn.execute(
                select(schema.series.c.key, schema.series.c.id).where(
                    schema.series.c.key.in_(missing)
                )
            ).all()
            with self._lock:
                self._ids.update({key: sid for key, sid in rows})
        return self._ids

    def write(self, batch: Batch) -> None:
        """Insert ``batch`` in one transaction.

        Raises:
            sqlalchemy.exc.DBAPIError: the database failed; nothing of the batch is committed.
        """
        with self.db.engine.begin() as conn:
            ids = self._ensure(conn, {s[0] for s in batch.samples})
            rows = [(ids[k], t, v, x, st) for k, t, v, x, st in batch.samples]
            if rows:
                if self.db.dialect == "postgresql":
                    self._copy_pg(conn, rows)
                else:
                    raw = conn.connection.driver_connection
                    raw.executemany(  # type: ignore[union-attr]
                        "INSERT OR IGNORE INTO samples (series_id, t, value, text, status) "
                        "VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
            if batch.events:
                stmt = _insert(self.db.dialect, schema.events).on_conflict_do_nothing(  # type: ignore[attr-defined]
                    index_elements=["eid"]
                )
                conn.execute(stmt, batch.events)

    @staticmethod
    def _copy_pg(
        conn: Connection, rows: list[tuple[int, int, float | None, str | None, int]]
    ) -> None:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS samples_stage (series_id integer, t bigint, "
                "value double precision, text text, status bigint) ON COMMIT DELETE ROWS"
            )
            with cur.copy(
                "COPY samples_stage (series_id, t, value, text, status) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                "INSERT INTO samples (series_id, t, value, text, status) "
                "SELECT series_id, t, value, text, status FROM samples_stage "
                "ON CONFLICT DO NOTHING"
            )
