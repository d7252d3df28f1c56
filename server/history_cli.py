"""``ampacity history export``: CSV from the historian.

The CLI wires it in with::

    from .history_cli import add_history_subcommand, run_history
    add_history_subcommand(commands)            # in _parser()
    if args.command == "history": return run_history(args)   # in main()

Exit codes: 0 done, 2 bad arguments or config, 3 the database cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ampacity.storage import StorageConfig
from ampacity.storage.export import export, parse_interval, parse_time
from pydantic import ValidationError

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def add_history_subcommand(commands: Any) -> argparse.ArgumentParser:
    """Add ``history export`` to the ``ampacity`` subcommands (an ``add_subparsers`` result)."""
    history = commands.add_parser("history", help="work with the historian's data")
    actions = history.add_subparsers(dest="history_command", required=True)
    exp = actions.add_parser("export", help="export history as CSV")
    exp.add_argument("--config", type=Path, help="site file (its storage: and data folder)")
    exp.add_argument("--data-dir", type=Path, help="override server.data_dir")
    exp.add_argument("--url", help="database URL (overrides storage.url)")
    exp.add_argument("--from", dest="start", required=True, help="start, ISO 8601 (UTC if no zone)")
    exp.add_argument("--to", dest="end", help="end, ISO 8601 (default: now)")
    exp.add_argument("--points", help="glob over point keys, e.g. 'pv1.*' or '*.ActivePower'")
    exp.add_argument("--interval", help="aggregate per interval (30s, 15m, 1h, 1d); default raw")
    exp.add_argument("--format", choices=["csv"], default="csv")
    exp.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    exp.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return history


def _storage(args: argparse.Namespace) -> tuple[StorageConfig, Path]:
    data_dir = Path("ampacity-data")
    raw: dict[str, Any] = {}
    if args.config is not None:
        from .config import load_config

        site = load_config(args.config)
        data_dir = site.server.data_dir
        storage = getattr(site, "storage", None)
        if isinstance(storage, StorageConfig):
            raw = storage.model_dump()
        elif isinstance(storage, dict):
            raw = dict(storage)
    if args.data_dir is not None:
        data_dir = args.data_dir
    if args.url:
        raw["url"] = args.url
    return StorageConfig.model_validate(raw), data_dir


def run_history(args: argparse.Namespace) -> int:
    """Run a parsed ``history`` command; returns the exit code."""
    from .config import ConfigError

    try:
        config, data_dir = _storage(args)
        start = parse_time(args.start)
        end = parse_time(args.end) if args.end else datetime.now(UTC)
        interval = parse_interval(args.interval) if args.interval else None
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, ValidationError) as exc:
        print(f"ampacity history export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if end <= start:
        print("ampacity history export: --to must be after --from", file=sys.stderr)
        return EXIT_USAGE
    target = (
        args.output.open("w", encoding="utf-8", newline="")
        if args.output
        else nullcontext(sys.stdout)
    )
    try:
        with target as out:
            rows = export(
                config,
                data_dir,
                out,
                start,
                end,
                args.points,
                interval,
                show_progress=not args.no_progress,
            )
    except Exception as exc:
        print(f"ampacity history export: cannot read the history store: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(f"{rows} rows exported", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m ampacity.server.history_cli history export ...``)."""
    parser = argparse.ArgumentParser(prog="ampacity")
    add_history_subcommand(parser.add_subparsers(dest="command", required=True))
    return run_history(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
