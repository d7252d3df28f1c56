"""Issue 12 leftover: an inverter that refuses its limit (write rejected, or not followed within
its settle time) is taken as it is; the others, the battery and flexible loads take its share,
and the reasons say so. Two inverters of 5 kW, each with 4 kW of sun; zero export."""

from __future__ import annotations

from typing import Any

from ampacity.control import ControlCycle, CycleResult
from controlkit import battery, config, step

HOUSE_W = 1000.0
SUN_W = 4000.0
PV1, PV2 = "pv1.ActivePowerLimit", "pv2.ActivePowerLimit"


def site(**overrides: Any) -> ControlCycle:
    base: dict[str, Any] = {
        "pv": [
            {"id": "pv1", "nominal_power_w": 5000, "limit_settle_s": 10},
            {"id": "pv2", "nominal_power_w": 5000, "limit_settle_s": 10},
        ],
        "strategies": {
            "zero": {"template": "self-consumption", "order": ["battery"], "max_feed_in_w": 0}
        },
        "strategy": "zero",
    }
    base.update(overrides)
    return ControlCycle(config(**base))


def run(cycle: ControlCycle, seconds: range, rod: bool = False) -> list[CycleResult]:
    """pv1 follows its limit, pv2 gives all its sun whatever it is told; the battery is full;
    a heating rod (if any) follows its setpoint."""
    limit1, rod_w, results = 5000.0, 0.0, []
    for t in seconds:
        p1, p2 = min(SUN_W, limit1), SUN_W
        assets: dict[str, Any] = {
            "grid": {"ActivePower": HOUSE_W + rod_w - p1 - p2},
            "pv1": {"ActivePower": p1, "NominalPower": 5000.0},
            "pv2": {"ActivePower": p2, "NominalPower": 5000.0},
            "bat": battery(soc=100.0),
        }
        if rod:
            assets["rod"] = {"ActivePower": rod_w, "Temperature": 40.0}
        result = step(cycle, t, **assets)
        limit1 = result.decisions[PV1].value
        if "rod.PowerSetpoint" in result.decisions:
            rod_w = result.decisions["rod.PowerSetpoint"].value
        results.append(result)
    return results


def test_an_inverter_above_its_limit_past_its_settle_time_leaves_its_share_to_the_other() -> None:
    results = run(site(), range(0, 30, 2))
    early, late = results[2].decisions[PV1], results[-1].decisions[PV1]
    assert early.value > 0  # within the settle time both share the limit
    # pv2 alone gives 4 kW against a 1 kW house: pv1 gives nothing, and says why
    assert late.value == 0.0
    assert "pv2 not following its limit" in late.reason
    assert "not following its limit" in results[-1].decisions[PV2].reason


def test_a_rejected_write_is_redistributed_at_once() -> None:
    cycle = site()
    run(cycle, range(0, 2, 2))  # one cycle: both share, nothing seen yet
    cycle.write_result(PV2, ok=False)
    result = run(cycle, range(2, 4, 2))[-1]
    assert result.decisions[PV1].value == 0.0
    assert "pv2" in result.decisions[PV1].reason
    cycle.write_result(PV2, ok=True)
    assert not cycle.rejected


def test_what_no_inverter_takes_back_goes_to_a_flexible_load() -> None:
    """With pv1 at 0 W, pv2's 4 kW still exceed the 1 kW house: the heating rod (not in the
    strategy's order, so idle otherwise) takes the rest, at feed-in priority."""
    cycle = site(heating_rods=[{"id": "rod", "max_power_w": 3000}])
    results = run(cycle, range(0, 30, 2), rod=True)
    rod = results[-1].decisions["rod.PowerSetpoint"]
    assert rod.value >= 2900.0
    assert "pv2 not following its limit" in rod.reason and rod.limited_by == "feed-in-limit"
