"""The demo raises and clears an alarm by itself: its grid operator dims (§ 14a contact) from
17:00 to 19:00 site time, so a demo whose day is at 18:50 shows DimmingActive active and, once its
clock passes 19:00, back to normal; both transitions are in the history. The demo's clock runs at
real speed from 18:50 and is moved on to 2 s before 19:00 once the alarm is active (waiting for
19:00 in real time took most of a minute)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

from ampacity.server.app import start_site
from ampacity.server.demo import DIMMING_HOURS, demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.clock import parse_start
from ampacity.sim.load import site_zone
from ampacity.sim.site import SiteConfig as Household
from ampacity.storage import EventKind
from security_support import free_port

CONDITION = "demo.DimmingActive"
END = f"2026-06-21T{DIMMING_HOURS[1]:02d}:00:00"
"""The end of the dimming window (site time)."""
START_BEFORE_END_S = 600.0
"""The demo's day starts this long before the end: the site is up well within the window."""


class SkippingClock:
    """Real time from ``start``, which ``skip_to`` moves on (the devices read only ``now``)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._real0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._real0)

    def skip_to(self, when: datetime) -> None:
        self._start += when - self.now()


async def wait_for(check, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not reached"
        await asyncio.sleep(0.1)


async def test_the_demo_dims_in_the_evening_and_the_alarm_comes_and_goes(tmp_path: Path) -> None:
    end = parse_start(END, site_zone(Household().time_zone))
    clock = SkippingClock(end - timedelta(seconds=START_BEFORE_END_S))
    async with demo_site(
        data_dir=tmp_path, port=free_port(), daily_dimming=True, clock=clock
    ) as demo:
        context = build_context(demo.config)
        drivers = await build_drivers(demo.config, context)
        site = await start_site(demo.config, drivers)
        try:
            assert site.alarms is not None
            condition = site.alarms.by_key[CONDITION]
            await wait_for(lambda: condition.state.active, 40)
            assert clock.now() < end  # raised within the window, by the demo's own schedule
            assert condition.state.severity == 100  # informational
            assert CONDITION in site.alarms.retained
            clock.skip_to(end - timedelta(seconds=2))
            await wait_for(lambda: not condition.state.active, 60)
            assert clock.now() >= end  # cleared once the window ended, not before
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
