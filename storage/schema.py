"""The narrow schema: series, samples, rollups, events (times in ``t_us``, see ``timeutil``).

``samples`` holds one row per recorded value: ``value`` for numbers and booleans (1.0/0.0),
``text`` for strings, both NULL when the StatusCode is Bad; ``status`` is the 32-bit OPC UA
StatusCode. The primary key ``(series_id, t)`` makes re-inserting a buffered batch harmless.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

meta = Table(
    "ampacity_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Store-wide facts: ``schema_version``, rollup watermarks."""

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=True),
    Column("data_type", String(16), nullable=True),
    Column("unit", String(16), nullable=True),
    Column("description", Text, nullable=True),
    Column("stepped", Boolean, nullable=False, default=False),
)
"""One row per recorded point; ``key`` is the NodeId string ``<asset-id>.<Point>``."""

samples = Table(
    "samples",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("t", BigInteger, nullable=False),
    Column("value", Float(precision=53), nullable=True),
    Column("text", Text, nullable=True),
    Column("status", BigInteger, nullable=False),
    PrimaryKeyConstraint("series_id", "t", name="samples_pk"),
    sqlite_with_rowid=False,
)

rollups = Table(
    "rollups",
    metadata,
    Column("series_id", Integer, nullable=False),
    Column("width_s", Integer, nullable=False),
    Column("t", BigInteger, nullable=False),
    Column("n_good", Integer, nullable=False),
    Column("n_all", Integer, nullable=False),
    Column("vmin", Float(precision=53), nullable=True),
    Column("vmax", Float(precision=53), nullable=True),
    Column("vsum", Float(precision=53), nullable=True),
    Column("vlast", Float(precision=53), nullable=True),
    Column("tlast", BigInteger, nullable=True),
    PrimaryKeyConstraint("series_id", "width_s", "t", name="rollups_pk"),
    sqlite_with_rowid=False,
)
"""Downsampled good values per bucket ``[t, t + width_s)``: count, min, max, sum (average =
``vsum / n_good``), the last good value and its time; ``n_all`` counts every sample."""

events = Table(
    "events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("eid", String(32), nullable=False, unique=True),
    Column("t", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source", String(255), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("message", Text, nullable=False),
    Column("user_name", String(255), nullable=True),
    Column("old_value", Text, nullable=True),
    Column("new_value", Text, nullable=True),
    Column("status", BigInteger, nullable=True),
    Column("extra", Text, nullable=True),
    Index("events_t", "t"),
    Index("events_source_t", "source", "t"),
)
"""Audit and system events; ``eid`` (random, assigned when recorded) makes replays harmless."""
