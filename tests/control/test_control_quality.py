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
