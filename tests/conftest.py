"""Shared test configuration."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--demo-starts",
        default="",
        metavar="HH:MM,...",
        help=(
            "also run the demo's end-to-end test files (tests/server/conftest.py DEMO_E2E) with "
            "the demo's simulated day starting at each of these local times "
            "(AMPACITY_DEMO_START), each as a test file of its own (scripts/test.sh: "
            "03:00,12:00,20:00)"
        ),
    )
