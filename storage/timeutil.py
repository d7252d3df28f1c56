"""Time in the store: integer microseconds since 1970-01-01 UTC (``t_us``).

Integers make bucketing (``(t - start) / width``) exact and identical in SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_S = 1_000_000


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(t_us: int) -> datetime:
    """The aware UTC datetime of ``t_us``."""
    return EPOCH + timedelta(microseconds=t_us)


def seconds_to_us(seconds: float) -> int:
    return round(seconds * US_PER_S)
