"""The cycle: controller errors, fail-safe states and recovery, external demands, overruns,
strategies and their decision tree, config validation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ampacity.assets import Quality
from ampacity.control import ControlCycle, Demand, Priority, Snapshot
from ampacity.control.controllers.battery import BatteryController
from ampacity.control.snapshot import Sample
from controlkit import T0, battery, config, step
from pydantic import ValidationError

BAT = "bat.BatteryPowerSetpoint"
SITE = {
    "batteries": [{"id": "bat"}],
    "pv": [{"id": "pv", "nominal_power_w": 8000}],
    "charge_points": [{"id": "cp", "plug_in_check_s": 0}],
    "strategies": {"home": {"max_feed_in_pct": 50}},
    "strategy": "home",
}
READINGS = {
    "bat": battery(50),
    "pv": {"ActivePower": 3000},
    "cp": {"ActivePower": 0, "VehicleConnected": True, "ChargeMode": 1},
}


def test_decisions_carry_owner_priority_and_reason() -> None:
    result = step(ControlCycle(config(**SITE)), grid={"ActivePower": 800}, **READINGS)
    bat = result.decisions[BAT]
    assert (bat.owner, bat.priority) == ("battery-self-consumption", Priority.SELF_CONSUMPTION)
    assert "grid to 0 W" in bat.reason
    assert result.decisions["cp.ChargeCurrentLimit"].reason == "mode Fast"
    assert result.strategy == "home" and result.failsafe is None


@pytest.mark.parametrize(
    "quality", [Quality.BAD_COMMUNICATION_ERROR, Quality.UNCERTAIN_LAST_USABLE]
)
def test_a_bad_grid_meter_puts_every_asset_into_its_safe_state(quality: Quality) -> None:
    c = ControlCycle(config(**SITE))
    values = {f"{a}.{p}": v for a, pts in READINGS.items() for p, v in pts.items()}
    snap = Snapshot.of(T0, values)
    samples = dict(snap.samples) | {"grid.ActivePower": Sample(-6000.0, quality, T0)}
    result = c.step(Snapshot(T0, samples), T0)
    assert result.failsafe is not None
    writes = result.writes()
    assert writes[BAT] == 0.0  # idle
    assert writes["cp.ChargeCurrentLimit"] == 6.0  # minimum current
    assert writes["pv.ActivePowerLimit"] == 4000.0  # the feed-in limit
    assert {d.owner for d in result.decisions.values()} == {"failsafe"}
    # recovery is automatic
    again = step(c, 1, grid={"ActivePower": 800}, **READINGS)
    assert again.failsafe is None
    assert again.decisions[BAT].owner == "battery-self-consumption"


def test_a_stale_grid_meter_is_not_held() -> None:
    c = ControlCycle(config(**SITE))
    values = {f"{a}.{p}": v for a, pts in READINGS.items() for p, v in pts.items()}
    old = T0 - timedelta(seconds=30)
    samples = dict(Snapshot.of(T0, values).samples)
    samples["grid.ActivePower"] = Sample(800.0, Quality.GOOD, old)
    assert c.step(Snapshot(T0, samples), T0).writes()[BAT] == 0.0


def test_a_controller_that_raises_is_reported_and_skipped(monkeypatch) -> None:
    def broken(self, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(BatteryController, "propose", broken)
    c = ControlCycle(config(**SITE))
    result = step(c, grid={"ActivePower": 800}, **READINGS)
    assert [e.controller for e in result.errors] == ["battery-self-consumption"]
    assert "boom" in result.errors[0].error
    assert result.decisions[BAT].owner == "failsafe"
    assert result.decisions["cp.ChargeCurrentLimit"].value == 16.0  # the rest goes on
    assert c.stats.errors == 1


def test_external_demands_win_and_expire() -> None:
    c = ControlCycle(config(**SITE))
    c.put(
        Demand(
            "pv.ActivePowerLimit",
            "grid-operator",
            Priority.GRID_OPERATOR,
            "ripple: 30 %",
            high=2400,
            expires=T0 + timedelta(seconds=10),
        )
    )
    now = step(c, 0, grid={"ActivePower": -1000}, **READINGS).decisions["pv.ActivePowerLimit"]
    assert now.value == 2400 and now.limited_by == "grid-operator"
    later = step(c, 10, grid={"ActivePower": -1000}, **READINGS).decisions["pv.ActivePowerLimit"]
    assert later.value > 2400
    c.put(Demand(BAT, "marketer", Priority.MARKETER, "sell", target=-1000))
    assert step(c, 11, grid={"ActivePower": 0}, **READINGS).decisions[BAT].owner == "marketer"
    c.withdraw("marketer")
    assert step(c, 12, grid={"ActivePower": 0}, **READINGS).decisions[BAT].owner != "marketer"


def test_overruns_are_counted() -> None:
    ticks = iter([0.0, 0.5, 1.0, 2.5])
    c = ControlCycle(config(**SITE), timer=lambda: next(ticks))
    assert not step(c, 0, grid={"ActivePower": 0}, **READINGS).overrun
    assert step(c, 1, grid={"ActivePower": 0}, **READINGS).overrun
    assert (c.stats.cycles, c.stats.overruns) == (2, 1)


TREE = {
    "strategies": {
        "day": {"template": "self-consumption"},
        "evening": {"template": "peak-shaving", "grid_import_limit_w": 2000},
        "empty": {"template": "self-consumption", "order": ["charge_point"]},
    },
    "time_zone": "Europe/Berlin",
    "strategy": {
        "if": {"soc_below_pct": 15},
        "then": "empty",
        "else": {"if": {"between": ["17:00", "21:00"]}, "then": "evening", "else": "day"},
    },
}
CHOICES = [
    # (UTC hour, SoC, strategy)
    (10, 50, "day"),
    (16, 50, "evening"),  # 18:00 in Berlin (summer time)
    (16, 10, "empty"),
    (20, 50, "day"),
]


@pytest.mark.parametrize(("hour", "soc", "strategy"), CHOICES)
def test_conditional_strategy_decision_tree(hour: int, soc: float, strategy: str) -> None:
    c = ControlCycle(config(**TREE))
    seconds = (hour - T0.hour) * 3600
    assert step(c, seconds, grid={"ActivePower": 0}, bat=battery(soc)).strategy == strategy


def test_signal_and_price_conditions() -> None:
    tree = {
        "strategies": {"cheap": {}, "dimmed": {"max_feed_in_w": 0}},
        "prices": [{"start": "2024-01-01T00:00:00+00:00", "price": 0.1}],
        "strategy": {
            "if": {"signal": "rcr.Contact1"},
            "then": "dimmed",
            "else": {"if": {"price_below": 0.2}, "then": "cheap", "else": "self-consumption"},
        },
    }
    c = ControlCycle(config(**tree))
    assert step(c, grid={"ActivePower": 0}, rcr={"Contact1": True}).strategy == "dimmed"
    assert step(c, 1, grid={"ActivePower": 0}, rcr={"Contact1": False}).strategy == "cheap"


@pytest.mark.parametrize(
    "bad",
    [
        {"strategy": "nope"},
        {"strategies": {"p": {"template": "peak-shaving"}}},
        {"strategies": {"p": {"max_feed_in_w": 1, "max_feed_in_pct": 1}}},
        {"cycle_s": 0},
    ],
)
def test_config_errors(bad) -> None:
    with pytest.raises(ValidationError):
        config(**bad)


def test_an_external_limit_reaches_the_decisions_in_the_same_step_of_a_large_site() -> None:
    """A charging park: 60 charge points, 4 batteries, 4 inverters. The server runs ``step`` right
    after ``put``; its computing time is the control's share of the 200 ms budget."""
    import time as clock

    cps = [f"cp{i}" for i in range(60)]
    cfg = config(
        batteries=[{"id": f"b{i}"} for i in range(4)],
        pv=[{"id": f"pv{i}", "nominal_power_w": 50_000} for i in range(4)],
        charge_points=[{"id": cp, "plug_in_check_s": 0} for cp in cps],
        charging_groups=[{"id": "park", "fuse_a": 400, "members": cps}],
        strategies={"s": {"max_feed_in_pct": 70, "grid_import_limit_w": 300_000}},
        strategy="s",
    )
    c = ControlCycle(cfg)
    readings = {f"b{i}": battery(50) for i in range(4)}
    readings |= {f"pv{i}": {"ActivePower": 30_000} for i in range(4)}
    car = {"ActivePower": 0, "VehicleConnected": True, "ChargeMode": 1}
    readings |= {cp: car for cp in cps}
    step(c, 0, grid={"ActivePower": 50_000}, **readings)
    c.put(Demand("pv0.ActivePowerLimit", "marketer", Priority.MARKETER, "sell 0", high=0.0))
    started = clock.perf_counter()
    result = step(c, 1, grid={"ActivePower": 50_000}, **readings)
    elapsed = clock.perf_counter() - started
    assert result.decisions["pv0.ActivePowerLimit"].value == 0.0
    currents = [result.decisions[f"{cp}.ChargeCurrentLimit"].value for cp in cps]
    assert sum(currents) == pytest.approx(400)  # three-phase cars: 400 A per phase in total
    assert elapsed < 0.05


def test_battery_ramp_through_the_cycle() -> None:
    c = ControlCycle(config(batteries=[{"id": "bat", "ramp_w_per_s": 1000}]))
    values = [
        step(c, t, grid={"ActivePower": 4000}, bat=battery(50)).writes()[BAT] for t in (0, 1, 2)
    ]
    assert values == [1000.0, 2000.0, 3000.0]  # from idle, 1000 W per second


def test_the_configured_staleness_applies() -> None:
    c = ControlCycle(config(stale_after_s=60))
    values = {"bat." + k: v for k, v in battery(50).items()}
    samples = dict(Snapshot.of(T0, values).samples)
    samples["grid.ActivePower"] = Sample(800.0, Quality.GOOD, T0 - timedelta(seconds=30))
    assert c.step(Snapshot(T0, samples), T0).failsafe is None
