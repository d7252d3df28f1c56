"""Issue 16: each control defect as a short simulated day (scenario files next to this test)."""

from __future__ import annotations

from pathlib import Path

from ampacity.scenarios.runner import load_scenario, run_scenario

HERE = Path(__file__).resolve().parent / "scenarios"


def test_no_phantom_pv_at_night_on_a_zero_export_site() -> None:
    """A curtailed inverter that produces nothing hides nothing: the battery does not charge
    from the grid all night (it covers the house down to its reserve instead)."""
    k = run_scenario(load_scenario(HERE / "night-zero-export.yaml"))
    assert k.pv_wh < 50.0  # dusk only
    assert k.battery_net_wh > 0  # discharged into the house, never charged from the grid
    assert k.import_wh < k.consumption_wh - 1000  # the battery covered part of the night


def test_a_car_slower_than_its_charge_point_is_planned_at_its_own_power() -> None:
    """The plan learns the car's 1.8 kW from the session and re-plans: the 12 kWh arrive by
    departure (at the point's 3.7 kW the plan books too few hours)."""
    k = run_scenario(load_scenario(HERE / "slow-car.yaml"))
    assert k.ev_sessions == 1
    # within one 10 s step at 1.8 kW (5 Wh): the plan books exactly the hours needed
    assert k.ev_delivered_wh >= 12_000.0 - 6.0
