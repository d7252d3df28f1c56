"""Schema migrations at start copy the SQLite store first (upgrade and roll back by hand)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ampacity.storage import StorageConfig
from ampacity.storage.engine import open_database
from ampacity.storage.migrations import LATEST


def version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute("SELECT value FROM ampacity_meta WHERE key='schema_version'").fetchone()[0]
        )
    finally:
        conn.close()


def set_version(db: Path, value: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute("UPDATE ampacity_meta SET value=? WHERE key='schema_version'", (str(value),))
    conn.execute("CREATE TABLE kept_by_the_backup (x INTEGER)")
    conn.commit()
    conn.close()


def test_an_older_store_is_copied_before_it_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    open_database(StorageConfig(), tmp_path).engine.dispose()
    assert version(db) == LATEST
    assert list(tmp_path.glob("*.bak")) == []  # a new store: nothing to copy
    set_version(db, LATEST - 1)  # as an older Ampacity left it
    open_database(StorageConfig(), tmp_path).engine.dispose()
    assert version(db) == LATEST
    (copy,) = tmp_path.glob(f"history.sqlite.schema{LATEST - 1}-*.bak")
    assert version(copy) == LATEST - 1
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM kept_by_the_backup").fetchone() == (0,)
    conn.close()
    # a store that is current is not copied again
    open_database(StorageConfig(), tmp_path).engine.dispose()
    assert len(list(tmp_path.glob("*.bak"))) == 1
