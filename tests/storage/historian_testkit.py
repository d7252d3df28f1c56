"""Helpers of the storage tests (imported by the tests and their conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_DB = "test"


def pg_user() -> tuple[str | None, str]:
    """A user that can connect to the local PostgreSQL server, or ``None`` and why not."""
    try:
        import psycopg
    except ImportError as exc:
        return None, f"psycopg is not installed: {exc}"
    reason = ""
    for user in ("postgres", "root"):
        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, connect_timeout=3
            ):
                return user, ""
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0]
    return None, f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} (database {PG_DB}): {reason}"


def pg_url(user: str, port: int = PG_PORT) -> str:
    return f"postgresql+psycopg://{user}@{PG_HOST}:{port}/{PG_DB}"


def drop_schema(user: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, autocommit=True
    ) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class FakeClock:
    """A settable clock for the historian (``clock()`` returns ``now``)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)
