"""Issue 16, plan step 4: where the plan discharges the battery while it charges a car, the battery
covers the car's import up to the plan's bound (self-consumption alone evens out the house); a
site option forbids it (like evcc's battery lock), in the plan too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ampacity.control import ControlCycle
from ampacity.control.dayahead import Plan, PlanInputs, VehicleNeed, solve
from controlkit import T0, battery, config, step

BAT = "bat.BatteryPowerSetpoint"
CAR = {"VehicleConnected": True, "PhasesInUse": 3, "ActivePower": 0.0, "ChargeMode": 5}


def cycle_with(battery_w: float, car_w: float, **planner: object) -> ControlCycle:
    """A home (self-consumption) with a CostOptimised car; a one-slot plan over T0."""
    cfg = config(
        charge_points=[{"id": "cp", "max_current_a": 16, "plug_in_check_s": 0}],
        strategies={"home": {"template": "self-consumption"}},
        strategy="home",
        planner=planner,
    )
    cycle = ControlCycle(cfg)
    cycle.set_plan(
        Plan(
            T0 - timedelta(minutes=5),
            900.0,
            "optimal",
            grid_w=[car_w + 500.0 - battery_w],
            battery_w=[battery_w],
            soc_pct=[40.0],
            curtail_w=[0.0],
            import_price=[0.32],
            vehicle_w={"cp": [car_w]},
        )
    )
    return cycle


def run(cycle: ControlCycle):
    return step(
        cycle,
        grid={"ActivePower": 500.0},  # the house, the car not yet charging
        pv={"ActivePower": 0.0, "NominalPower": 8000.0},
        bat=battery(soc=60.0),
        cp=CAR,
    )


def test_the_battery_feeds_the_car_where_the_plan_says_so() -> None:
    """The plan discharges 3 kW while the car takes 11 kW: the battery gives its planned 3 kW
    plus the 0.75 kW margin (before: 0.5 kW, the house alone, and the car from the grid)."""
    result = run(cycle_with(3000.0, 11_040.0))
    decision = result.decisions[BAT]
    assert decision.value == pytest.approx(3750.0, abs=1.0)
    assert "into the charging vehicle" in decision.reason
    assert result.decisions["cp.ChargeCurrentLimit"].value == 16.0


def test_a_site_can_keep_its_battery_from_the_car() -> None:
    result = run(cycle_with(3000.0, 11_040.0, battery_to_vehicles=False))
    assert result.decisions[BAT].value == pytest.approx(500.0, abs=1.0)


def test_no_discharge_in_the_plan_no_battery_for_the_car() -> None:
    """The plan holds the battery in this slot: neither the car nor the house gets it (the plan
    keeps it for dearer hours; see test_plan_hold)."""
    result = run(cycle_with(0.0, 11_040.0))
    assert result.decisions[BAT].value == pytest.approx(0.0, abs=1.0)


def test_the_locked_plan_discharges_for_the_house_only() -> None:
    """Two hours, 0.20 then 0.40/kWh, 500 W house, a car wanting 8 kWh by the end at up to
    4 kW (so 4 kW in both hours), a battery with 5 kWh above its reserve worth 0.10/kWh at the
    end: in the dear hour the battery gives 4.5 kW, the house and the car, unless the site
    forbids it (then 500 W, the house, and the car's 4 kW from the grid)."""
    start = datetime(2024, 3, 20, tzinfo=UTC)
    need = VehicleNeed("cp", 8000.0, start + timedelta(hours=2), 4000.0)

    def plan(allowed: bool) -> Plan:
        return solve(
            PlanInputs(
                start=start,
                slot_s=3600.0,
                import_price=[0.20, 0.40],
                export_price=[0.0, 0.0],
                pv_w=[0.0, 0.0],
                load_w=[500.0, 500.0],
                capacity_wh=10_000.0,
                soc_pct=60.0,
                reserve_pct=10.0,
                max_charge_w=5000.0,
                max_discharge_w=5000.0,
                efficiency=1.0,
                vehicles=(need,),
                stored_value_per_kwh=0.10,
                battery_to_vehicles=allowed,
            )
        )

    free, locked = plan(True), plan(False)
    assert free.vehicle_w["cp"] == pytest.approx([4000.0, 4000.0], abs=1.0)
    assert free.battery_w[1] == pytest.approx(4500.0, abs=1.0)
    assert locked.battery_w[1] == pytest.approx(500.0, abs=1.0)
    assert locked.grid_w[1] == pytest.approx(4000.0, abs=1.0)
