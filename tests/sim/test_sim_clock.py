"""The demo's clock: the wall clock, or a chosen start time from ``AMPACITY_DEMO_START``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ampacity.server.demo import demo_site
from ampacity.sim.clock import DEMO_START_ENV, ScaledClock, SystemClock, demo_clock, parse_start

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 July in Berlin (CEST, +2 h)


def test_hh_mm_is_today_at_that_local_time_of_the_site() -> None:
    start = parse_start("03:00", BERLIN, now=NOW)
    assert start == datetime(2026, 7, 2, 3, 0, tzinfo=BERLIN)  # the site's today, not UTC's
    assert start.astimezone(UTC) == datetime(2026, 7, 2, 1, 0, tzinfo=UTC)
    assert parse_start(" 20:15 ", BERLIN, now=NOW).time().isoformat() == "20:15:00"


def test_an_iso_datetime_is_taken_as_it_is_or_in_the_site_zone_without_an_offset() -> None:
    assert parse_start("2026-12-07T12:00", BERLIN) == datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    aware = parse_start("2026-12-07T12:00+00:00", BERLIN)
    assert aware == datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert aware.utcoffset() == timedelta(0)
    fixed = timezone(timedelta(hours=1))
    assert parse_start("2026-12-07", fixed) == datetime(2026, 12, 7, tzinfo=fixed)


@pytest.mark.parametrize("value", ["25:00", "12:60", "noon", "12", "1:2:3", "2026-13-01T00:00"])
def test_a_bad_start_names_the_variable_and_the_forms(value: str) -> None:
    with pytest.raises(ValueError, match=f"{DEMO_START_ENV}=.*HH:MM or an ISO datetime"):
        parse_start(value, BERLIN, now=NOW)


def test_without_the_variable_the_demo_runs_on_the_wall_clock() -> None:
    assert isinstance(demo_clock(BERLIN, env={}), SystemClock)
    assert isinstance(demo_clock(BERLIN, env={DEMO_START_ENV: " "}), SystemClock)
    fast = demo_clock(BERLIN, speed=60.0, env={})
    assert isinstance(fast, ScaledClock) and fast.speed == 60.0


def test_with_the_variable_the_demo_starts_there_and_runs_at_real_speed() -> None:
    clock = demo_clock(BERLIN, env={DEMO_START_ENV: "2026-12-07T20:00"})
    assert isinstance(clock, ScaledClock) and clock.speed == 1.0
    start = datetime(2026, 12, 7, 20, 0, tzinfo=BERLIN)
    assert timedelta(0) <= clock.now() - start < timedelta(seconds=5)
    assert clock.now().astimezone(BERLIN).hour == 20


async def test_the_demo_devices_start_their_day_at_the_chosen_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DEMO_START_ENV, "03:00")
    async with demo_site(data_dir=tmp_path) as night:
        physics = night.sims.physics
        assert physics is not None
        assert physics.clock.now().astimezone(BERLIN).hour == 3
        assert physics.pv_w == 0.0  # no sun at 03:00 in Aachen, whatever the wall clock says
        assert physics.chargers["heidelberg"].connected  # the car is in from 18:15 to 06:45
    monkeypatch.setenv(DEMO_START_ENV, "12:00")
    async with demo_site(data_dir=tmp_path) as noon:
        physics = noon.sims.physics
        assert physics is not None
        assert physics.clock.now().astimezone(BERLIN).hour == 12
        assert not physics.chargers["heidelberg"].connected
