"""The scenario format: time series, several devices of a kind, dated vehicles, tariffs,
demand charge, and located errors. Short days at a 60 s step (a second each)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ampacity.assets import Quality
from ampacity.control.strategy import price_at
from ampacity.scenarios.runner import (
    ScenarioError,
    TariffAsset,
    TariffModel,
    apply,
    load_scenario,
    make_physics,
    measured_scenarios,
    no_control_policy,
    plan_for,
    run_scenario,
    shipped_scenarios,
    snapshot_of,
    with_step,
)
from ampacity.sim.clock import FakeClock
from short_scenario import GHI_W_M2, LOAD_W, START, write_short_scenario


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    return write_short_scenario(tmp_path)


def test_every_scenario_file_loads() -> None:
    paths = [*shipped_scenarios(), *measured_scenarios()]
    assert len(measured_scenarios()) >= 4
    for path in paths:
        scenario = load_scenario(path)
        assert scenario.hours > 0
    store = load_scenario("store-demand-charge")  # a bare name finds the measured ones
    assert store.tariff.demand_charge_per_kw_month == 15


def test_series_inverters_batteries_and_a_dated_vehicle(scenario_file: Path) -> None:
    scenario = load_scenario(scenario_file)
    seen: list[tuple[datetime, bool, float]] = []

    def trace(when: datetime, physics) -> None:  # type: ignore[no-untyped-def]
        cp = physics.chargers["cp4"]
        seen.append((when, cp.connected, cp.power_w))

    k = run_scenario(scenario, no_control_policy, trace)
    # both inverters, from the irradiance: peak x GHI less 10 % DC losses and 3 % inverter
    per_hour = 6000 * GHI_W_M2 / 1000 * 0.9 * 0.97
    assert k.pv_wh == pytest.approx(5 * per_hour, rel=0.01)
    # the car: plugged in 07:00-09:00 UTC only, at most its 1.8 kW, its 3 kWh delivered
    connected = [when for when, on, _ in seen if on]
    assert min(connected) == START + timedelta(hours=3)
    assert max(connected) == START + timedelta(hours=5) - timedelta(minutes=1)
    assert max(power for _, _, power in seen) == pytest.approx(1800.0)
    assert k.ev_sessions == 1 and k.ev_delivered_wh == pytest.approx(3000.0)
    assert k.ev_missing_wh == 0.0
    # the measured load with the simulated flicker (±8 %) around it
    house = k.consumption_wh - k.ev_energy_wh
    assert house == pytest.approx(6 * LOAD_W, rel=0.02)
    # the dark first hour is imported: the demand charge bills its 15-minute peak
    share = 15 / 1000 * 6 / 24 / 30  # EUR per W: 15 EUR/kW-month, 6 h of June's 30 days
    assert k.peak_import_15min_w > 0.5 * LOAD_W
    assert k.demand_charge == pytest.approx(k.peak_import_15min_w * share)
    assert k.battery_stored_delta_wh > 1000  # the batteries took the surplus


def test_setpoints_reach_each_battery_and_inverter(scenario_file: Path) -> None:
    scenario = load_scenario(scenario_file)
    clock = FakeClock(START + timedelta(hours=2))
    physics = make_physics(scenario, clock)
    modes: dict[str, int] = {}
    snapshot = snapshot_of(physics, modes, clock.now(), Quality.GOOD)
    assert snapshot.number("battery2", "Capacity") == 5000
    assert snapshot.number("pv2", "NominalPower") == 2000
    apply(
        physics,
        modes,
        {"battery2.BatteryPowerSetpoint": -1000.0, "pv2.ActivePowerLimit": 500.0},
    )
    clock.advance(60)
    physics.advance_to(clock.now())
    assert physics.batteries["battery2"].power_w == pytest.approx(-1000.0)
    assert physics.inverters["pv2"].pv_w == pytest.approx(500.0)
    assert physics.pv_w == pytest.approx(4000 * GHI_W_M2 / 1000 * 0.9 * 0.97)


def test_the_control_reads_the_published_tariff(scenario_file: Path) -> None:
    scenario = load_scenario(scenario_file)
    asset = TariffAsset.of(scenario)
    assert asset is not None
    slots = json.loads(asset.forecast)
    assert len(slots) == 24 and slots[4]["price"] == pytest.approx(-0.040 + 0.2)
    clock = FakeClock(START + timedelta(hours=1, minutes=30))
    physics = make_physics(scenario, clock)
    now = clock.now()
    price = scenario.tariff.import_price_at(5400)
    snapshot = snapshot_of(physics, {}, now, Quality.GOOD, None, (asset, price))
    assert price_at(scenario.control, snapshot, now) == pytest.approx(0.16)
    plan = plan_for(scenario, snapshot, now)
    assert plan.import_price[:2] == pytest.approx([0.16, 0.16])
    assert plan.import_price[2] == pytest.approx(0.28)  # 06:00 UTC: 80 EUR/MWh + 20 ct


@pytest.mark.parametrize(
    ("rule", "negative", "positive"),
    [("fixed", 0.08, 0.08), ("spot", -0.04, 0.07), ("spot-nonnegative", 0.0, 0.07)],
)
def test_export_rules(rule: str, negative: float, positive: float) -> None:
    tariff = TariffModel(spot_eur_per_mwh=(-40.0, 70.0), export=rule, export_per_kwh=0.08)  # type: ignore[arg-type]
    assert tariff.export_price_at(0) == pytest.approx(negative)
    assert tariff.export_price_at(3600) == pytest.approx(positive)
    assert tariff.import_price_at(0) == pytest.approx(0.16)


def _errors(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.errors


def test_errors_name_the_file_line_and_field(scenario_file: Path) -> None:
    text = scenario_file.read_text(encoding="utf-8")
    scenario_file.write_text(text.replace("energy_wh: 3000", "energy_wh: -3"), encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "energy_wh: 3000" in t)
    [error] = _errors(scenario_file)
    assert error.startswith(f"short.yaml:{line}: site.vehicles.0.energy_wh: ")
    assert "greater than 0" in error


def test_a_missing_or_short_series_is_located(scenario_file: Path) -> None:
    text = scenario_file.read_text(encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "load_csv" in t)
    scenario_file.write_text(text.replace("data/load.csv", "data/nowhere.csv"), encoding="utf-8")
    [error] = _errors(scenario_file)
    assert error.startswith(f"short.yaml:{line}: site.load_csv: nowhere.csv:1: cannot read")
    scenario_file.write_text(text.replace("hours: 6", "hours: 8"), encoding="utf-8")
    [error] = _errors(scenario_file)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "prices_csv" in t)
    assert error.startswith(
        f"short.yaml:{line}: tariff.prices_csv: prices.csv covers 2024-06-19 04:00 to "
        "2024-06-19 10:00 UTC"
    )


def test_a_vehicle_needs_a_free_charge_point(scenario_file: Path) -> None:
    text = scenario_file.read_text(encoding="utf-8")
    scenario_file.write_text(text.replace("charge_point: cp4", "charge_point: cp9"), "utf-8")
    [error] = _errors(scenario_file)
    assert "no charge point 'cp9'" in error


@pytest.mark.parametrize("path", measured_scenarios(), ids=lambda p: p.stem)
def test_measured_days_balance(path: Path) -> None:
    """On every measured day the grid carries what consumption, every inverter and every
    battery leave over, without any control and under Ampacity's real-time control (60 s
    step; the day-ahead plan is left out for speed)."""
    scenario = with_step(load_scenario(path), 60.0)
    scenario = scenario.model_copy(
        update={"control": scenario.control.model_copy(update={"planner": None})}
    )
    for policy in (no_control_policy, None):
        k = run_scenario(scenario, policy)
        balance = k.import_wh - k.export_wh - (k.consumption_wh - k.pv_wh - k.battery_net_wh)
        assert abs(balance) <= 0.005 * (k.consumption_wh + k.pv_wh)
        assert k.pv_wh > 1000 and k.consumption_wh > 5000
        assert k.ev_sessions >= 1
