"""``bench/control_quality.py --json``: one JSON object, four policies, the optimum a bound that
does not depend on any policy's run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from short_scenario import write_short_scenario

pytest.importorskip("scipy")
BENCH = Path(__file__).resolve().parents[2] / "bench" / "control_quality.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("control_quality_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_json_shape_and_the_optimum_bounds_every_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_short_scenario(tmp_path)
    assert _bench().main(["--json", "--step", "120", "--slot-min", "10", str(path)]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # exactly one object: json.loads refuses trailing text
    assert out.count("\n") == 1
    assert result["step_s"] == 120 and result["ev_penalty_per_kwh"] == 1.0
    [day] = result["scenarios"]
    assert day["name"] == "short-extended"
    assert set(day["policies"]) == {"no-control", "rule", "ampacity", "ampacity+plan"}
    best = day["optimum_cost_eur"]
    for policy in day["policies"].values():
        assert set(policy) == {
            "cost_eur",
            "ratio",
            "delta_eur",
            "violations",
            "ev_delivered_kwh",
            "ev_target_kwh",
        }
        assert set(policy["violations"]) == {"count", "seconds", "kwh"}
        assert isinstance(policy["violations"]["count"], int)
        assert policy["delta_eur"] == pytest.approx(policy["cost_eur"] - best, abs=1e-3)
        assert policy["cost_eur"] >= best - 0.02  # nothing beats perfect foresight
        if best > 0:
            assert policy["ratio"] == pytest.approx(policy["cost_eur"] / best, abs=1e-3)
        else:
            assert policy["ratio"] is None
        assert policy["ev_target_kwh"] == pytest.approx(3.0)


def test_the_optimum_delivers_every_reachable_target_whatever_a_policy_did(
    tmp_path: Path,
) -> None:
    """The optimum is computed from the day alone: a policy that charges nothing neither
    lowers the vehicle energy the optimum delivers nor escapes the penalty."""
    bench = _bench()
    from ampacity.scenarios.runner import load_scenario, run_scenario, with_step

    scenario = with_step(load_scenario(write_short_scenario(tmp_path)), 60.0)
    trace = bench.DayTrace(scenario.step_s)
    run_scenario(scenario, bench.FACTORIES["no-control"], trace.record)
    best = bench.optimum(scenario, trace, 10.0, 1.0)
    assert best.ev_target_wh == pytest.approx(3000.0)

    class Idle:
        period_s = 60.0

        def decide(self, snapshot, now):  # type: ignore[no-untyped-def]
            return {"cp4.ChargeCurrentLimit": 0.0}

    idle = run_scenario(scenario, lambda s: Idle())
    assert idle.ev_delivered_wh == 0.0 and idle.ev_missing_wh == pytest.approx(3000.0)
    assert bench.score(scenario, idle, 1.0) >= best.cost + 3.0 * 1.0 - 3.0 * 0.3
