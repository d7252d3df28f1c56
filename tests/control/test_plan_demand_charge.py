"""Issue 16, plan step 1: a demand charge in the day-ahead plan (a peak-import variable with the
day's share of the charge as its cost), the plan's peak as an import bound the real-time control
keeps, the month's 15-minute peak the cycle measures, and the load nowcast of a re-plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ampacity.control import ControlCycle
from ampacity.control.cycle import ImportPeak
from ampacity.control.dayahead import Plan, PlanInputs, solve
from ampacity.control.forecasting import nowcast
from ampacity.control.schedule import PlannerConfig, inputs_from
from controlkit import T0, battery, config, snapshot, step

BAT = "bat.BatteryPowerSetpoint"
START = datetime(2024, 6, 19, tzinfo=UTC)


def peak_inputs(**kwargs: object) -> PlanInputs:
    """Four hours at a flat 0.20/kWh: 2 kW, then 10 kW for two hours, then 2 kW; a 10 kWh
    battery at 80 % (reserve 10 %), 5 kW each way, lossless."""
    base: dict[str, object] = {
        "start": START,
        "slot_s": 3600.0,
        "import_price": [0.20] * 4,
        "export_price": [0.0] * 4,
        "pv_w": [0.0] * 4,
        "load_w": [2000.0, 10_000.0, 10_000.0, 2000.0],
        "capacity_wh": 10_000.0,
        "soc_pct": 80.0,
        "reserve_pct": 10.0,
        "max_charge_w": 5000.0,
        "max_discharge_w": 5000.0,
        "efficiency": 1.0,
    }
    base.update(kwargs)
    return PlanInputs(**base)  # type: ignore[arg-type]


def test_without_a_demand_charge_the_plan_has_no_peak() -> None:
    plan = solve(peak_inputs())
    assert plan.status == "optimal"
    assert plan.peak_import_w is None


def test_a_demand_charge_flattens_the_peak_with_the_battery() -> None:
    """1 EUR per kW of the peak: the battery fills up in the first hour (2 kWh) and its 9 kWh
    above the reserve shave the 10 kW hours to 5.5 kW (4.5 kW each); without the charge it
    would cover the load in the first hours and leave the peak. The plan's peak is its highest
    import."""
    plan = solve(peak_inputs(demand_charge_per_kw=1.0))
    assert plan.status == "optimal"
    assert plan.peak_import_w == pytest.approx(5500.0, abs=1.0)
    assert max(plan.grid_w) == pytest.approx(plan.peak_import_w, abs=1.0)
    assert plan.grid_w[1:3] == pytest.approx([5500.0, 5500.0], abs=1.0)
    assert plan.battery_w[0] == pytest.approx(-2000.0, abs=1.0)
    assert max(solve(peak_inputs()).grid_w) > 9000.0  # without it the peak stays


def test_a_peak_the_month_already_has_costs_nothing_more() -> None:
    """The month already has 9 kW: the plan need not shave below it (import up to 9 kW is
    free), so the peak is 9 kW and the battery gives only 1 kW in each peak hour."""
    plan = solve(peak_inputs(demand_charge_per_kw=1.0, peak_floor_w=9000.0))
    assert plan.peak_import_w == pytest.approx(9000.0, abs=1.0)
    assert max(plan.grid_w) <= 9000.0 + 1.0


def test_the_peak_stays_within_the_import_limit() -> None:
    """A floor above the configured import limit is clamped to it (the LP stays feasible)."""
    plan = solve(
        peak_inputs(demand_charge_per_kw=1.0, peak_floor_w=20_000.0, grid_import_limit_w=8000.0)
    )
    assert plan.usable
    assert plan.peak_import_w == pytest.approx(8000.0, abs=1.0)


def test_the_planner_bears_one_days_share_of_the_monthly_charge() -> None:
    """15 EUR/kW·month in June (30 days): 0.50 EUR per kW for the plan's peak."""
    cfg = config(planner={"demand_charge_per_kw_month": 15.0})
    planner = cfg.planner or PlannerConfig()
    prices = [(START + timedelta(hours=h), START + timedelta(hours=h + 1), 0.2) for h in range(4)]
    s = snapshot(START, grid={"ActivePower": 0.0}, bat=battery(50.0))
    inputs = inputs_from(
        s, cfg, planner, prices, [0.0] * 4, [1000.0] * 4, START, 3600.0, peak_floor_w=4000.0
    )
    assert inputs.demand_charge_per_kw == pytest.approx(0.50)
    assert inputs.peak_floor_w == 4000.0


def peak_plan(peak_w: float) -> Plan:
    """A one-slot plan covering T0 that holds the battery and chose ``peak_w``."""
    return Plan(
        T0 - timedelta(minutes=5),
        900.0,
        "optimal",
        grid_w=[peak_w],
        battery_w=[0.0],
        soc_pct=[50.0],
        curtail_w=[0.0],
        import_price=[0.20],
        peak_import_w=peak_w,
    )


def test_the_plans_peak_bounds_the_import_in_real_time() -> None:
    """The site draws 8 kW; the plan chose a 5 kW peak: the battery discharges 3 kW (beyond
    the plan's ±margin hold), and the decision says why."""
    cycle = ControlCycle(config(planner={}))
    cycle.set_plan(peak_plan(5000.0))
    result = step(cycle, grid={"ActivePower": 8000.0}, bat=battery(60.0))
    decision = result.decisions[BAT]
    assert decision.value == pytest.approx(3000.0, abs=1.0)
    assert "the plan's peak for the demand charge" in decision.reason


def test_the_plans_peak_never_lifts_a_configured_import_limit() -> None:
    """Plan peak 9 kW, configured limit 6 kW: the battery holds the import at 6 kW."""
    cfg = config(
        planner={},
        strategies={
            "peak": {
                "template": "self-consumption",
                "grid_import_limit_w": 6000,
                "grid_target_w": 0,
            }
        },
        strategy="peak",
    )
    cycle = ControlCycle(cfg)
    cycle.set_plan(peak_plan(9000.0))
    result = step(cycle, grid={"ActivePower": 8000.0}, bat=battery(60.0))
    assert result.decisions[BAT].value >= 2000.0 - 1.0
    assert cycle.grid_range_w[1] <= 6000.0


def test_without_a_plan_peak_there_is_no_import_bound() -> None:
    cycle = ControlCycle(config(planner={}))
    result = step(cycle, grid={"ActivePower": 8000.0}, bat=battery(60.0))
    assert cycle.grid_range_w[1] == float("inf")
    assert BAT in result.decisions


def test_the_month_peak_is_the_highest_quarter_hour_mean() -> None:
    """10 kW for 5 minutes and 1 kW for 10 minutes in one quarter-hour: 4 kW; a new month
    starts from nothing; export counts as no import."""
    zone = UTC
    peak = ImportPeak()
    t = datetime(2024, 6, 30, 23, 0, tzinfo=UTC)
    for i in range(1, 16):
        peak.observe(t + timedelta(minutes=i), 10_000.0 if i <= 5 else 1000.0, 60.0, zone)
    assert peak.peak_w == pytest.approx((5 * 10_000 + 10 * 1000) / 15, rel=1e-9)
    later = t + timedelta(minutes=16)
    peak.observe(later, -5000.0, 60.0, zone)
    assert peak.peak_w == pytest.approx(4000.0)
    peak.observe(datetime(2024, 7, 1, 0, 1, tzinfo=UTC), 1500.0, 60.0, zone)
    assert peak.peak_w == pytest.approx(1500.0 * 60 / 900)


def test_the_cycle_measures_the_month_peak() -> None:
    cycle = ControlCycle(config())
    for i in range(10):
        step(cycle, seconds=i * 90.0, grid={"ActivePower": 3000.0}, bat=battery(50.0))
    # 9 readings after the first stand for 90 s each at 3 kW: 810 s of the quarter-hour
    assert cycle.import_peak.peak_w == pytest.approx(3000.0 * 810 / 900, rel=1e-6)


def test_the_nowcast_corrects_the_load_forecast_and_fades() -> None:
    """Forecast 1 kW; measured 3 kW: +2 kW now, e^-1 of it after two hours."""
    load = nowcast([1000.0] * 9, 3000.0, 900.0)
    assert load[0] == pytest.approx(3000.0)
    assert load[8] == pytest.approx(1000.0 + 2000.0 * 0.36788, rel=1e-4)
    assert nowcast([1000.0], None, 900.0) == [1000.0]
    assert nowcast([2500.0, 2500.0], 0.0, 900.0)[1] == pytest.approx(
        2500.0 * (1 - 0.8825), rel=1e-3
    )


def test_the_cycle_measures_the_load_with_the_pv_taken_back() -> None:
    """Grid 1 kW import, PV 3 kW, battery idle: the house uses 4 kW."""
    cycle = ControlCycle(config())
    step(
        cycle,
        grid={"ActivePower": 1000.0},
        pv={"ActivePower": 3000.0, "NominalPower": 10_000.0},
        bat=battery(50.0),
    )
    assert cycle.load.mean_w == pytest.approx(4000.0)


def car_cycle(limit_w: float | None, peak_w: float | None) -> tuple[ControlCycle, dict]:
    """A CostOptimised car the plan charges at 11 kW (16 A, 3 phases), 6 kW of house load."""
    strategy: dict[str, object] = {"template": "self-consumption"}
    if limit_w is not None:
        strategy["grid_import_limit_w"] = limit_w
    cfg = config(
        charge_points=[{"id": "cp", "max_current_a": 16, "plug_in_check_s": 0}],
        strategies={"sc": strategy},
        strategy="sc",
        planner={},
    )
    cycle = ControlCycle(cfg)
    plan = peak_plan(peak_w if peak_w is not None else 17_000.0)
    plan.vehicle_w = {"cp": [11_040.0]}
    if peak_w is None:
        plan.peak_import_w = None
    cycle.set_plan(plan)
    car = {"VehicleConnected": True, "PhasesInUse": 3, "ActivePower": 0.0, "ChargeMode": 5}
    return cycle, car


def test_an_empty_battery_leaves_the_import_limit_to_the_car() -> None:
    """Battery at its reserve, 6 kW house, the plan's car at 11 kW, limit 12 kW: the car is cut
    to 6 kW / 690 W per A = 8.7 A (the battery cannot cover the 5 kW)."""
    cycle, car = car_cycle(12_000.0, None)
    result = step(
        cycle,
        grid={"ActivePower": 6000.0},
        pv={"ActivePower": 0.0, "NominalPower": 8000.0},
        bat=battery(soc=10.0),
        cp=car,
    )
    current = result.decisions["cp.ChargeCurrentLimit"]
    assert current.value == pytest.approx(6000.0 / 690.0, abs=0.01)
    assert current.limited_by == "grid-import-limit"


def test_the_plans_peak_alone_never_cuts_a_car() -> None:
    """The same with no configured limit and the plan's peak at 12 kW: the battery is empty, the
    car keeps its 16 A (the peak is worth the battery's energy, not the car's target)."""
    cycle, car = car_cycle(None, 12_000.0)
    result = step(
        cycle,
        grid={"ActivePower": 6000.0},
        pv={"ActivePower": 0.0, "NominalPower": 8000.0},
        bat=battery(soc=10.0),
        cp=car,
    )
    assert result.decisions["cp.ChargeCurrentLimit"].value == 16.0
