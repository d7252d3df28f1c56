"""Issue 16, defect 3: the car's real power and phases, learned from its session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ampacity.control import ControlCycle
from ampacity.control.config import ChargePointConfig
from ampacity.control.dayahead import Plan, PlanInputs, VehicleNeed, solve
from ampacity.control.vehicles import VehicleObserver
from controlkit import T0, config, snapshot

CP = ChargePointConfig(id="cp", max_current_a=16, phases=3)


def observe(obs: VehicleObserver, power: float, phases: int, offered_a: float, n: int = 3):
    for _ in range(n):
        s = snapshot(cp={"VehicleConnected": True, "ActivePower": power, "PhasesInUse": phases})
        obs.observe(s, (CP,), {"cp.ChargeCurrentLimit": offered_a})


def test_a_car_below_its_offer_is_planned_at_what_it_takes() -> None:
    obs = VehicleObserver()
    assert obs.max_w(CP) == 16 * 230 * 3  # nothing known: the point's rating
    observe(obs, 3680.0, 1, 16.0, n=2)  # a 1-phase car: its phase is learned at once
    assert obs.max_w(CP) == 16 * 230 * 1
    observe(obs, 1840.0, 1, 16.0, n=2)
    assert obs.max_w(CP) == 16 * 230 * 1  # two cycles below the offer are not yet a limit
    observe(obs, 1840.0, 1, 16.0, n=1)
    assert obs.max_w(CP) == 1840.0
    observe(obs, 2300.0, 1, 10.0)  # it takes all of a lower offer: more than we thought
    assert obs.max_w(CP) == 2300.0
    obs.observe(snapshot(cp={"VehicleConnected": False}), (CP,), {})
    assert obs.max_w(CP) == 16 * 230 * 3 and not obs.learned("cp")  # a new car is unknown


def test_the_cycle_replans_a_car_that_takes_less_than_planned() -> None:
    """Plan: 10 kWh in 4 h at 11 kW (one hour is enough). The car takes 3.7 kW: the cycle
    re-plans the rest of the horizon at 3.7 kW, so the energy fits in the hours left."""
    cfg = config(
        batteries=[],
        charge_points=[{"id": "cp", "max_current_a": 16}],
        planner={},
    )
    prices = [0.10, 0.30, 0.30, 0.30]
    departure = T0 + timedelta(hours=4)
    inputs = PlanInputs(
        start=T0,
        slot_s=3600.0,
        import_price=prices,
        export_price=[0.0] * 4,
        pv_w=[0.0] * 4,
        load_w=[0.0] * 4,
        capacity_wh=0.0,
        vehicles=(VehicleNeed("cp", 10_000.0, departure, 11_040.0),),
    )
    plan: Plan = solve(inputs)
    assert plan.vehicle_w["cp"][0] > 9_900.0  # all of it in the cheap first hour
    cycle = ControlCycle(cfg)
    cycle.set_plan(plan)
    car = {"VehicleConnected": True, "PhasesInUse": 3, "SessionEnergy": 0.0, "ChargeMode": 5}
    for i in range(4):
        when = T0 + timedelta(seconds=10 * i)
        power = 0.0 if i == 0 else 3680.0  # 16 A offered, the car takes 5.3 A
        s = snapshot(when, grid={"ActivePower": power}, cp={**car, "ActivePower": power})
        cycle.step(s, when)
    assert cycle.replans == 1
    assert cycle.plan is not None and cycle.plan.inputs is not None
    assert cycle.plan.inputs.vehicles[0].max_w == 3680.0
    assert max(cycle.plan.vehicle_w["cp"]) <= 3680.0 + 1.0
    assert sum(cycle.plan.vehicle_w["cp"]) == pytest.approx(10_000.0, abs=1.0)
