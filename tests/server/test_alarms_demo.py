"""The demo raises and clears an alarm by itself: its grid operator dims (§ 14a contact) from
17:00 to 19:00 site time, so a demo started at 18:59 (AMPACITY_DEMO_START, not the wall clock)
shows DimmingActive active and, at 19:00, back to normal; both transitions are in the history."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ampacity.server.app import start_site
from ampacity.server.demo import DIMMING_HOURS, demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.clock import DEMO_START_ENV
from ampacity.storage import EventKind
from security_support import free_port

CONDITION = "demo.DimmingActive"
START = f"2026-06-21T{DIMMING_HOURS[1] - 1:02d}:59:20"
"""40 s before the dimming window ends (site time): the site starts within it."""


async def wait_for(check, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not reached"
        await asyncio.sleep(0.1)


async def test_the_demo_dims_in_the_evening_and_the_alarm_comes_and_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEMO_START_ENV, START)
    async with demo_site(data_dir=tmp_path, port=free_port(), daily_dimming=True) as demo:
        context = build_context(demo.config)
        drivers = await build_drivers(demo.config, context)
        site = await start_site(demo.config, drivers)
        try:
            assert site.alarms is not None
            condition = site.alarms.by_key[CONDITION]
            await wait_for(lambda: condition.state.active, 40)
            assert condition.state.severity == 100  # informational
            assert CONDITION in site.alarms.retained
            await wait_for(lambda: not condition.state.active, 60)
            await site.historian.flush()
            events, _ = await site.historian.read_events("demo", None, None, kinds=("alarm",))
            transitions = [
                e.extra["transition"]
                for e in sorted(events, key=lambda e: e.t_us)
                if isinstance(e.extra, dict) and e.extra.get("condition") == CONDITION
            ]
            assert transitions == ["activated", "deactivated"]
            assert all(e.kind == EventKind.ALARM.value for e in events)
        finally:
            await site.stop()
            await context.aclose()
