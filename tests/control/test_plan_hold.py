"""Where the day-ahead plan holds or charges the battery, the real-time control does not
discharge it beyond the plan: the house's load above the forecast comes from the grid (the plan
keeps the energy for dearer hours, and at a flat price a round trip through the battery only
loses). Where the plan discharges, or a demand charge makes every kW of import count, the
margin still evens out the forecast's errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ampacity.control import ControlCycle
from ampacity.control.dayahead import Plan
from controlkit import T0, battery, config, step

BAT = "bat.BatteryPowerSetpoint"


def one_slot(battery_w: float, peak_import_w: float | None = None) -> Plan:
    """A 15-minute plan over T0 at a flat 0.32/kWh with the battery at ``battery_w``."""
    return Plan(
        T0 - timedelta(minutes=5),
        900.0,
        "optimal",
        grid_w=[500.0 - battery_w],
        battery_w=[battery_w],
        soc_pct=[60.0],
        curtail_w=[0.0],
        import_price=[0.32],
        peak_import_w=peak_import_w,
    )


def house(plan: Plan, grid_w: float = 800.0) -> float:
    """The battery's setpoint for a house drawing ``grid_w`` with nothing else running, W."""
    cycle = ControlCycle(config(planner={}))  # margin 15 % of 5 kW: 750 W
    cycle.set_plan(plan)
    result = step(cycle, grid={"ActivePower": grid_w}, pv={"ActivePower": 0.0}, bat=battery(60.0))
    return result.decisions[BAT].value


def test_a_held_battery_leaves_the_house_to_the_grid() -> None:
    """The plan holds: the 800 W house is imported (before: 750 W from the battery, the
    margin, lost again as the round trip's losses at a flat price)."""
    assert house(one_slot(0.0)) == pytest.approx(0.0, abs=1.0)


def test_a_charging_plan_never_discharges() -> None:
    assert house(one_slot(-2000.0)) <= 0.0


def test_where_the_plan_discharges_the_margin_stays() -> None:
    """The plan discharges 300 W; the house takes 800 W: the battery gives it, within the
    plan's 300 W plus the 750 W margin."""
    assert house(one_slot(300.0)) == pytest.approx(800.0, abs=1.0)


def test_under_a_demand_charge_a_held_battery_still_evens_out_the_house() -> None:
    """A plan against a demand charge (peak 5 kW) holds: the margin still takes the house's
    800 W, so the measured import stays low."""
    assert house(one_slot(0.0, peak_import_w=5000.0)) == pytest.approx(750.0, abs=1.0)
