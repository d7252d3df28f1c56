"""Battery self-consumption, reserve, several batteries, feed-in limit and peak shaving: tables of
readings in, setpoints out. Signs: grid + import, battery + discharge, PV + production."""

from __future__ import annotations

import pytest
from ampacity.control import ControlCycle
from ampacity.control.controllers.battery import BatteryRoom, share_by_capacity
from controlkit import battery, config, step

BAT = "bat.BatteryPowerSetpoint"

SELF_CONSUMPTION = [
    # (grid W, battery W, SoC %, target grid W, expected setpoint W)
    (1000, 0, 50, 0, 1000),  # import covered by discharge
    (-2000, 0, 50, 0, -2000),  # surplus charged
    (-2000, -1000, 50, 0, -3000),  # already charging 1 kW: the residual counts
    (-8000, 0, 50, 0, -5000),  # charge limit
    (1000, 0, 10, 0, 0),  # at the reserve: no discharge
    (-2000, 0, 10, 0, -2000),  # ... but charging is fine
    (-2000, 0, 99.5, 0, 0),  # full
    (1000, 0, 50, 100, 900),  # target offset
]


@pytest.mark.parametrize(("grid", "power", "soc", "target", "expected"), SELF_CONSUMPTION)
def test_self_consumption_table(grid, power, soc, target, expected) -> None:
    cfg = config(strategies={"sc": {"grid_target_w": target}}, strategy="sc")
    result = step(ControlCycle(cfg), grid={"ActivePower": grid}, bat=battery(soc, power))
    assert result.decisions[BAT].value == pytest.approx(expected)


def test_the_reserve_is_visible_as_a_device_limit() -> None:
    result = step(ControlCycle(config()), grid={"ActivePower": 1000}, bat=battery(8))
    decision = result.decisions[BAT]
    assert decision.value == 0
    assert decision.owner == "battery-self-consumption"


SHARES = [
    # (total W, [(charge, discharge, capacity)], expected shares)
    (3000, [(5000, 5000, 10_000), (5000, 5000, 5_000)], [2000, 1000]),
    (4500, [(5000, 5000, 10_000), (1000, 1000, 5_000)], [3500, 1000]),  # one saturates
    (-3000, [(5000, 5000, 10_000), (0, 5000, 5_000)], [-3000, 0]),  # one full
    (0, [(5000, 5000, 10_000)], [0]),
]


@pytest.mark.parametrize(("total", "rooms", "expected"), SHARES)
def test_several_batteries_share_by_capacity(total, rooms, expected) -> None:
    rs = [BatteryRoom(f"b{i}", c, d, cap) for i, (c, d, cap) in enumerate(rooms)]
    shares = share_by_capacity(total, rs)
    assert [shares[f"b{i}"] for i in range(len(rooms))] == pytest.approx(expected)


def test_two_batteries_through_the_cycle() -> None:
    cfg = config(batteries=[{"id": "a"}, {"id": "b"}])
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": 3000},
        a=battery(50, capacity=10_000),
        b=battery(50, capacity=5_000),
    )
    assert result.decisions["a.BatteryPowerSetpoint"].value == pytest.approx(2000)
    assert result.decisions["b.BatteryPowerSetpoint"].value == pytest.approx(1000)


FEED_IN = [
    # (strategy, grid W, pv1 W, pv2 W, expected limits pv1/pv2); nominal 6 kW and 4 kW
    ({"max_feed_in_pct": 70}, -7500, 4800, 3200, (4440, 2960)),  # 7.5 kW out, 6.9 kW allowed
    ({"max_feed_in_pct": 70}, -1000, 1800, 1200, (5340, 3560)),  # headroom over production
    ({"max_feed_in_w": 0}, -500, 600, 400, (240, 160)),  # zero export: import ≥ 100 W margin
    ({"max_feed_in_w": 0}, 300, 600, 400, (720, 480)),
    ({"max_feed_in_w": 2000}, -3000, 3000, 2000, (2340, 1560)),
]


@pytest.mark.parametrize(("strategy", "grid", "pv1", "pv2", "expected"), FEED_IN)
def test_feed_in_limit_shared_by_nominal_power(strategy, grid, pv1, pv2, expected) -> None:
    cfg = config(
        batteries=[],
        pv=[{"id": "pv1"}, {"id": "pv2"}],
        strategies={"s": strategy},
        strategy="s",
    )
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": grid},
        pv1={"ActivePower": pv1, "NominalPower": 6000},
        pv2={"ActivePower": pv2, "NominalPower": 4000},
    )
    limits = tuple(result.decisions[f"{p}.ActivePowerLimit"].value for p in ("pv1", "pv2"))
    assert limits == pytest.approx(expected)
    assert result.decisions["pv1.ActivePowerLimit"].owner == "feed-in-limit"


def test_without_a_feed_in_limit_pv_runs_at_nominal_power() -> None:
    result = step(
        ControlCycle(config(batteries=[])),
        grid={"ActivePower": -5000},
        pv={"ActivePower": 6000, "NominalPower": 8000},
    )
    assert result.decisions["pv.ActivePowerLimit"].value == 8000
    assert result.decisions["pv.ActivePowerLimit"].owner == "neutral"


def test_the_battery_takes_surplus_before_pv_is_curtailed() -> None:
    cfg = config(strategies={"s": {"max_feed_in_w": 0}}, strategy="s")
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": -3000},
        bat=battery(50),
        pv={"ActivePower": 4000, "NominalPower": 8000},
    )
    assert result.decisions[BAT].value == pytest.approx(-3100)  # to +100 W import
    assert result.decisions["pv.ActivePowerLimit"].value == pytest.approx(4000)


PEAK = {"template": "peak-shaving", "grid_import_limit_w": 10_000, "hysteresis_w": 1000}
PEAK_SHAVING = [
    # (grid W, SoC %, expected battery W, expected priority name)
    (12_000, 40, 2000, "GRID_CONNECTION"),  # shave the peak, keep the rest
    (12_000, 60, 5000, "GRID_CONNECTION"),  # above the peak reserve: down to the target
    (9_500, 40, 0, "SELF_CONSUMPTION"),  # inside the hysteresis band: hold
    (5_000, 40, -4000, "SELF_CONSUMPTION"),  # below the peak reserve: recharge up to 9 kW
    (5_000, 60, 5000, "SELF_CONSUMPTION"),  # above it: self-consumption
    (-2_000, 60, -2000, "SELF_CONSUMPTION"),  # surplus
]


@pytest.mark.parametrize(("grid", "soc", "expected", "priority"), PEAK_SHAVING)
def test_peak_shaving_table(grid, soc, expected, priority) -> None:
    cfg = config(strategies={"p": PEAK}, strategy="p")
    result = step(ControlCycle(cfg), grid={"ActivePower": grid}, bat=battery(soc))
    decision = result.decisions[BAT]
    assert decision.value == pytest.approx(expected)
    assert decision.priority is not None and decision.priority.name == priority


def test_import_limit_adds_discharge_where_the_plan_exceeds_it() -> None:
    cfg = config(
        strategies={"s": {"grid_import_limit_w": 4000, "grid_target_w": 3000}}, strategy="s"
    )
    # self-consumption to a 3 kW target discharges 3 kW; the limit needs no more
    result = step(ControlCycle(cfg), grid={"ActivePower": 6000}, bat=battery(50))
    assert result.decisions[BAT].value == pytest.approx(3000)


RIPPLE = [
    # (ActiveLimit %, feed-in limit %, expected PV limit W of 8 kW)
    (100, None, 8000),  # no signal
    (60, None, 4800),
    (30, 70, 2400),  # the grid operator beats the site's feed-in limit
    (0, None, 0),
]


@pytest.mark.parametrize(("signal", "feed_in", "expected"), RIPPLE)
def test_ripple_control_limits_pv_with_grid_operator_priority(signal, feed_in, expected) -> None:
    cfg = config(
        batteries=[],
        pv=[{"id": "pv", "nominal_power_w": 8000}],
        ripple_control=["rcr"],
        strategies={"s": {"max_feed_in_pct": feed_in}},
        strategy="s",
    )
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": -7000},
        pv={"ActivePower": 7500},
        rcr={"ActiveLimit": signal},
    )
    decision = result.decisions["pv.ActivePowerLimit"]
    assert decision.value == pytest.approx(expected)
    if signal < 100:
        assert decision.limited_by == "grid-operator"
