"""Surplus to heat: heating rod power and heat pump SG-Ready states (W, + consumption)."""

from __future__ import annotations

import pytest
from ampacity.control import ControlCycle
from controlkit import config, step

ROD = {"id": "rod", "max_power_w": 3000, "min_power_w": 300, "max_temperature_c": 60}
PUMP = {
    "id": "hp",
    "boost_power_w": 1500,
    "recommend_surplus_w": 2000,
    "force_surplus_w": 5000,
    "on_delay_s": 600,
    "min_on_s": 1200,
}

RODS = [
    # (grid W, rod W now, water °C, expected setpoint W)
    (-2000, 0, 40, 2000),
    (-2000, 1000, 40, 3000),  # its own draw counts as surplus
    (-5000, 0, 40, 3000),  # rated power
    (-200, 0, 40, 0),  # below its minimum
    (500, 0, 40, 0),
    (-2000, 0, 60, 0),  # hot enough
]


@pytest.mark.parametrize(("grid", "rod_w", "temp", "expected"), RODS)
def test_heating_rod_table(grid, rod_w, temp, expected) -> None:
    c = ControlCycle(config(batteries=[], pv=[], heating_rods=[ROD]))
    result = step(c, grid={"ActivePower": grid}, rod={"ActivePower": rod_w, "Temperature": temp})
    assert result.decisions["rod.PowerSetpoint"].value == pytest.approx(expected)


def test_the_battery_comes_first_in_the_default_order() -> None:
    cfg = config(heating_rods=[ROD])
    bat = {"ActivePower": 0, "StateOfCharge": 50, "Capacity": 10_000}
    bat |= {"MaxChargePower": 1500, "MaxDischargePower": 1500}
    result = step(ControlCycle(cfg), grid={"ActivePower": -2500}, bat=bat, rod={"Temperature": 40})
    assert result.decisions["bat.BatteryPowerSetpoint"].value == -1500
    assert result.decisions["rod.PowerSetpoint"].value == pytest.approx(1000)


PUMP_SEQUENCE = [
    # (seconds, grid W, expected SG-Ready state)
    (0, -3000, 2),
    (300, -3000, 2),  # not long enough
    (600, -3000, 3),  # recommended after 10 min
    (700, 200, 3),  # held for its minimum on time (the boost is part of the grid now)
    (1800, 200, 2),  # surplus gone after the minimum on time
    (1900, -6000, 2),
    (2500, -6000, 4),  # forced on a large surplus
]


def test_heat_pump_sg_ready_sequence() -> None:
    c = ControlCycle(config(batteries=[], pv=[], heat_pumps=[PUMP]))
    states = [
        step(c, t, grid={"ActivePower": grid}).decisions["hp.SgReadyState"].value
        for t, grid, _ in PUMP_SEQUENCE
    ]
    assert states == [s for _, _, s in PUMP_SEQUENCE]
