"""An electrolyser stops when its hydrogen store is full, whatever the surplus and its minimum
run time, and starts again only below the resume level (W, + consumption; level %)."""

from __future__ import annotations

from ampacity.control import ControlCycle
from controlkit import config, step

UNIT = {
    "id": "ely",
    "min_power_w": 2000,
    "max_power_w": 10_000,
    "min_run_s": 600,
    "stop_above_tank_pct": 95,
}

SEQUENCE = [
    # (seconds, tank %, electrolyser W now, expected setpoint W) with 8 kW surplus throughout
    (0, 80.0, 0, 8000),
    (10, 94.9, 8000, 8000),
    (20, 95.0, 8000, 0),  # full: stops although it started 20 s ago (minimum run 600 s)
    (30, 93.0, 0, 0),  # below the stop level but not below the resume level (90 %)
    (40, None, 0, 0),  # the level unknown: the last decision holds
    (50, 89.9, 0, 8000),  # below the resume level: on again
]


def test_the_tank_level_stops_and_resumes_the_electrolyser() -> None:
    c = ControlCycle(config(batteries=[], pv=[], electrolysers=[UNIT]))
    got, reasons = [], []
    for t, level, power, _ in SEQUENCE:
        ely: dict[str, float] = {"ActivePower": power + 0.0}
        if level is not None:
            ely["HydrogenTankLevel"] = level
        result = step(c, t, grid={"ActivePower": power - 8000.0}, ely=ely)
        got.append(result.writes()["ely.PowerSetpoint"])
        reasons.append(result.decisions["ely.PowerSetpoint"].reason)
    assert got == [e for *_, e in SEQUENCE]
    assert reasons[2] == "hydrogen store full (≥ 95 %)"


def test_without_a_tank_rule_the_level_is_ignored() -> None:
    unit = {k: v for k, v in UNIT.items() if k != "stop_above_tank_pct"}
    c = ControlCycle(config(batteries=[], pv=[], electrolysers=[unit]))
    result = step(c, 0, grid={"ActivePower": -8000.0}, ely={"HydrogenTankLevel": 100.0})
    assert result.writes()["ely.PowerSetpoint"] == 8000
