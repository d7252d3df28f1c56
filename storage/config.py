"""Historian settings: the ``storage:`` section of the site file.

Example (every field is optional; without ``url`` the history is SQLite in the data folder)::

    storage:
      url: postgresql+psycopg://ampacity@db.example:5432/ampacity
      pg_schema: site_a
      flush_interval_s: 1
      buffer_max_mb: 512
      retention: {raw_days: 90, rollup_1m_days: 400, rollup_15m_days: 1095, rollup_1h_days: null}
      policies:
        - {points: "*.ActivePower", deadband_abs: 10}          # W
        - {points: "*.Frequency", deadband_pct: 0.1}            # of the EURange span
        - {points: "meter1.*", mode: interval, interval_s: 60}
        - {points: "*.Health.PollDuration", mode: "off"}
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SQLITE_NAME = "history.sqlite"
"""The embedded database's file name inside the data folder."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyOverride(_Strict):
    """Recording policy for the points whose key matches ``points``.

    Keys are the NodeId strings ``<asset-id>.<Point>`` (e.g. ``pv1.ActivePower``); ``points`` is a
    shell-style glob (``*.ActivePower``, ``meter1.*``). The last matching override wins; fields left
    out keep the model default for the point.
    """

    points: str = Field(min_length=1, description="Glob over point keys.")
    mode: Literal["on_change", "interval", "off"] | None = None
    deadband_abs: float | None = Field(
        None, ge=0, description="Absolute deadband in the point's unit (on_change)."
    )
    deadband_pct: float | None = Field(
        None, ge=0, le=100, description="Deadband in percent of the point's EURange span."
    )
    interval_s: float | None = Field(
        None, gt=0, description="Sampling interval in seconds (interval mode)."
    )
    max_gap_s: float | None = Field(
        None, gt=0, description="Record the current value at least this often (seconds)."
    )

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.points)


class RetentionConfig(_Strict):
    """How long each resolution is kept, in days (``None``: forever)."""

    raw_days: float | None = Field(90.0, gt=0, description="Raw samples.")
    rollup_1m_days: float | None = Field(400.0, gt=0, description="1-minute rollups.")
    rollup_15m_days: float | None = Field(3 * 365.0, gt=0, description="15-minute rollups.")
    rollup_1h_days: float | None = Field(None, gt=0, description="1-hour rollups.")
    events_days: float | None = Field(3 * 365.0, gt=0, description="Events (audit, device).")


class StorageConfig(_Strict):
    """The historian's settings (``storage:`` in the site file).

    Attributes:
        url: SQLAlchemy URL; ``None`` means SQLite ``<data_dir>/history.sqlite``.
            PostgreSQL: ``postgresql+psycopg://user@host:5432/db``.
        pg_schema: PostgreSQL schema the tables live in (created if missing).
        flush_interval_s: how often recorded values go to the disk buffer and the database;
            a ``kill -9`` loses at most this much.
        fsync: fsync the disk buffer on every flush (survives power loss, not only crashes).
        buffer_dir: the write-ahead buffer's folder; ``None`` means ``<data_dir>/history-buffer``.
        buffer_max_mb: the buffer's bound; beyond it the oldest buffered samples are dropped
            (counted in ``health().dropped``).
        retry_max_s: longest wait between attempts to reach a database that is down.
        max_values_per_read: values per HistoryRead response and node before a continuation
            point.
        max_bytes_per_read: numeric points (Double, Boolean, Int32, UInt32: fixed-size values)
            get as many raw values per response as fit into this many bytes of encoded values,
            shared by the nodes read, where that is more than ``max_values_per_read`` (1 MiB:
            about 34,900 Doubles with both timestamps). The server never uses more than its
            ``security.connections.max_message_size``.
        maintenance_interval_s: how often rollups are computed and retention is applied.
        retention: how long each resolution is kept.
        policies: per-point recording overrides, matched by glob, last match wins.
    """

    url: str | None = None
    pg_schema: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    flush_interval_s: float = Field(1.0, gt=0, le=60)
    fsync: bool = True
    buffer_dir: Path | None = None
    buffer_max_mb: float = Field(512.0, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    max_values_per_read: int = Field(10_000, ge=1)
    max_bytes_per_read: int = Field(1024 * 1024, ge=0, le=64 * 1024 * 1024)
    maintenance_interval_s: float = Field(60.0, gt=0)
    retention: RetentionConfig = RetentionConfig()
    policies: list[PolicyOverride] = Field(default_factory=list)

    @model_validator(mode="after")
    def _url(self) -> StorageConfig:
        if self.url is not None and not self.url.startswith(("sqlite", "postgresql")):
            raise ValueError("url: only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return self

    def database_url(self, data_dir: Path) -> str:
        """The SQLAlchemy URL, with the SQLite default resolved against ``data_dir``."""
        if self.url:
            return self.url
        return f"sqlite:///{(Path(data_dir) / DEFAULT_SQLITE_NAME).resolve()}"

    def buffer_path(self, data_dir: Path) -> Path:
        return Path(self.buffer_dir) if self.buffer_dir else Path(data_dir) / "history-buffer"

    def overrides_for(self, key: str) -> list[PolicyOverride]:
        """The overrides matching ``key``, in order (later ones win)."""
        return [p for p in self.policies if p.matches(key)]
