"""EV charging modes as sequences: (seconds, grid W, car W, connected, mode) -> current A.

No battery, no PV control: the grid meter alone says what surplus there is (+ import).
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.control import ChargeMode, ControlCycle
from controlkit import battery, config, step

M = ChargeMode
CP = "cp.ChargeCurrentLimit"


def cycle(**cp: Any) -> ControlCycle:
    point = {"id": "cp", "plug_in_check_s": 0, "start_delay_s": 60, "stop_delay_s": 300} | cp
    strategies = {"ev": {"order": ["charge_point"]}}
    return ControlCycle(
        config(batteries=[], pv=[], charge_points=[point], strategies=strategies, strategy="ev")
    )


def run(c: ControlCycle, rows: list[tuple[float, float, float, bool, int]]) -> list[float]:
    currents = []
    for t, grid, car, connected, mode in rows:
        result = step(
            c,
            t,
            grid={"ActivePower": grid},
            cp={"ActivePower": car, "VehicleConnected": connected, "ChargeMode": mode},
        )
        currents.append(round(result.decisions[CP].value, 2))
    return currents


SEQUENCES = {
    "off": ({}, [(0, -9000, 0, True, M.OFF)], [0.0]),
    "fast": ({}, [(0, 500, 0, True, M.FAST)], [16.0]),
    "no vehicle": ({}, [(0, -9000, 0, False, M.FAST)], [0.0]),
    "surplus waits for the start delay": (
        {},
        [
            (0, -5000, 0, True, M.SURPLUS),
            (30, -5000, 0, True, M.SURPLUS),
            (60, -5000, 0, True, M.SURPLUS),
        ],
        [0.0, 0.0, 7.25],  # 5000 W / (230 V x 3)
    ),
    "surplus below the minimum never starts": (
        {},
        [(0, -3000, 0, True, M.SURPLUS), (120, -3000, 0, True, M.SURPLUS)],
        [0.0, 0.0],
    ),
    "surplus holds the minimum until the stop delay": (
        {"start_delay_s": 0},
        [
            (0, -5000, 0, True, M.SURPLUS),
            (10, 1000, 4140, True, M.SURPLUS),
            (300, 1000, 4140, True, M.SURPLUS),
            (311, 1000, 4140, True, M.SURPLUS),
        ],
        [7.25, 6.0, 6.0, 0.0],
    ),
    "a short dip does not stop": (
        {"start_delay_s": 0},
        [
            (0, -5000, 0, True, M.SURPLUS),
            (10, 1000, 4140, True, M.SURPLUS),
            (100, -1000, 4140, True, M.SURPLUS),
            (400, 1000, 4140, True, M.SURPLUS),
        ],
        [7.25, 6.0, 7.45, 6.0],
    ),
    "surplus plus tops up to the minimum at once": (
        {},
        [(0, 300, 0, True, M.SURPLUS_PLUS), (10, -7000, 4140, True, M.SURPLUS_PLUS)],
        [6.0, 16.0],
    ),
    "plug-in check at full current first": (
        {"plug_in_check_s": 60},
        [
            (0, 300, 0, True, M.SURPLUS),
            (59, 300, 11000, True, M.SURPLUS),
            (60, 11300, 11000, True, M.SURPLUS),
        ],
        [16.0, 16.0, 0.0],
    ),
    "max current of the charge point": (
        {"max_current_a": 10, "start_delay_s": 0},
        [(0, -20000, 0, True, M.SURPLUS)],
        [10.0],
    ),
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_mode_sequences(name: str) -> None:
    settings, rows, expected = SEQUENCES[name]
    assert run(cycle(**settings), rows) == expected


def test_fast_once_returns_to_the_previous_mode_when_the_vehicle_leaves() -> None:
    c = cycle()
    run(c, [(0, 0, 0, True, M.SURPLUS), (1, 0, 0, True, M.FAST_ONCE)])
    result = step(
        c,
        2,
        grid={"ActivePower": 0},
        cp={"ActivePower": 0, "VehicleConnected": False, "ChargeMode": M.FAST_ONCE},
    )
    assert result.decisions["cp.ChargeMode"].value == M.SURPLUS
    assert result.decisions["cp.ChargeMode"].reason == "FastOnce done"


def test_mode_is_written_only_when_control_changes_it() -> None:
    c = cycle()
    result = step(c, grid={"ActivePower": 0}, cp={"VehicleConnected": True, "ChargeMode": 1})
    assert "cp.ChargeMode" not in result.decisions


PHASES = [
    # (surplus W, phases after the switch delay, current A)
    (2000, 1, 8.7),  # 2 kW carry 6 A on one phase, not on three
    (6000, 3, 8.7),
]


@pytest.mark.parametrize(("surplus", "phases", "current"), PHASES)
def test_phase_switching(surplus: float, phases: int, current: float) -> None:
    c = cycle(phase_switching=True, phase_switch_delay_s=60, start_delay_s=0)
    rows = [(t, -surplus, 0, True, M.SURPLUS) for t in (0, 30, 61, 62)]
    currents = run(c, rows)
    result = c.last_result
    assert result is not None
    assert result.decisions["cp.PhaseSetting"].value == phases
    assert currents[-1] == pytest.approx(current, abs=0.05)


def test_cost_optimised_charges_fast_when_cheap() -> None:
    point = {"id": "cp", "plug_in_check_s": 0, "max_price_per_kwh": 0.25}
    prices = [
        {"start": "2024-06-21T00:00:00+00:00", "price": 0.20},
        {"start": "2024-06-21T10:00:10+00:00", "price": 0.40},
    ]
    c = ControlCycle(config(batteries=[], pv=[], charge_points=[point], prices=prices))
    rows = [(0, 500, 0, True, M.COST_OPTIMISED), (20, 11540, 11040, True, M.COST_OPTIMISED)]
    assert run(c, rows) == [16.0, 0.0]


def test_import_limit_reduces_fast_charging() -> None:
    point = {"id": "cp", "plug_in_check_s": 0}
    cfg = config(
        batteries=[],
        pv=[],
        charge_points=[point],
        strategies={"s": {"grid_import_limit_w": 10_000}},
        strategy="s",
    )
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": 3000},
        cp={"ActivePower": 0, "VehicleConnected": True, "ChargeMode": M.FAST},
    )
    decision = result.decisions[CP]
    assert decision.value == pytest.approx(7000 / 690)
    assert decision.limited_by == "grid-import-limit"


def test_an_operator_mode_change_is_followed_in_the_next_cycle() -> None:
    """The demo's check: a client writes ``ChargeMode``; the next snapshot carries it."""
    c = cycle(plug_in_check_s=60)
    rows = [
        (0, 300, 0, True, M.SURPLUS),  # plug-in check: full current
        (60, 11_300, 11_040, True, M.SURPLUS),  # no surplus: paused
        (61, 300, 0, True, M.FAST),  # the operator chose Fast
        (62, 11_300, 11_040, True, M.OFF),
    ]
    assert run(c, rows) == [16.0, 0.0, 16.0, 0.0]


DC = {"id": "dc", "dc": True, "min_power_w": 5000, "max_power_w": 50_000, "plug_in_check_s": 0}
DC_ROWS = [
    # (mode, grid W, charger W now, import limit W, expected ChargePowerLimit W)
    (M.FAST, 10_000, 0, None, 50_000),
    (M.FAST, 10_000, 0, 40_000, 30_000),  # the import limit reduces it
    (M.SURPLUS_PLUS, 1_000, 0, None, 5_000),  # minimum power from the grid
    (M.SURPLUS_PLUS, -20_000, 0, None, 20_000),
]


@pytest.mark.parametrize(("mode", "grid", "now", "limit", "expected"), DC_ROWS)
def test_dc_charger_by_power(mode, grid, now, limit, expected) -> None:
    strategy = {"order": ["charge_point"], "grid_import_limit_w": limit}
    cfg = config(batteries=[], pv=[], charge_points=[DC], strategies={"s": strategy}, strategy="s")
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": grid},
        dc={"ActivePower": now, "VehicleConnected": True, "ChargeMode": mode},
    )
    assert result.decisions["dc.ChargePowerLimit"].value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("soc", "expected_a", "expected_discharge_w"),
    [
        (30, 16.0, 4040.0),  # the battery covers what the car adds beyond the limit
        (10, 7000 / 690, 0.0),  # at its reserve it cannot: the car is reduced
    ],
)
def test_fast_charging_counts_the_battery_the_import_limit_may_discharge(
    soc: float, expected_a: float, expected_discharge_w: float
) -> None:
    """Peak shaving with the order [battery, charge_point]: a Fast car is reduced only where
    the battery cannot cover the peak (before, it got the limit's headroom alone and waited,
    with the battery full, while the site stayed far below its limit)."""
    cfg = config(
        charge_points=[{"id": "cp", "plug_in_check_s": 0}],
        strategies={
            "s": {
                "template": "peak-shaving",
                "order": ["battery", "charge_point"],
                "grid_import_limit_w": 10_000,
                "hysteresis_w": 8000,  # no recharge from the grid at 3 kW import
            }
        },
        strategy="s",
    )
    result = step(
        ControlCycle(cfg),
        grid={"ActivePower": 3000},
        cp={"ActivePower": 0, "VehicleConnected": True, "ChargeMode": M.FAST},
        bat=battery(soc, limit=5000),
    )
    assert result.decisions[CP].value == pytest.approx(expected_a)
    bat = result.decisions["bat.BatteryPowerSetpoint"].value
    assert bat == pytest.approx(expected_discharge_w, abs=1.0)
