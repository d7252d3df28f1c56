"""Issue 16: the plan plans each electrolyser and generator (not the first for all), and a MILP
stopped at its time limit says so, with its gap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ampacity.control import dayahead
from ampacity.control.dayahead import FlexUnit, PlanInputs, solve
from ampacity.control.schedule import PlannerConfig, inputs_from, schedule_demands
from controlkit import T0, config, snapshot

HOURS = 4
PRICES = [(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1), 0.30) for h in range(HOURS)]


def site(**overrides):
    return config(
        batteries=[],
        planner={"hydrogen_value_per_kwh": 0.20, "chp_fuel_cost_per_kwh": 0.10},
        **overrides,
    )


def test_each_electrolyser_is_planned_on_its_own() -> None:
    """Two 3 kW units (different minimums) and 5 kW of PV surplus worth less than hydrogen:
    the plan runs both (the second's own range), and each gets its own setpoint."""
    cfg = site(
        electrolysers=[
            {"id": "e1", "min_power_w": 2500, "max_power_w": 3000},
            {"id": "e2", "min_power_w": 1000, "max_power_w": 3000},
        ]
    )
    planner = PlannerConfig(export_price_per_kwh=0.05, hydrogen_value_per_kwh=0.20)
    s = snapshot(grid={"ActivePower": 0.0})
    inputs = inputs_from(s, cfg, planner, PRICES, [5000.0] * HOURS, [0.0] * HOURS, T0, 3600.0)
    plan = solve(inputs)
    assert plan.usable
    e1, e2 = plan.unit_w["e1"], plan.unit_w["e2"]
    assert all(2500.0 - 1.0 <= w <= 3000.0 + 1.0 for w in e1)  # e1's own range
    assert all(2000.0 - 1.0 <= w <= 3000.0 + 1.0 for w in e2)  # the rest, ≥ e2's minimum
    assert [a + b for a, b in zip(e1, e2, strict=True)] == pytest.approx([5000.0] * HOURS, abs=1.0)
    assert plan.electrolyser_w == pytest.approx([5000.0] * HOURS, abs=1.0)
    demands = {d.resource: d.target for d in schedule_demands(plan, s, cfg, planner, T0)}
    assert demands["e1.PowerSetpoint"] == pytest.approx(e1[0], abs=1.0)
    assert demands["e2.PowerSetpoint"] == pytest.approx(e2[0], abs=1.0)


def test_each_generator_is_planned_on_its_own() -> None:
    """A 4 kW load at 0.30/kWh, fuel at 0.10: the 3 kW unit runs at rated power, the 2 kW unit
    (minimum 1 kW) covers the remaining 1 kW."""
    cfg = site(
        generators=[
            {"id": "g1", "rated_power_w": 3000, "min_power_w": 3000},
            {"id": "g2", "rated_power_w": 2000, "min_power_w": 1000},
        ]
    )
    planner = PlannerConfig(export_price_per_kwh=0.0, chp_fuel_cost_per_kwh=0.10)
    s = snapshot(grid={"ActivePower": 4000.0})
    inputs = inputs_from(s, cfg, planner, PRICES, [0.0] * HOURS, [4000.0] * HOURS, T0, 3600.0)
    plan = solve(inputs)
    assert plan.unit_w["g1"] == pytest.approx([3000.0] * HOURS, abs=1.0)
    assert plan.unit_w["g2"] == pytest.approx([1000.0] * HOURS, abs=1.0)
    assert plan.grid_w == pytest.approx([0.0] * HOURS, abs=1.0)
    demands = {d.resource: d.target for d in schedule_demands(plan, s, cfg, planner, T0)}
    assert set(demands) >= {"g1.PowerSetpoint", "g2.PowerSetpoint"}


def test_a_plan_stopped_at_the_time_limit_is_time_limited_with_its_gap() -> None:
    """A day of quarter-hours with sixteen on/off units stopped at a time limit before it is
    solved to 1 %: the best plan found is kept, and its status says what it is (time-limited,
    with its gap), never "optimal"."""
    n = 96
    units = tuple(
        FlexUnit(f"e{i}", "electrolyser", 1500.0 + 100 * i, 4000.0) for i in range(8)
    ) + tuple(FlexUnit(f"g{i}", "chp", 1000.0 + 77 * i, 3000.0) for i in range(8))
    inputs = PlanInputs(
        start=T0,
        slot_s=900.0,
        import_price=[0.10 + 0.25 * ((t * 37) % 11) / 10 for t in range(n)],
        export_price=[0.05] * n,
        pv_w=[3000.0 * ((t * 13) % 7) / 6 for t in range(n)],
        load_w=[2500.0] * n,
        capacity_wh=10_000.0,
        max_charge_w=5000.0,
        max_discharge_w=5000.0,
        grid_import_limit_w=6000.0,
        hydrogen_value_per_kwh=0.18,
        chp_fuel_cost_per_kwh=0.22,
        units=units,
    )
    # How far HiGHS gets in a given time depends on the machine and its load: the limit is cut
    # until the solver stops at it (on a quiet machine it may prove the gap within 0.3 s).
    for limit_s in (0.3, 0.1, 0.03, 0.01):
        plan = solve(inputs, time_limit_s=limit_s)
        if plan.status.startswith("time-limited"):
            break
    assert plan.status.startswith(f"time-limited ({limit_s:g} s)"), plan.status
    assert "optimal" not in plan.status
    if plan.usable:  # the best plan found so far, with how far it may be from the optimum
        assert "gap" in plan.status and plan.gap is not None and plan.gap > dayahead.MIP_GAP
        assert len(plan.grid_w) == n
    else:
        assert plan.status.endswith("no plan found")
