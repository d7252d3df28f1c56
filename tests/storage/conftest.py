"""Storage test fixtures: the same suite against SQLite and the local PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ampacity.storage import Historian, StorageConfig
from historian_testkit import FakeClock, drop_schema, pg_url, pg_user


@pytest.fixture
def pg() -> Iterator[tuple[str, str]]:
    """``(user, schema)``: a fresh PostgreSQL schema for one test, dropped afterwards."""
    user, reason = pg_user()
    if user is None:
        pytest.skip(reason)
    schema = f"ampacity_test_{uuid.uuid4().hex[:12]}"
    yield user, schema
    drop_schema(user, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage_config(backend: str, request: pytest.FixtureRequest) -> StorageConfig:
    """Settings for a fresh store on ``backend`` (SQLite in tmp_path / a PostgreSQL schema)."""
    if backend == "sqlite":
        return StorageConfig(fsync=False)
    user, schema = request.getfixturevalue("pg")
    return StorageConfig(url=pg_url(user), pg_schema=schema, fsync=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 2, tzinfo=UTC))


@pytest.fixture
async def historian(
    storage_config: StorageConfig, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Historian]:
    """A started historian without its background task (tests call ``flush()``)."""
    h = Historian.open(storage_config, tmp_path / "data", clock=clock)
    await h.start(background=False)
    yield h
    await h.stop()
