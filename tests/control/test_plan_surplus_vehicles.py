"""Issue 16, plan step 3: a plugged-in vehicle without a target (Surplus modes) is in the plan as a
flexible load that takes PV only, up to the room it has by its departure, so the plan can leave
it the morning PV; the real-time control then keeps the battery's surplus charging within the
plan's bound (the rest goes to the car) and the car within the plan's power plus its margin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ampacity.control import ControlCycle
from ampacity.control.dayahead import Plan, PlanInputs, VehicleNeed, solve
from ampacity.control.schedule import PlannerConfig, inputs_from
from controlkit import T0, battery, config, snapshot, step

START = datetime(2024, 4, 14, 6, tzinfo=UTC)
CAR = "cp"


def surplus_inputs(pv_w: list[float], prices: list[float], room_wh: float) -> PlanInputs:
    """A zero-export site, 500 W of load, a 10 kWh battery at its 10 % reserve (95 % each way)
    and a Surplus car with ``room_wh`` of room that may take 3 kW; stored energy worth 0.30/kWh
    (in the battery less its losses: the car is the better place for PV it can take)."""
    n = len(pv_w)
    car = VehicleNeed(CAR, room_wh, START + timedelta(hours=n), 3000.0, surplus=True)
    return PlanInputs(
        start=START,
        slot_s=3600.0,
        import_price=prices,
        export_price=[0.0] * n,
        pv_w=pv_w,
        load_w=[500.0] * n,
        capacity_wh=10_000.0,
        soc_pct=10.0,
        reserve_pct=10.0,
        max_charge_w=4000.0,
        max_discharge_w=4000.0,
        efficiency=0.95,
        feed_in_limit_w=0.0,
        vehicles=(car,),
        stored_value_per_kwh=0.30,
    )


def test_a_surplus_vehicle_never_takes_grid_power() -> None:
    """No PV and a cheap 0.05/kWh: a car with a target would charge now; a Surplus car does not
    (its energy is worth 0.30, but it may take PV only)."""
    plan = solve(surplus_inputs([0.0, 0.0], [0.05, 0.05], 10_000.0))
    assert plan.status == "optimal"
    assert plan.vehicle_w[CAR] == pytest.approx([0.0, 0.0], abs=1.0)
    assert plan.shortfall_wh[CAR] == pytest.approx(0.0, abs=1.0)


def test_a_surplus_vehicle_takes_the_pv_surplus_before_the_battery() -> None:
    """6 kW of PV for three hours at zero export, 500 W load: the car takes its 3 kW each hour,
    the battery the other 2.5 kW, nothing is curtailed. With 2 kW of PV the car gets only the
    1.5 kW surplus: the house is never left to the grid for the car."""
    plan = solve(surplus_inputs([6000.0] * 3, [0.30] * 3, 20_000.0))
    assert plan.vehicle_w[CAR] == pytest.approx([3000.0] * 3, abs=1.0)
    assert plan.battery_w == pytest.approx([-2500.0] * 3, abs=1.0)
    assert sum(plan.curtail_w) == pytest.approx(0.0, abs=2.0)
    plan = solve(surplus_inputs([2000.0], [0.30], 20_000.0))
    assert plan.vehicle_w[CAR] == pytest.approx([1500.0], abs=1.0)
    assert plan.grid_w == pytest.approx([0.0], abs=1.0)


def test_the_room_limits_what_the_car_takes() -> None:
    """Room for 3 kWh only: the car takes 3 kWh, the battery fills (9 kWh stored: 9.47 kWh of
    PV) and the rest of the 16.5 kWh surplus, 4.03 kWh, is curtailed (zero export)."""
    plan = solve(surplus_inputs([6000.0] * 3, [0.30] * 3, 3000.0))
    assert sum(plan.vehicle_w[CAR]) == pytest.approx(3000.0, abs=2.0)
    assert plan.soc_pct[-1] == pytest.approx(100.0, abs=0.1)
    assert sum(plan.curtail_w) == pytest.approx(16_500.0 - 3000.0 - 9000.0 / 0.95, abs=2.0)


def site(mode: int = 3):
    cfg = config(
        charge_points=[
            {"id": CAR, "max_current_a": 16, "phases": 1, "plug_in_check_s": 0, "start_delay_s": 0}
        ],
        strategies={"home": {"template": "self-consumption", "order": ["battery", "charge_point"]}},
        strategy="home",
        planner={},
    )
    car = {"VehicleConnected": True, "PhasesInUse": 1, "ActivePower": 0.0, "ChargeMode": mode}
    return cfg, car


def test_inputs_include_a_connected_surplus_car_with_its_room() -> None:
    """A Surplus car reported to want 12 kWh by 16:00 that has 2 kWh: 10 kWh of PV-only room;
    the same car in Fast mode (no session energy yet) is planned as a fixed load."""
    cfg, car = site()
    planner = cfg.planner or PlannerConfig()
    prices = [(START + timedelta(hours=h), START + timedelta(hours=h + 1), 0.3) for h in range(4)]
    leaves = START + timedelta(hours=10)
    s = snapshot(
        START, grid={"ActivePower": 0.0}, bat=battery(50.0), cp=car | {"SessionEnergy": 2000.0}
    )
    got = inputs_from(
        s, cfg, planner, prices, [0.0] * 4, [0.0] * 4, START, 3600.0,
        surplus_room={CAR: (12_000.0, leaves)},
    )  # fmt: skip
    (need,) = got.vehicles
    assert need.surplus and need.energy_wh == 10_000.0 and need.departure == leaves
    fast = snapshot(START, grid={"ActivePower": 0.0}, bat=battery(50.0), cp=car | {"ChargeMode": 1})
    got = inputs_from(
        fast, cfg, planner, prices, [0.0] * 4, [0.0] * 4, START, 3600.0,
        surplus_room={CAR: (12_000.0, leaves)},
    )  # fmt: skip
    (need,) = got.vehicles  # a Fast car: a fixed load at full power, no surplus car
    assert need.at_once and not need.surplus and need.energy_wh == 12_000.0


def plan_for_now(battery_w: float, car_w: float) -> Plan:
    """A one-slot plan over T0: the battery and a Surplus car at the given powers."""
    need = VehicleNeed(CAR, 10_000.0, T0 + timedelta(hours=6), 3680.0, surplus=True)
    inputs = PlanInputs(
        start=T0 - timedelta(minutes=5),
        slot_s=900.0,
        import_price=[0.30],
        export_price=[0.0],
        pv_w=[5000.0],
        load_w=[500.0],
        vehicles=(need,),
    )
    return Plan(
        T0 - timedelta(minutes=5),
        900.0,
        "optimal",
        grid_w=[0.0],
        battery_w=[battery_w],
        soc_pct=[50.0],
        curtail_w=[0.0],
        import_price=[0.30],
        vehicle_w={CAR: [car_w]},
        inputs=inputs,
    )


def test_the_battery_leaves_the_plans_pv_to_the_surplus_car() -> None:
    """4.5 kW of surplus; the plan charges the battery 1 kW and gives the car 3.5 kW: the battery
    charges at most 1 kW + 0.75 kW margin and the car, after it in the order, gets the rest
    (without the plan the battery, first in the order, took 4.5 kW and the car nothing)."""
    cfg, car = site()
    cycle = ControlCycle(cfg)
    cycle.set_plan(plan_for_now(-1000.0, 3500.0))
    result = step(cycle, grid={"ActivePower": -4500.0}, bat=battery(50.0), cp=car)
    assert result.decisions["bat.BatteryPowerSetpoint"].value == pytest.approx(-1750.0, abs=1.0)
    current = result.decisions[f"{CAR}.ChargeCurrentLimit"].value
    assert current * 230.0 == pytest.approx(4500.0 - 1750.0, abs=5.0)
    unplanned = ControlCycle(cfg.model_copy(update={"planner": None}))
    result = step(unplanned, grid={"ActivePower": -4500.0}, bat=battery(50.0), cp=car)
    assert result.decisions["bat.BatteryPowerSetpoint"].value == pytest.approx(-4500.0, abs=1.0)


def test_the_surplus_car_keeps_within_the_plans_power() -> None:
    """The plan gives the car 1.5 kW now (it keeps the car's room for the midday PV) and lets
    the battery charge 1 kW: of 4.5 kW surplus the battery takes 1.75 kW, the car 1.5 kW + 15 %
    of its 3.68 kW, not the 2.75 kW left (the rest is the plan's to export or curtail)."""
    cfg, car = site()
    cycle = ControlCycle(cfg)
    cycle.set_plan(plan_for_now(-1000.0, 1500.0))
    result = step(cycle, grid={"ActivePower": -4500.0}, bat=battery(50.0), cp=car)
    current = result.decisions[f"{CAR}.ChargeCurrentLimit"].value
    assert current * 230.0 == pytest.approx(1500.0 + 0.15 * 3680.0, abs=5.0)


def test_a_fast_car_is_a_fixed_load_the_battery_may_cover() -> None:
    """A Fast car wanting 15 kWh at 11 kW, hourly slots: 11 kW, then 4 kW, then nothing, as the
    real-time control charges it; at 0.40/kWh in the first two hours and 0.20 after, the
    battery (5 kWh above its reserve, worth 0.25/kWh at the end) covers the dear hours."""
    car = VehicleNeed(CAR, 15_000.0, START + timedelta(hours=10), 11_000.0, at_once=True)
    plan = solve(
        PlanInputs(
            start=START,
            slot_s=3600.0,
            import_price=[0.40, 0.40, 0.20, 0.20],
            export_price=[0.0] * 4,
            pv_w=[0.0] * 4,
            load_w=[0.0] * 4,
            capacity_wh=10_000.0,
            soc_pct=60.0,
            reserve_pct=10.0,
            max_charge_w=5000.0,
            max_discharge_w=5000.0,
            efficiency=1.0,
            vehicles=(car,),
            stored_value_per_kwh=0.25,
        )
    )
    assert plan.vehicle_w[CAR] == pytest.approx([11_000.0, 4000.0, 0.0, 0.0], abs=1.0)
    assert sum(plan.battery_w[:2]) == pytest.approx(5000.0, abs=1.0)
