"""The cycle's re-plan for a car that takes other power goes to ``replan_solver`` where one is
set (the server solves it off the event loop) instead of blocking ``step`` for the solve."""

from __future__ import annotations

from datetime import timedelta

from ampacity.control import ControlCycle
from ampacity.control.dayahead import PlanInputs, VehicleNeed, solve
from controlkit import T0, config, snapshot


def test_a_replan_is_handed_to_the_solver_once_and_the_plan_in_force_stays() -> None:
    cfg = config(batteries=[], charge_points=[{"id": "cp", "max_current_a": 16}], planner={})
    inputs = PlanInputs(
        start=T0,
        slot_s=3600.0,
        import_price=[0.10, 0.30, 0.30, 0.30],
        export_price=[0.0] * 4,
        pv_w=[0.0] * 4,
        load_w=[0.0] * 4,
        capacity_wh=0.0,
        vehicles=(VehicleNeed("cp", 10_000.0, T0 + timedelta(hours=4), 11_040.0),),
    )
    plan = solve(inputs)
    asked: list[PlanInputs] = []
    cycle = ControlCycle(cfg)
    cycle.replan_solver = asked.append
    cycle.set_plan(plan)
    car = {"VehicleConnected": True, "PhasesInUse": 3, "SessionEnergy": 0.0, "ChargeMode": 5}
    for i in range(6):
        when = T0 + timedelta(seconds=10 * i)
        power = 0.0 if i == 0 else 3680.0  # 16 A offered, the car takes 5.3 A
        s = snapshot(when, grid={"ActivePower": power}, cp={**car, "ActivePower": power})
        cycle.step(s, when)
    assert cycle.replans == 1 and len(asked) == 1  # asked once, not every cycle
    assert asked[0].vehicles[0].max_w == 3680.0
    assert cycle.plan is not None
    assert cycle.plan.vehicle_w == plan.vehicle_w  # the plan in force until the solver's arrives
    cycle.set_plan(solve(asked[0]))
    assert max(cycle.plan.vehicle_w["cp"]) <= 3680.0 + 1.0
