"""The day-ahead LP and the forecasts: tables of inputs and the plans and values they must give."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from ampacity.control.dayahead import PlanInputs, VehicleNeed, solve
from ampacity.control.forecasting import (
    clear_sky_pv_w,
    learn_clear_sky_factor,
    load_forecast,
    pv_forecast,
)
from ampacity.control.schedule import parse_price_forecast

START = datetime(2024, 5, 12, tzinfo=UTC)
LAT, LON = 50.775, 6.083


def inputs(prices: list[float], **kwargs: object) -> PlanInputs:
    n = len(prices)
    base: dict[str, object] = {
        "start": START,
        "slot_s": 3600.0,
        "import_price": prices,
        "export_price": [min(0.0, p) for p in prices],
        "pv_w": [0.0] * n,
        "load_w": [0.0] * n,
        "capacity_wh": 10_000.0,
        "soc_pct": 10.0,
        "reserve_pct": 10.0,
        "max_charge_w": 5_000.0,
        "max_discharge_w": 5_000.0,
        "efficiency": 1.0,
    }
    base.update(kwargs)
    return PlanInputs(**base)  # type: ignore[arg-type]


def test_the_battery_charges_cheap_and_discharges_expensive() -> None:
    prices = [0.10, 0.10, 0.40, 0.40]
    plan = solve(inputs(prices, load_w=[0.0, 0.0, 4000.0, 4000.0]))
    assert plan.status == "optimal"
    # filled while cheap (what is left at the end keeps its value), emptied while expensive
    assert sum(plan.battery_w[:2]) == pytest.approx(-9000.0, abs=1.0)
    assert plan.battery_w[2:] == pytest.approx([4000.0, 4000.0], abs=1.0)  # covers the load
    assert plan.grid_w[2:] == pytest.approx([0.0, 0.0], abs=1.0)


def test_negative_prices_charge_from_the_grid_and_curtail_pv_within_the_limits() -> None:
    prices = [-0.05, -0.05, 0.30]
    plan = solve(
        inputs(
            prices,
            pv_w=[6000.0, 6000.0, 0.0],
            load_w=[500.0, 500.0, 500.0],
            grid_import_limit_w=3000.0,
            feed_in_limit_w=2000.0,
        )
    )
    # import pays: the grid's 3 kW and the battery's 5 kW are taken, PV makes room for them
    assert plan.grid_w[0] == pytest.approx(3000.0, abs=1.0)  # the import limit
    assert plan.battery_w[0] == pytest.approx(-5000.0, abs=1.0)
    assert plan.curtail_w[0] == pytest.approx(6000.0 + 3000.0 - 500.0 - 5000.0, abs=1.0)
    assert all(-2000.0 - 1e-6 <= g <= 3000.0 + 1e-6 for g in plan.grid_w)


def test_a_vehicle_gets_its_energy_before_departure_in_the_cheapest_slots() -> None:
    prices = [0.30, 0.10, 0.20, 0.05, 0.50]
    need = VehicleNeed("cp", 15_000.0, START + timedelta(hours=4), 11_000.0)
    plan = solve(inputs(prices, capacity_wh=0.0, vehicles=(need,)))
    energy = [w * 1.0 for w in plan.vehicle_w["cp"]]  # 1 h slots: W = Wh
    assert sum(energy) == pytest.approx(15_000.0, abs=1.0)
    assert energy[3] == pytest.approx(11_000.0, abs=1.0) and energy[1] == pytest.approx(4000.0)
    assert energy[4] == 0.0  # gone


def test_an_impossible_vehicle_target_is_a_best_effort_with_a_clear_status() -> None:
    need = VehicleNeed("cp", 50_000.0, START + timedelta(hours=2), 11_000.0)
    plan = solve(inputs([0.2, 0.2, 0.2], capacity_wh=0.0, vehicles=(need,)))
    assert plan.status.startswith("optimal, vehicle energy short: cp 28.0 kWh")
    assert sum(plan.vehicle_w["cp"]) == pytest.approx(22_000.0, abs=1.0)


def test_no_prices_no_plan() -> None:
    assert solve(inputs([])).status == "no prices"


def test_clear_sky_pv_follows_the_sun() -> None:
    june = datetime(2024, 6, 21, 11, 30, tzinfo=UTC)
    december = datetime(2024, 12, 21, 11, 30, tzinfo=UTC)
    night = datetime(2024, 6, 21, 22, 0, tzinfo=UTC)
    assert clear_sky_pv_w(night, LAT, LON, 10_000) == 0.0
    assert clear_sky_pv_w(june, LAT, LON, 10_000) > clear_sky_pv_w(december, LAT, LON, 10_000)
    assert 8000 < clear_sky_pv_w(june, LAT, LON, 10_000) < 11_000


def test_the_clear_sky_factor_is_learned_from_history() -> None:
    days = [START - timedelta(days=d) for d in range(1, 8)]
    history = [
        (t, 0.7 * clear_sky_pv_w(t, LAT, LON, 9000))
        for day in days
        for t in (day + timedelta(minutes=15 * k) for k in range(96))
    ]
    assert learn_clear_sky_factor(history, LAT, LON, 9000) == pytest.approx(0.7, abs=0.01)
    assert learn_clear_sky_factor([], LAT, LON, 9000) == 0.8  # too little history: default
    forecast = pv_forecast(START, 96, 900, LAT, LON, 9000, 0.7)
    assert max(forecast) < 0.7 * 9000 * 1.1 and forecast[0] == 0.0


def test_the_load_forecast_averages_the_same_weekday() -> None:
    history = []
    for week in range(1, 5):
        day = START - timedelta(weeks=week)  # Sundays
        history += [(day + timedelta(hours=h), 1000.0 + 100 * week) for h in range(24)]
        monday = day + timedelta(days=1)
        history += [(monday + timedelta(hours=h), 99.0) for h in range(24)]
    forecast = load_forecast(history, START, 24, 3600.0)
    assert forecast == pytest.approx([1250.0] * 24)  # Sundays only, mean of 1100..1400
    assert load_forecast([], START, 4, 900.0, fallback_w=321.0) == [321.0] * 4


def test_a_price_forecast_is_parsed_and_junk_gives_nothing() -> None:
    text = '[{"start": "2024-05-12T00:00:00Z", "end": "2024-05-12T00:15:00Z", "price": -0.01}]'
    ((start, end, price),) = parse_price_forecast(text)
    assert (start, end - start, price) == (START, timedelta(minutes=15), -0.01)
    assert parse_price_forecast("not json") == []
    assert parse_price_forecast('[{"start": 1}]') == []
    assert not math.isnan(price)


def test_an_electrolyser_runs_at_least_its_minimum_or_not_at_all() -> None:
    # hydrogen worth 0.15/kWh: worth running only where power costs less
    prices = [0.30, 0.05, -0.02, 0.30]
    plan = solve(
        inputs(
            prices,
            capacity_wh=0.0,
            electrolyser_min_w=2000.0,
            electrolyser_max_w=8000.0,
            hydrogen_value_per_kwh=0.15,
            grid_import_limit_w=20_000.0,
        )
    )
    assert plan.electrolyser_w == pytest.approx([0.0, 8000.0, 8000.0, 0.0], abs=1.0)
    assert all(w == 0.0 or w >= 2000.0 - 1e-6 for w in plan.electrolyser_w)


def test_a_chp_runs_where_power_is_dearer_than_its_fuel() -> None:
    prices = [0.10, 0.40, 0.40, 0.10]
    plan = solve(
        inputs(
            prices,
            capacity_wh=0.0,
            load_w=[3000.0] * 4,
            chp_min_w=2000.0,
            chp_rated_w=5000.0,
            chp_fuel_cost_per_kwh=0.20,
            feed_in_limit_w=1000.0,
        )
    )
    assert plan.chp_w[0] == 0.0 and plan.chp_w[3] == 0.0
    # covers the load; feeding in earns nothing here (export price 0), so no more than that
    assert plan.chp_w[1] == pytest.approx(3000.0, abs=1.0)
    assert plan.grid_w[1] == pytest.approx(0.0, abs=1.0)


def test_heat_pump_energy_is_shifted_to_the_cheap_slots() -> None:
    prices = [0.40, 0.10, 0.10, 0.40]
    plan = solve(
        inputs(prices, capacity_wh=0.0, heat_pump_max_w=3000.0, heat_pump_energy_wh=5000.0)
    )
    assert sum(plan.heat_pump_w) == pytest.approx(5000.0, abs=1.0)  # 1 h slots
    assert plan.heat_pump_w[0] == 0.0 and plan.heat_pump_w[3] == 0.0
