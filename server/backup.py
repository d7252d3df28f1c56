"""``ampacity backup DIR`` and ``ampacity restore DIR``.

A backup is a folder:

- ``manifest.json``: when, which Ampacity, the history schema version, a SHA-256 per file;
- ``site.yaml``: the site file (with ``--config``);
- ``users.yaml`` and ``pki/``: users and roles, the server certificate and key, the trust list;
- ``history-buffer/``: the historian's write-ahead buffer (samples recorded, not yet in the
  database), copied first;
- ``history.sqlite``: a consistent snapshot of the SQLite history taken with SQLite's online
  backup API while the server runs and writes (with PostgreSQL: use ``pg_dump``; the manifest
  says so).

Buffer first, database second: a sample is in the snapshot, or in the copied buffer, or was
recorded after the backup; the buffer's replay after a restore inserts what the database lacks
(inserts of a sample already stored are ignored).

Restore needs the server stopped. What is in the way (an existing history, users, PKI, site
file) is moved to ``<data_dir>/before-restore-<time>/``, not deleted: a restore can be rolled
back by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ampacity import __version__
from ampacity.storage import StorageConfig
from ampacity.storage.config import DEFAULT_SQLITE_NAME

from .security.config import SecurityConfig

MANIFEST = "manifest.json"
FORMAT = 1
DEFAULT_DATA_DIR = Path("ampacity-data")
SITE_FILE = "site.yaml"
USERS_FILE = "users.yaml"
PKI_DIR = "pki"
BUFFER_DIR = "history-buffer"


class BackupError(Exception):
    """The backup or restore cannot be done (the message says why)."""


@dataclass(frozen=True)
class SiteFiles:
    """Where a site keeps what a backup holds."""

    data_dir: Path
    site_file: Path | None
    users: Path
    pki: Path
    buffer: Path
    sqlite: Path | None
    """``None`` when the history is in PostgreSQL."""

    @classmethod
    def of(
        cls,
        data_dir: Path,
        site_file: Path | None = None,
        security: SecurityConfig | None = None,
        storage: StorageConfig | None = None,
    ) -> SiteFiles:
        security = security or SecurityConfig()
        storage = storage or StorageConfig()
        sqlite: Path | None = data_dir / DEFAULT_SQLITE_NAME
        if storage.url:
            prefix = "sqlite:///"
            sqlite = Path(storage.url[len(prefix) :]) if storage.url.startswith(prefix) else None
        return cls(
            data_dir,
            site_file,
            security.users_path(data_dir),
            security.pki_path(data_dir),
            storage.buffer_path(data_dir),
            sqlite,
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API, read-only open)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=1024)
            # one self-contained file (the live database is in WAL mode; so would the copy be)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def schema_version(db: Path) -> int | None:
    """The history store's ``schema_version`` (``None``: not an Ampacity history)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT value FROM ampacity_meta WHERE key = 'schema_version'"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return int(row[0]) if row else None


def backup(files: SiteFiles, target: Path, now: datetime | None = None) -> dict[str, Any]:
    """Write a backup of ``files`` to ``target`` (a new or empty folder); returns the manifest.

    Raises:
        BackupError: the target is not empty, or nothing is there to back up.
    """
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: give a new folder")
    if not files.data_dir.is_dir() and files.site_file is None:
        raise BackupError(
            f"no data folder {files.data_dir} (give --config site.yaml or --data-dir)"
        )
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)  # it holds the server's private key and password hashes
    notes: list[str] = []
    if files.site_file is not None:
        shutil.copy2(files.site_file, target / SITE_FILE)
    if files.users.is_file():
        shutil.copy2(files.users, target / USERS_FILE)
    if files.pki.is_dir():
        shutil.copytree(files.pki, target / PKI_DIR)
    if files.buffer.is_dir():
        shutil.copytree(files.buffer, target / BUFFER_DIR)
    schema: int | None = None
    if files.sqlite is None:
        notes.append("history in PostgreSQL: back it up with pg_dump")
    elif files.sqlite.is_file():
        snapshot_sqlite(files.sqlite, target / DEFAULT_SQLITE_NAME)
        schema = schema_version(target / DEFAULT_SQLITE_NAME)
    else:
        notes.append("no history database yet")
    manifest = {
        "format": FORMAT,
        "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "ampacity": __version__,
        "schema_version": schema,
        "data_dir": str(files.data_dir.resolve()),
        "notes": notes,
        "files": {
            str(p.relative_to(target)): _sha256(p) for p in sorted(target.rglob("*")) if p.is_file()
        },
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def verify(source: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file against it.

    Raises:
        BackupError: no manifest, a newer format, a missing or changed file.
    """
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source}: not an Ampacity backup ({MANIFEST}: {exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: backup format {manifest.get('format')!r}, expected {FORMAT}")
    for name, digest in manifest.get("files", {}).items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"{source}: {name} is missing")
        if _sha256(path) != digest:
            raise BackupError(f"{source}: {name} does not match its checksum (damaged?)")
    return manifest


def _owner(folder: Path) -> tuple[int, int] | None:
    """Who owns ``folder`` when we are root and it is someone else (the service user)."""
    if os.geteuid() != 0 or not folder.exists():
        return None
    stat = folder.stat()
    return (stat.st_uid, stat.st_gid) if stat.st_uid != 0 else None


def _chown_tree(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is None:
        return
    for item in [path, *(path.rglob("*") if path.is_dir() else ())]:
        os.chown(item, *owner)


def _same_file(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and _sha256(a) == _sha256(b)


def restore(source: Path, files: SiteFiles, force: bool = False) -> list[str]:
    """Put a backup in place; returns what was restored (one line each).

    Raises:
        BackupError: the backup is damaged, or a history is in the way without ``force``.
    """
    manifest = verify(source)
    items: list[tuple[Path, Path | None]] = [
        (source / DEFAULT_SQLITE_NAME, files.sqlite),
        (source / USERS_FILE, files.users),
        (source / PKI_DIR, files.pki),
        (source / BUFFER_DIR, files.buffer),
        (source / SITE_FILE, files.site_file),
    ]
    present = [
        (src, dst)
        for src, dst in items
        if src.exists() and dst is not None and not _same_file(src, dst)
    ]
    in_way = [dst for _, dst in present if dst is not None and dst.exists()]
    if in_way and not force:
        raise BackupError(
            f"{', '.join(str(p) for p in in_way)} exist(s): stop the server, then restore with "
            "--force (they are moved aside to before-restore-<time>/ in the data folder)"
        )
    files.data_dir.mkdir(parents=True, exist_ok=True)
    owner = _owner(files.data_dir)
    aside = files.data_dir / f"before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    done: list[str] = []
    for src, dst in present:
        assert dst is not None
        if dst.exists():
            aside.mkdir(exist_ok=True)
            shutil.move(dst, aside / dst.name)
            for side in (dst.with_name(dst.name + "-wal"), dst.with_name(dst.name + "-shm")):
                if side.exists():  # SQLite's own journal files belong to the moved database
                    shutil.move(side, aside / side.name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
        if dst != files.site_file:
            _chown_tree(dst, owner)
        done.append(f"restored {dst}")
    if (source / SITE_FILE).exists() and files.site_file is None:
        done.append(f"the backup's site file is {source / SITE_FILE} (not copied: no --config)")
    if aside.exists():
        done.append(f"what was there before: {aside}")
    if manifest.get("schema_version") is not None:
        done.append(f"history schema {manifest['schema_version']} (migrated at the next start)")
    return done


def add_subcommands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, text in (
        ("backup", "back up site file, users, PKI and history (also of a running server)"),
        ("restore", "restore a backup (server stopped)"),
    ):
        parser = commands.add_parser(name, help=text)
        parser.add_argument("dir", type=Path, help="the backup folder")
        parser.add_argument(
            "--config", type=Path, help="site file (default: the demo's ./ampacity-data)"
        )
        parser.add_argument("--data-dir", type=Path, help="data folder instead of the site's")
        if name == "restore":
            parser.add_argument(
                "--force", action="store_true", help="move existing files aside and restore"
            )


def _files(args: argparse.Namespace) -> SiteFiles:
    if args.config is None:
        return SiteFiles.of(args.data_dir or DEFAULT_DATA_DIR)
    from .config import ConfigError, load_config

    if args.command == "restore" and not args.config.exists():
        # restoring onto a fresh box: the site file comes from the backup (checked first)
        verify(args.dir)
        if not (args.dir / SITE_FILE).is_file():
            raise BackupError(f"{args.config} does not exist and the backup has no site file")
        args.config.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(args.dir / SITE_FILE, args.config)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise BackupError("\n".join(exc.errors)) from exc
    data_dir = args.data_dir or config.server.data_dir
    return SiteFiles.of(data_dir, args.config, config.security, config.storage)


def run(args: argparse.Namespace) -> int:
    try:
        files = _files(args)
        if args.command == "backup":
            manifest = backup(files, args.dir)
            print(f"backup of {files.data_dir} in {args.dir}: {len(manifest['files'])} files")
            for note in manifest["notes"]:
                print(f"note: {note}")
        else:
            for line in restore(args.dir, files, force=args.force):
                print(line)
    except (BackupError, OSError, sqlite3.Error) as exc:
        print(f"ampacity {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
