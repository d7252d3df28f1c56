"""No SG-Ready or CHP state change faster than its configured minimum, whatever the surplus
does; the grid operator's block puts a heat pump into SG-Ready 1 above every other demand.

The surplus is a seeded random walk with jumps (grid W, + import), stepped every 7 s over six
hours; the control sees each step as a fresh snapshot."""

from __future__ import annotations

import itertools
import random

import pytest
from ampacity.control import ControlCycle
from controlkit import config, step

PUMP = {
    "id": "hp",
    "boost_power_w": 1500,
    "recommend_surplus_w": 2000,
    "force_surplus_w": 5000,
    "on_delay_s": 600,
    "min_on_s": 1200,
}
CHP = {"id": "chp", "rated_power_w": 50_000, "min_power_w": 25_000}
CHP |= {"min_run_s": 1800, "min_stop_s": 900}


def noisy_grid(seed: int, steps: int) -> list[float]:
    rng = random.Random(seed)
    grid, out = 0.0, []
    for _ in range(steps):
        grid += rng.gauss(0, 800)
        if rng.random() < 0.05:
            grid = rng.uniform(-60_000, 60_000)  # a cloud edge, a large load
        grid = max(-60_000.0, min(60_000.0, grid))
        out.append(grid)
    return out


def changes(values: list[tuple[float, float]]) -> list[float]:
    """Times at which the value changed."""
    return [t for (t, v), (_, before) in zip(values[1:], values[:-1], strict=True) if v != before]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sg_ready_never_changes_faster_than_its_minimum(seed: int) -> None:
    c = ControlCycle(config(batteries=[], pv=[], heat_pumps=[PUMP]))
    seen = []
    for i, grid in enumerate(noisy_grid(seed, 3000)):
        t = 7.0 * i
        seen.append((t, step(c, t, grid={"ActivePower": grid}).writes()["hp.SgReadyState"]))
    at = changes(seen)
    assert len(at) >= 4, "the surplus did not move the pump at all: the test proves nothing"
    gaps = [b - a for a, b in itertools.pairwise(at)]
    assert min(gaps) >= min(PUMP["on_delay_s"], PUMP["min_on_s"]), gaps


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chp_never_starts_or_stops_faster_than_its_minimum(seed: int) -> None:
    c = ControlCycle(config(batteries=[], pv=[], generators=[CHP]))
    seen = []
    running_power = 0.0
    for i, grid in enumerate(noisy_grid(seed, 3000)):
        t = 7.0 * i
        writes = step(c, t, grid={"ActivePower": grid}, chp={"ActivePower": running_power}).writes()
        running_power = writes["chp.PowerSetpoint"]
        seen.append((t, 1.0 if running_power > 0 else 0.0))
    at = changes(seen)
    assert len(at) >= 4, "the unit never started and stopped: the test proves nothing"
    runs = [b - a for a, b in zip(at[0::2], at[1::2], strict=False)]
    rests = [b - a for a, b in zip(at[1::2], at[2::2], strict=False)]
    first_is_start = dict(seen)[at[0]] == 1.0
    if not first_is_start:
        runs, rests = rests, runs
    assert all(r >= CHP["min_run_s"] for r in runs), runs
    assert all(r >= CHP["min_stop_s"] for r in rests), rests


BLOCKING = PUMP | {"block_signal": "rcr.Contact4"}


def test_the_grid_operators_block_wins_over_surplus() -> None:
    c = ControlCycle(config(batteries=[], pv=[], heat_pumps=[BLOCKING]))
    rcr_open, rcr_closed = {"Contact4": False}, {"Contact4": True}
    assert step(c, 0, grid={"ActivePower": -8000}, rcr=rcr_open).writes()["hp.SgReadyState"] == 2
    result = step(c, 700, grid={"ActivePower": -8000}, rcr=rcr_closed)
    decision = result.decisions["hp.SgReadyState"]
    assert decision.value == 1
    assert "grid operator's block: rcr.Contact4 closed" in decision.reason
    # a silent contact box keeps the block: a lost signal never lifts it
    assert step(c, 710, grid={"ActivePower": -8000}).writes()["hp.SgReadyState"] == 1
    lifted = step(c, 720, grid={"ActivePower": -8000}, rcr=rcr_open)
    assert lifted.writes()["hp.SgReadyState"] in (2, 3, 4)


def test_a_block_signal_names_an_asset_and_a_point() -> None:
    with pytest.raises(ValueError, match="block_signal"):
        config(batteries=[], pv=[], heat_pumps=[PUMP | {"block_signal": "Contact4"}])
