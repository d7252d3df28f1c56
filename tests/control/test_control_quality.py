"""The benchmark's perfect-foresight LP is a lower bound on what the control achieves."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from ampacity.scenarios.runner import load_scenario, run_scenario, with_step

pytest.importorskip("scipy")
BENCH = Path(__file__).resolve().parents[2] / "bench" / "control_quality.py"


def _bench():
    spec = importlib.util.spec_from_file_location("control_quality", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_optimum_bounds_ampacity_and_keeps_the_limits() -> None:
    bench = _bench()
    scenario = with_step(load_scenario("sunny-summer"), 10.0)
    trace = bench.DayTrace(scenario.step_s)
    kpis = run_scenario(scenario, None, trace.record)
    best = bench.optimum(scenario, trace, 15.0, bench.EV_PENALTY_PER_KWH)
    assert best.cost <= bench.score(scenario, kpis, bench.EV_PENALTY_PER_KWH)
    assert 0 < best.self_consumption_pct <= 100


def test_the_optimum_charges_a_fast_car_at_once_like_every_policy_must() -> None:
    """A ``Fast`` car takes its full power from arrival in the optimum too; before, the optimum
    moved the industrial day's cars into the midday sun, which no policy may do."""
    bench = _bench()
    scenario = with_step(load_scenario("industrial-peak"), 30.0)
    scenario = scenario.model_copy(update={"hours": 10.0})
    trace = bench.DayTrace(scenario.step_s)
    run_scenario(scenario, bench.no_control_policy, trace.record)
    slot_min = 5.0
    best = bench.optimum(scenario, trace, slot_min, bench.EV_PENALTY_PER_KWH)
    slot_steps = round(slot_min * 60 / scenario.step_s)
    n = len(trace.load_w) // slot_steps
    visits = bench._visits(scenario, trace, slot_steps, n)
    at_once = [sum(v.at_once_w[t] for v in visits if v.at_once_w) for t in range(n)]
    assert sum(at_once) * slot_min / 60 > 50_000  # two cars, 50 kWh, before 10:00 UTC
    done = wanted = 0.0
    for t in range(n):  # never behind charging at once (the battery covers the import limit)
        done += best.slots["ev"][t] * slot_min / 60
        wanted += at_once[t] * slot_min / 60
        assert done >= wanted - 1.0
