"""``ampacity backup`` of a running demo's data folder and ``ampacity restore``: no history lost."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ampacity.server.backup import BackupError, SiteFiles, restore, verify
from ampacity.server.cli import main
from ampacity.storage import Historian, StorageConfig

if TYPE_CHECKING:
    from conftest import DemoUnderTest

on_the_demo = pytest.mark.asyncio(loop_scope="module")

Rows = set[tuple[str, int, float | None, str | None, int]]


def rows(db: Path) -> Rows:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return set(
            conn.execute(
                "SELECT series.key, t, value, text, status FROM samples "
                "JOIN series ON series.id = samples.series_id"
            )
        )
    finally:
        conn.close()


@on_the_demo
async def test_backup_of_a_running_site_restores_every_sample_users_and_pki(
    running_demo: DemoUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = running_demo.site
    data_dir = site.config.server.data_dir
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert (
        main(
            [
                "users",
                "add",
                "ops",
                "--role",
                "admin",
                "--password-stdin",
                "--data-dir",
                str(data_dir),
            ]
        )
        == 0
    )
    deadline = time.monotonic() + 20  # the demo runs in real time on loopback
    for _ in range(200):
        if site.historian.health().written >= 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    live = data_dir / "history.sqlite"
    before = rows(live)
    assert len(before) >= 100
    backup_dir = tmp_path / "backup"
    # while the server records and writes (the CLI runs the backup on this thread; the site
    # goes on right after, so let it run a moment during and after)
    assert main(["backup", str(backup_dir), "--data-dir", str(data_dir)]) == 0
    await asyncio.sleep(1.5)
    assert site.historian.health().written > 0
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["schema_version"] >= 1
    assert {"history.sqlite", "users.yaml"} <= set(manifest["files"])
    assert any(name.startswith("pki/") for name in manifest["files"])
    snapshot = rows(backup_dir / "history.sqlite")
    assert before <= snapshot, f"{len(before - snapshot)} samples missing from the snapshot"
    # the snapshot is a complete database (integrity check), not a torn copy
    conn = sqlite3.connect(backup_dir / "history.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()

    # restore onto a fresh box: the history opens and answers, the users are there
    fresh = tmp_path / "fresh"
    assert main(["restore", str(backup_dir), "--data-dir", str(fresh)]) == 0
    assert (fresh / "users.yaml").read_text() == (data_dir / "users.yaml").read_text()
    assert (fresh / "pki" / "own" / "cert.der").exists()
    historian = Historian.open(StorageConfig(), fresh)
    await historian.start(background=False)
    try:
        since = datetime(2000, 1, 1, tzinfo=UTC)
        page = await historian.read_raw("grid-meter.ActivePower", since, None, limit=100000)
        assert len(page.values) >= 1
    finally:
        await historian.stop()
    assert before <= rows(fresh / "history.sqlite")


def test_restore_refuses_a_damaged_backup_and_moves_existing_files_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "history.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE ampacity_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO ampacity_meta VALUES ('schema_version', '2')")
    conn.commit()
    conn.close()
    (data / "users.yaml").write_text("users: {}\n")
    backup_dir = tmp_path / "backup"
    assert main(["backup", str(backup_dir), "--data-dir", str(data)]) == 0
    assert json.loads((backup_dir / "manifest.json").read_text())["schema_version"] == 2
    # a backup never overwrites another
    assert main(["backup", str(backup_dir), "--data-dir", str(data)]) == 1
    assert "is not empty" in capsys.readouterr().err
    # an existing history is not overwritten without --force
    with pytest.raises(BackupError, match="--force"):
        restore(backup_dir, SiteFiles.of(data))
    (data / "users.yaml").write_text("users: {changed: {role: viewer}}\n")
    done = restore(backup_dir, SiteFiles.of(data), force=True)
    assert (data / "users.yaml").read_text() == "users: {}\n"
    aside = next(data.glob("before-restore-*"))
    assert (aside / "users.yaml").read_text() == "users: {changed: {role: viewer}}\n"
    assert (aside / "history.sqlite").exists()
    assert any(str(aside) in line for line in done)
    # a changed byte is found
    with (backup_dir / "users.yaml").open("a") as handle:
        handle.write("# tampered\n")
    with pytest.raises(BackupError, match=r"users\.yaml does not match its checksum"):
        verify(backup_dir)
    assert main(["restore", str(backup_dir), "--data-dir", str(tmp_path / "x")]) == 1
    assert "checksum" in capsys.readouterr().err


def test_backup_without_a_data_folder_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["backup", str(tmp_path / "b")]) == 1
    assert "no data folder ampacity-data" in capsys.readouterr().err


def test_restore_onto_a_fresh_box_takes_the_site_file_from_the_backup(tmp_path: Path) -> None:
    site = tmp_path / "old" / "site.yaml"
    site.parent.mkdir()
    data = tmp_path / "old" / "data"
    site.write_text(f"site: {{id: box, name: Box}}\nserver: {{data_dir: {data}}}\ndevices: []\n")
    data.mkdir()
    (data / "users.yaml").write_text("users: {}\n")
    backup_dir = tmp_path / "backup"
    assert main(["backup", str(backup_dir), "--config", str(site)]) == 0
    new_site = tmp_path / "new" / "etc" / "site.yaml"
    new_data = tmp_path / "new" / "data"
    code = main(
        ["restore", str(backup_dir), "--config", str(new_site), "--data-dir", str(new_data)]
    )
    assert code == 0
    assert new_site.read_text() == site.read_text()
    assert (new_data / "users.yaml").read_text() == "users: {}\n"
