"""Issue 16, defect 4: peak shaving one cycle late. A load that swings between cycles exceeds a
limit the control aimed at exactly; the import limit keeps a margin from the measured swings.
Violations are counted by number, duration and energy (``LimitViolations``)."""

from __future__ import annotations

import random

import pytest
from ampacity.control import ControlCycle
from ampacity.control.violations import LimitViolations
from controlkit import battery, config, step

LIMIT_W = 14_000.0


def shave(
    swing_w: float, mean_w: float = 13_500.0, seconds: int = 600, seed: int = 16
) -> tuple[LimitViolations, float]:
    """A 1 s cycle; the load is ``mean_w`` ± ``swing_w`` (a new value every second); the
    battery (at its peak reserve of 50 %, so it only shaves) applies a setpoint one second
    after it was decided. Returns the violations of the 14 kW limit (grace 2 s) and the last
    battery setpoint, W."""
    cycle = ControlCycle(
        config(
            batteries=[{"id": "bat", "reserve_soc_pct": 5}],
            strategies={"peak": {"template": "peak-shaving", "grid_import_limit_w": LIMIT_W}},
            strategy="peak",
        )
    )
    rng = random.Random(seed)
    violations = LimitViolations(LIMIT_W, grace_s=2.0)
    bat_w = 0.0
    for t in range(seconds):
        load = mean_w + rng.uniform(-swing_w, swing_w)
        grid = load - bat_w
        violations.observe(grid, 1.0)
        result = step(
            cycle,
            t,
            grid={"ActivePower": grid},
            bat=battery(soc=50.0, power=bat_w, capacity=60_000.0, limit=15_000.0),
        )
        bat_w = result.decisions["bat.BatteryPowerSetpoint"].value  # applies next second
    return violations, bat_w


def test_a_swinging_load_stays_under_the_limit() -> None:
    violations, _ = shave(swing_w=2000.0)
    assert violations.count == 0, violations.as_dict()
    assert violations.exceedance_s <= 60.0  # single seconds at the worst swings, none lasting


def test_a_steady_load_gets_no_margin_and_costs_no_extra_battery_energy() -> None:
    violations, bat_w = shave(swing_w=0.0, mean_w=14_500.0, seconds=30)
    assert violations.count == 0
    assert bat_w == pytest.approx(500.0, abs=1.0)  # exactly what is above the limit


def test_violations_count_number_duration_and_energy() -> None:
    v = LimitViolations(1000.0, grace_s=2.0)
    for power in (1500, 1500, 900, 1500, 1500, 1500, 1200, 800):  # W, one second each
        v.observe(power, 1.0)
    # the first exceedance (2 s) is within the grace time; the second (4 s) is one violation
    assert v.count == 1
    assert v.seconds == 4.0
    assert v.energy_wh == pytest.approx((500 * 3 + 200) / 3600.0)
    assert v.exceedance_s == 6.0
    assert v.as_dict() == {"count": 1, "seconds": 4.0, "kwh": pytest.approx(v.energy_wh / 1000)}


def test_a_meter_reading_past_the_allowed_range_is_urgent() -> None:
    """The server runs a cycle on a grid meter update that leaves the range the last cycle
    allowed (import limit less its margin), not only on the cycle tick."""
    cycle = ControlCycle(
        config(
            strategies={"peak": {"template": "peak-shaving", "grid_import_limit_w": LIMIT_W}},
            strategy="peak",
        )
    )
    assert not cycle.urgent(1e9)  # no cycle yet: nothing known
    step(cycle, 0, grid={"ActivePower": 10_000.0}, bat=battery(soc=50.0))
    assert cycle.urgent(LIMIT_W + 1.0)
    assert not cycle.urgent(LIMIT_W - 1.0)
