"""Issue 16, defects 2 and 5: a limit is a bound from every priority, and a decision's reason
describes the value written when a bound moved it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ampacity.control import ControlCycle, CycleResult, Demand, Priority, ResourceSpec, arbitrate
from ampacity.control.dayahead import Plan, PlanInputs
from controlkit import T0, battery, config, step

PV = "pv.ActivePowerLimit"
BAT = "bat.BatteryPowerSetpoint"


def plan(**series: list[float]) -> Plan:
    """A one-slot optimal plan starting at T0 (15 min), ``series`` per slot."""
    base: dict[str, list[float]] = {
        "grid_w": [0.0],
        "battery_w": [0.0],
        "soc_pct": [50.0],
        "curtail_w": [0.0],
        "import_price": [0.10],
    }
    base.update(series)
    return Plan(T0 - timedelta(minutes=5), 900.0, "optimal", **base)  # type: ignore[arg-type]


def pv_site() -> ControlCycle:
    """A 10 kW PV site with a full battery, self-consumption under the 70 % rule, and a plan."""
    return ControlCycle(
        config(
            pv=[{"id": "pv", "nominal_power_w": 10_000}],
            strategies={"sc": {"template": "self-consumption", "max_feed_in_pct": 70}},
            strategy="sc",
            planner={},
        )
    )


def pv_step(cycle: ControlCycle, *, grid_w: float, pv_w: float) -> CycleResult:
    """One cycle of ``pv_site`` with the grid (+ = import) and the inverter's output, W."""
    return step(
        cycle,
        grid={"ActivePower": grid_w},
        pv={"ActivePower": pv_w, "NominalPower": 10_000.0},
        bat=battery(soc=100.0),
    )


def test_the_plans_curtailment_lowers_the_pv_limit_the_feed_in_limit_sets() -> None:
    """Negative price: the plan curtails 6.6 kW of 6.8 kW and exports 200 W; the feed-in limit
    (70 %) alone would leave the inverter at its output. The lower bound wins, whatever its
    priority: on measured power, the house's 800 W plus the plan's 200 W of export."""
    cycle = pv_site()
    cycle.set_plan(plan(curtail_w=[6600.0], grid_w=[-200.0], import_price=[-0.05]))
    result = pv_step(cycle, grid_w=-6000.0, pv_w=6800.0)
    decision = result.decisions[PV]
    assert decision.value == 6800.0 - 6000.0 + 200.0
    assert decision.limited_by == "schedule"
    assert "curtail 6.6 kW" in decision.reason


def test_the_plans_curtailment_keeps_the_house_on_the_sun() -> None:
    """Once curtailed, the inverter's output is its limit: the next limit is what the site used
    (output 300 W + import 200 W), not output less the planned curtailment (0 W: the PV fell
    to nothing within a few cycles and the house ran on the grid)."""
    cycle = pv_site()
    cycle.set_plan(plan(curtail_w=[6600.0], grid_w=[0.0], import_price=[-0.05]))
    result = pv_step(cycle, grid_w=200.0, pv_w=300.0)
    decision = result.decisions[PV]
    assert decision.value == 500.0
    assert decision.limited_by == "schedule"


def test_where_importing_pays_the_plans_curtailment_keeps_its_import() -> None:
    """Spot below the levies: importing earns money, the plan imports 3 kW and curtails all
    PV. The limit brings the grid to the plan's import (here: the inverter to 0 W)."""
    cycle = pv_site()
    cycle.set_plan(plan(curtail_w=[6000.0], grid_w=[3000.0], import_price=[-0.03]))
    result = pv_step(cycle, grid_w=200.0, pv_w=300.0)
    assert result.decisions[PV].value == 0.0
    assert result.decisions[PV].limited_by == "schedule"


def test_a_plan_that_curtails_all_its_pv_forecast_gets_no_pv() -> None:
    """Importing pays and the plan curtails all 5 kW it forecast: the inverter goes to 0 W
    even where following the plan's grid power alone would leave it 300 W (900 W produced,
    100 W exported, 500 W planned import)."""
    cycle = pv_site()
    forecast = PlanInputs(
        start=T0 - timedelta(minutes=5),
        slot_s=900.0,
        import_price=[-0.03],
        export_price=[-0.13],
        pv_w=[5000.0],
        load_w=[500.0],
    )
    bare = plan(curtail_w=[5000.0], grid_w=[500.0], import_price=[-0.03])
    cycle.set_plan(replace(bare, inputs=forecast))
    result = pv_step(cycle, grid_w=-100.0, pv_w=900.0)
    assert result.decisions[PV].value == 0.0
    assert result.decisions[PV].limited_by == "schedule"


def test_curtailment_the_plan_makes_for_the_feed_in_limit_is_left_to_the_feed_in_control() -> None:
    """At a positive price the plan curtails only because its forecast exceeds the feed-in
    limit; the feed-in controller curtails on measured power (a car taking more than the
    forecast expected must get the sun)."""
    cycle = pv_site()
    cycle.set_plan(plan(curtail_w=[2000.0], grid_w=[-7000.0], import_price=[0.25]))
    result = pv_step(cycle, grid_w=-6000.0, pv_w=6800.0)
    decision = result.decisions[PV]
    assert decision.limited_by is None and decision.owner == "feed-in-limit"
    assert decision.value > 6800.0  # export 6 kW is under 7 kW: room to rise


def test_a_lower_bound_applies_below_a_higher_target_but_not_below_a_command() -> None:
    spec = ResourceSpec(BAT, -5000.0, 5000.0, 0.0)
    plan_bound = Demand(BAT, "schedule", Priority.SCHEDULE, "plan: hold", high=500.0)
    peak = Demand(BAT, "peak", Priority.GRID_CONNECTION, "import above", 3000.0, low=3000.0)
    assert arbitrate(spec, [peak, plan_bound]).value == 3000.0  # peak shaving is a lower bound
    cycle = ControlCycle(config())
    cycle.put(Demand(BAT, "marketer", Priority.MARKETER, "marketer: 4 kW", 4000.0))
    assert cycle.external[("marketer", BAT)].low == cycle.external[("marketer", BAT)].high == 4000
    assert arbitrate(spec, [*cycle.external.values(), plan_bound]).value == 4000.0


def test_reason_describes_the_value_written_not_the_proposal() -> None:
    """The demo's case: self-consumption proposes discharge, the plan charges 5 kW from the grid."""
    cfg = config(planner={})
    cycle = ControlCycle(cfg)
    cycle.set_plan(plan(battery_w=[-5000.0], grid_w=[5400.0]))
    result = step(
        cycle,
        grid={"ActivePower": 2000.0},
        pv={"ActivePower": 0.0, "NominalPower": 8000.0},
        bat=battery(soc=40.0),
    )
    decision = result.decisions[BAT]
    assert decision.value == -5000.0  # charging
    assert decision.limited_by == "schedule"
    assert decision.reason.startswith("plan: charge 5.0 kW from the grid")
    assert not decision.reason.startswith("discharging")


def test_a_bound_on_a_pure_limit_names_its_reason() -> None:
    spec = ResourceSpec(PV, 0.0, 8000.0, 8000.0)
    limit = Demand(PV, "feed-in-limit", Priority.FEED_IN_LIMIT, "export ≤ 4800 W", high=4800.0)
    decision = arbitrate(spec, [limit])
    assert (decision.value, decision.limited_by, decision.reason) == (
        4800.0,
        "feed-in-limit",
        "export ≤ 4800 W",
    )


def test_the_import_limit_sees_the_charging_the_plan_adds() -> None:
    """The plan charges a CostOptimised car at 11 kW where the EV controller planned nothing;
    the import limit (settling after the plan) must count that load and discharge the battery,
    or the site imports 11 kW above its limit."""
    cfg = config(
        charge_points=[{"id": "cp", "max_current_a": 16, "plug_in_check_s": 0}],
        strategies={"sc": {"template": "self-consumption", "grid_import_limit_w": 12_000}},
        strategy="sc",
        planner={},
    )
    cycle = ControlCycle(cfg)
    cycle.set_plan(plan(battery_w=[0.0], grid_w=[11_000.0], vehicle_w={"cp": [11_040.0]}))
    car = {"VehicleConnected": True, "PhasesInUse": 3, "ActivePower": 0.0, "ChargeMode": 5}
    result = step(
        cycle,
        grid={"ActivePower": 6000.0},
        pv={"ActivePower": 0.0, "NominalPower": 8000.0},
        bat=battery(soc=60.0),
        cp=car,
    )
    assert result.decisions["cp.ChargeCurrentLimit"].value == 16.0
    # 6 kW house + 11 kW car against 12 kW: the battery discharges at least 5 kW
    assert result.decisions[BAT].value >= 5000.0 - 1.0
