"""Electrolyser on surplus: minimum load, ramp, minimum run time (W, + consumption)."""

from __future__ import annotations

from ampacity.control import ControlCycle
from controlkit import config, step

UNIT = {"id": "ely", "min_power_w": 2000, "max_power_w": 10_000, "min_run_s": 600}

SEQUENCE = [
    # (seconds, grid W, electrolyser W now, expected setpoint W)
    (0, -1500, 0, 0),  # below its minimum load
    (10, -5000, 0, 5000),
    (20, -2000, 5000, 7000),  # its own draw counts
    (30, 2000, 7000, 5000),
    (40, 4000, 5000, 2000),  # less surplus than the minimum: minimum load for the run time
    (700, 4000, 2000, 0),  # then it stops
]


def test_electrolyser_sequence() -> None:
    c = ControlCycle(config(batteries=[], pv=[], electrolysers=[UNIT]))
    got = [
        step(c, t, grid={"ActivePower": g}, ely={"ActivePower": p}).writes()["ely.PowerSetpoint"]
        for t, g, p, _ in SEQUENCE
    ]
    assert got == [e for *_, e in SEQUENCE]


def test_electrolyser_ramp() -> None:
    c = ControlCycle(config(batteries=[], pv=[], electrolysers=[UNIT | {"ramp_w_per_s": 100}]))
    first = step(c, 0, grid={"ActivePower": -8000}, ely={"ActivePower": 0})
    second = step(c, 10, grid={"ActivePower": -8000}, ely={"ActivePower": 100})
    assert first.writes()["ely.PowerSetpoint"] == 100  # from off, one cycle of 1 s
    assert second.writes()["ely.PowerSetpoint"] == 1100  # 10 s later
