"""CHP / fuel cell dispatch: power-led and heat-led with minimum run and stop times
(W, + production; grid + import)."""

from __future__ import annotations

import pytest
from ampacity.control import ControlCycle
from controlkit import config, step
from pydantic import ValidationError

POWER_LED = {
    "id": "chp",
    "rated_power_w": 5000,
    "min_power_w": 1000,
    "min_run_s": 600,
    "min_stop_s": 300,
}
POWER_SEQUENCE = [
    # (seconds, grid W, unit W now, expected setpoint W)
    (0, 500, 0, 0),  # import below its minimum power
    (10, 3000, 0, 3000),  # covers the import
    (20, 4000, 3000, 5000),  # rated power
    (30, -1000, 5000, 4000),  # 4 kW of import without it
    (40, -3000, 3000, 1000),  # nothing needed: minimum power until the run time is over
    (700, -1000, 1000, 0),  # stopped
    (800, 3000, 0, 0),  # resting for its minimum stop time
    (1000, 3000, 0, 3000),
]


def test_power_led_sequence() -> None:
    c = ControlCycle(config(batteries=[], pv=[], generators=[POWER_LED]))
    got = [
        step(c, t, grid={"ActivePower": g}, chp={"ActivePower": p}).writes()["chp.PowerSetpoint"]
        for t, g, p, _ in POWER_SEQUENCE
    ]
    assert got == [e for *_, e in POWER_SEQUENCE]


HEAT_LED = POWER_LED | {"mode": "heat-led", "temperature": "store.Temperature", "min_run_s": 0}
HEAT_SEQUENCE = [
    # (seconds, store °C, expected setpoint W)
    (0, 60, 0),  # warm enough to stay off
    (400, 54, 5000),  # below the start temperature
    (500, 65, 5000),  # runs until the stop temperature
    (600, 71, 0),
    (700, 60, 0),  # hysteresis: no restart above the start temperature
]


def test_heat_led_sequence() -> None:
    c = ControlCycle(config(batteries=[], pv=[], generators=[HEAT_LED]))
    got = [
        step(c, t, grid={"ActivePower": 0}, store={"Temperature": temp}).writes()[
            "chp.PowerSetpoint"
        ]
        for t, temp, _ in HEAT_SEQUENCE
    ]
    assert got == [e for *_, e in HEAT_SEQUENCE]


def test_heat_led_needs_a_temperature() -> None:
    with pytest.raises(ValidationError):
        config(generators=[POWER_LED | {"mode": "heat-led"}])
