"""Fixtures of the ripple-control receiver tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ampacity.drivers.modbus import LinkRegistry
from signals_rig import RecordingSink


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def links() -> AsyncIterator[LinkRegistry]:
    """A registry whose links retry after 20..50 ms (the site's default waits longer)."""
    registry = LinkRegistry(backoff_initial_s=0.02, backoff_cap_s=0.05)
    yield registry
    await registry.aclose()
