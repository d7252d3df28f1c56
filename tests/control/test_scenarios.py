"""The real control against the site physics for whole days, with bounds from physics.

Runs at a 10 s step (control cycle and physics) so the suite stays fast; the benchmark runs the
same days at 1-2 s.
"""

from __future__ import annotations

from functools import cache

import pytest
from ampacity.scenarios.runner import (
    EventModel,
    Kpis,
    LimitsModel,
    Scenario,
    load_scenario,
    no_control_policy,
    run_scenario,
    shipped_scenarios,
    with_step,
)

STEP_S = 10.0


@cache
def kpis(name: str, baseline: bool = False) -> Kpis:
    scenario = with_step(load_scenario(name), STEP_S)
    return run_scenario(scenario, no_control_policy if baseline else None)


NAMES = [p.stem for p in shipped_scenarios()]


def test_the_four_scenarios_ship() -> None:
    assert set(NAMES) >= {
        "sunny-summer",
        "cloudy-zero-export",
        "winter-cost",
        "winter-heat-pump",
        "industrial-peak",
    }


@pytest.mark.parametrize("name", NAMES)
def test_limits_hold_and_energy_balances(name: str) -> None:
    k = kpis(name)
    assert k.feed_in_violations == 0
    assert k.import_violations == 0
    # the grid carries what consumption, PV and battery leave over (Wh, 0.5 % of the flows)
    balance = k.import_wh - k.export_wh - (k.consumption_wh - k.pv_wh - k.battery_net_wh)
    assert abs(balance) <= 0.005 * (k.consumption_wh + k.pv_wh)
    assert 0 <= k.self_consumption_pct <= 100 and 0 <= k.autarky_pct <= 100


@pytest.mark.parametrize("name", ["sunny-summer", "winter-cost", "industrial-peak"])
def test_ev_targets_met(name: str) -> None:
    k = kpis(name)
    assert k.ev_sessions > 0 and k.ev_target_met
    assert k.ev_delivered_wh == pytest.approx(k.ev_requested_wh, abs=k.ev_sessions)


def test_sunny_day_without_control_breaks_the_feed_in_limit_and_ampacity_does_not() -> None:
    assert kpis("sunny-summer", baseline=True).feed_in_violation_wh > 1000
    assert kpis("sunny-summer").feed_in_violations == 0


def test_zero_export_uses_pv_on_site() -> None:
    k = kpis("cloudy-zero-export")
    assert (
        k.export_wh <= 0.001 * k.pv_wh
    )  # what escapes between a consumer's stop and the next cycle
    # the surplus car cannot get more than the PV left over after the house
    assert k.ev_delivered_wh <= k.pv_wh
    assert k.ev_sessions_met >= 1  # the SurplusPlus car (topped up from the grid)


def test_peak_shaving_keeps_import_under_the_limit_where_no_control_does_not() -> None:
    limit = load_scenario("industrial-peak").limits.import_w
    assert limit is not None
    assert kpis("industrial-peak").peak_import_w <= limit
    assert kpis("industrial-peak", baseline=True).peak_import_w > limit


def test_cost_optimised_charging_costs_less_than_charging_at_once() -> None:
    assert kpis("winter-cost").cost < kpis("winter-cost", baseline=True).cost


def test_the_heat_pump_takes_surplus_the_grid_would_have_taken() -> None:
    ours, none = kpis("winter-heat-pump"), kpis("winter-heat-pump", baseline=True)
    assert ours.import_wh < none.import_wh - 2000
    assert ours.export_wh < none.export_wh
    assert ours.heat_store_end_wh >= 0


def test_a_bad_grid_meter_hour_stays_within_the_limits() -> None:
    scenario = load_scenario("sunny-summer")
    bad = EventModel(at_h=11.0, until_h=12.0, grid_meter="bad")
    k = run_scenario(with_step(scenario.model_copy(update={"events": (bad,)}), STEP_S))
    assert k.failsafe_steps == 360
    assert k.feed_in_violations == 0
    assert k.ev_target_met


UNSHIPPED = [
    # (cloudiness, weather seed, feed-in limit % of kWp, battery kWh)
    (0.2, 11, 50, 5),
    (0.9, 3, 0, 15),
    (0.5, 21, 70, 0.5),
]


@pytest.mark.parametrize(("cloudiness", "seed", "pct", "battery_kwh"), UNSHIPPED)
def test_days_not_shipped(cloudiness: float, seed: int, pct: float, battery_kwh: float) -> None:
    base = load_scenario("sunny-summer")
    limit_w = 8000 * pct / 100
    site = base.site.model_copy(
        update={
            "cloudiness": cloudiness,
            "weather_seed": seed,
            "battery": base.site.battery.model_copy(update={"capacity_wh": battery_kwh * 1000}),
        }
    )
    strategy = base.control.strategies["home"].model_copy(update={"max_feed_in_pct": pct})
    control = base.control.model_copy(update={"strategies": {"home": strategy}})
    scenario: Scenario = base.model_copy(
        update={"site": site, "control": control, "limits": LimitsModel(feed_in_w=limit_w)}
    )
    k = run_scenario(with_step(scenario, STEP_S))
    assert k.feed_in_violations == 0
    assert k.ev_sessions_met >= 1  # the Fast car overnight


@pytest.mark.parametrize("name", ["negative-prices-may", "quarter-hour-spring"])
def test_tariff_scenarios_plan_the_day_and_meet_the_vehicle_targets(name: str) -> None:
    scenario = with_step(load_scenario(name), STEP_S)
    assert scenario.control.planner is not None  # these days are planned
    k = kpis(name)
    assert k.ev_sessions > 0 and k.ev_target_met
    assert k.feed_in_violations == 0 and k.import_violations == 0


def test_the_plan_makes_a_cost_optimised_day_cheaper() -> None:
    """winter-cost with and without the day-ahead plan (prices are known the day before)."""
    from ampacity.control.schedule import PlannerConfig

    scenario = with_step(load_scenario("winter-cost"), STEP_S)
    planned = scenario.model_copy(
        update={"control": scenario.control.model_copy(update={"planner": PlannerConfig()})}
    )
    without, with_plan = run_scenario(scenario), run_scenario(planned)
    stored = (with_plan.battery_soc_end - without.battery_soc_end) / 100 * 10.0  # kWh
    assert with_plan.ev_target_met and without.ev_target_met
    # cheaper by at least 0.5 (EUR) with the energy left in the battery valued at 0.35/kWh
    assert with_plan.cost - 0.35 * stored < without.cost - 0.5
