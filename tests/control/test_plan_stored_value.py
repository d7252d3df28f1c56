"""Issue 16, plan step 2: energy left in the batteries at the end of the plan's horizon is worth a
day's mean import price (the last 24 hours of known prices, past slots included) times the
efficiency, the same at every re-plan of the day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from ampacity.control.dayahead import solve
from ampacity.control.schedule import PlannerConfig, inputs_from, stored_value_per_kwh
from controlkit import battery, config, snapshot

DAY = datetime(2024, 1, 17, tzinfo=UTC)
# a winter day: 0.45 at night and midday, 0.55 and 0.60 at the peaks, 0.40-0.36 after 19:00
HOURLY = [0.45] * 6 + [0.55] * 4 + [0.45] * 7 + [0.60] * 2 + [0.40, 0.40, 0.36, 0.36, 0.36]
PRICES = [(DAY + timedelta(hours=h), DAY + timedelta(hours=h + 1), p) for h, p in enumerate(HOURLY)]


def test_the_value_is_a_days_mean_price_times_the_efficiency() -> None:
    mean = sum(HOURLY) / 24
    end = DAY + timedelta(days=1)
    assert stored_value_per_kwh(PRICES, end, 0.95) == pytest.approx(mean * 0.95)
    # a horizon ending at noon: the 24 hours before it (only the 12 known ones count)
    assert stored_value_per_kwh(PRICES, DAY + timedelta(hours=12), 1.0) == pytest.approx(
        sum(HOURLY[:12]) / 12
    )
    assert stored_value_per_kwh([], end, 0.95) is None


def test_an_evening_re_plan_keeps_the_battery_for_tomorrow() -> None:
    """At 19:00 the rest of the day costs 0.40, then 0.36/kWh (mean 0.376). Valued at that mean
    (the old rule: 0.376 × 0.95 = 0.357/kWh stored) discharging into the 0.40 hours pays
    (0.38 saved per kWh stored) and recharging at 0.36 does not (0.379): the battery goes into
    the evening. Valued at the day's mean, 0.464 × 0.95 = 0.44/kWh, it is kept and filled at
    0.36 for the next day."""
    start = DAY + timedelta(hours=19)
    cfg = config(planner={})
    planner = cfg.planner or PlannerConfig()
    s = snapshot(start, grid={"ActivePower": 1000.0}, bat=battery(60.0))
    n = 5
    inputs = inputs_from(s, cfg, planner, PRICES, [0.0] * n, [1000.0] * n, start, 3600.0)
    assert inputs.import_price == pytest.approx([0.40, 0.40, 0.36, 0.36, 0.36])
    assert inputs.stored_value_per_kwh == pytest.approx(sum(HOURLY) / 24 * 0.95)
    plan = solve(inputs)
    assert plan.usable
    assert max(plan.battery_w) == pytest.approx(0.0, abs=1.0)  # no discharge
    assert plan.soc_pct[-1] == pytest.approx(100.0, abs=0.1)
    # the old rule (the horizon's own mean) covers the 1 kW load in the two 0.40 hours
    old = solve(replace(inputs, stored_value_per_kwh=None))
    assert old.battery_w[:2] == pytest.approx([1000.0, 1000.0], abs=1.0)
    assert old.soc_pct[-1] < 60.0 - 20.0
