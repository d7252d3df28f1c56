"""A car that comes every day (``planner.vehicles`` with an ``arrival``) is in the plan before it
plugs in: no power before its arrival, its energy by its departure, so the plan prepares for it
(store-demand-charge: the staff's cars at 08:00 and 09:00 local)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ampacity.control.dayahead import Plan, PlanInputs, solve
from ampacity.control.schedule import PlannerConfig, inputs_from
from controlkit import battery, config, snapshot

START = datetime(2024, 6, 19, 2, tzinfo=UTC)  # 04:00 in Berlin
HOURS = 8
CAR = {"VehicleConnected": False, "SessionEnergy": 0.0}


def prices() -> list[tuple[datetime, datetime, float]]:
    return [
        (START + timedelta(hours=h), START + timedelta(hours=h + 1), 0.22) for h in range(HOURS)
    ]


def planned(
    arrival: str | None, connected: bool = False, charge: float = 0.0
) -> tuple[PlanInputs, Plan]:
    """A store with a 1 kW load, a 20 kWh battery at 50 %, a demand charge of 1.00 per kW of
    the day's peak and a car wanting 10 kWh by 10:00 local (08:00 UTC) at its 11 kW point."""
    target: dict[str, object] = {"energy_kwh": 10, "departure": "10:00"}
    if arrival is not None:
        target["arrival"] = arrival
    cfg = config(
        time_zone="Europe/Berlin",
        charge_points=[{"id": "cp", "max_current_a": 16}],
        planner={"vehicles": {"cp": target}},
    )
    planner = (cfg.planner or PlannerConfig()).model_copy(
        update={"demand_charge_per_kw_month": 30.0}
    )
    s = snapshot(
        START,
        grid={"ActivePower": 1000.0},
        bat=battery(50.0, capacity=20_000.0, limit=10_000.0),
        cp=CAR | {"VehicleConnected": connected, "SessionEnergy": charge},
    )
    inputs = inputs_from(s, cfg, planner, prices(), [0.0] * HOURS, [1000.0] * HOURS, START, 3600.0)
    return inputs, solve(inputs)


def test_an_expected_car_is_planned_from_its_arrival() -> None:
    """Expected at 07:30 local (05:30 UTC): nothing before, half the arrival's slot, 10 kWh by
    08:00 UTC; its departure and arrival are taken in the site's time zone."""
    inputs, plan = planned("07:30")
    (car,) = inputs.vehicles
    assert car.arrival == datetime(2024, 6, 19, 5, 30, tzinfo=UTC)
    assert car.departure == datetime(2024, 6, 19, 8, tzinfo=UTC)
    assert car.energy_wh == 10_000.0
    power = plan.vehicle_w["cp"]
    assert power[:3] == pytest.approx([0.0, 0.0, 0.0], abs=1.0)  # 02:00-05:00 UTC
    assert power[3] <= 11_040.0 / 2 + 1.0  # 05:00-06:00: from 05:30
    assert sum(power) == pytest.approx(10_000.0, abs=1.0)
    assert plan.shortfall_wh["cp"] == pytest.approx(0.0, abs=1.0)


def test_the_plan_prepares_for_the_car_with_the_battery() -> None:
    """Knowing the car, the plan charges the battery from the grid before it comes, at the
    peak it will hold (the demand charge), and gives it to the car: the peak is about the
    night's mean (1 kW house for 8 h plus 10 kWh for the car, less what the battery gives), far
    below the car's 11 kW. Without an arrival the plan knows no car before it plugs in."""
    _, expected = planned("07:30")
    peak = expected.peak_import_w
    assert peak is not None and 1000.0 < peak < 2000.0
    assert expected.grid_w[:3] == pytest.approx([peak] * 3, abs=1.0)  # at the peak already
    assert all(w < -1.0 for w in expected.battery_w[:3])  # charging for the car
    assert max(expected.grid_w) <= peak + 1.0
    inputs, unexpected = planned(None)
    assert inputs.vehicles == ()
    assert "cp" not in unexpected.vehicle_w


def test_a_car_that_has_come_and_gone_is_not_expected_again_today() -> None:
    """At 04:00 local a car expected at 03:00 is not planned (the next one comes tomorrow,
    after the horizon); a connected car is planned from now, as before."""
    inputs, _ = planned("03:00")
    assert inputs.vehicles == ()
    inputs, plan = planned("03:00", connected=True, charge=4000.0)
    (car,) = inputs.vehicles
    assert car.arrival is None
    assert car.energy_wh == pytest.approx(6000.0)
    assert sum(plan.vehicle_w["cp"]) == pytest.approx(6000.0, abs=1.0)
