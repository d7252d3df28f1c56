"""The arbiter's one rule, as a table."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from ampacity.control import Demand, Priority, ResourceSpec, arbitrate
from controlkit import T0

R = "bat.BatteryPowerSetpoint"
SPEC = ResourceSpec(R, -5000.0, 5000.0, 0.0)
P = Priority


def d(owner: str, priority: Priority, target: float | None = None, low=-math.inf, high=math.inf):
    return Demand(R, owner, priority, f"{owner} wants", target, low, high)


CASES = [
    # (demands, expected value, owner, limited_by)
    ([], 0.0, "neutral", None),
    ([d("sc", P.SELF_CONSUMPTION, 3000)], 3000.0, "sc", None),
    ([d("sc", P.SELF_CONSUMPTION, 9000)], 5000.0, "sc", None),  # device range
    # a higher limit clamps a lower target; the owner stays, the limiter is named
    (
        [d("sc", P.SELF_CONSUMPTION, 3000), d("reserve", P.DEVICE_LIMIT, high=0)],
        0.0,
        "sc",
        "reserve",
    ),
    # a lower target never beats a higher one
    ([d("sc", P.SELF_CONSUMPTION, 3000), d("mk", P.MARKETER, -1000)], -1000.0, "mk", None),
    # a lower limit cannot widen a higher one: peak shaving needs ≥ 2000, schedule wants ≤ 1000
    (
        [
            d("peak", P.GRID_CONNECTION, low=2000),
            d("sched", P.SCHEDULE, high=1000),
            d("sc", P.SELF_CONSUMPTION, 500),
        ],
        2000.0,
        "sc",
        "peak",
    ),
    # a command (pinned range) holds against a lower limit
    (
        [d("mk", P.MARKETER, 4000, low=4000, high=4000), d("sc", P.SELF_CONSUMPTION, high=0)],
        4000.0,
        "mk",
        None,
    ),
    # a limit is a bound from every priority: a lower one still bounds a higher target
    ([d("fi", P.FEED_IN_LIMIT, 4000), d("plan", P.SCHEDULE, high=1000)], 1000.0, "fi", "plan"),
    # no target: the neutral value clamped by the limits
    ([d("peak", P.GRID_CONNECTION, low=1500)], 1500.0, "neutral", "peak"),
]


@pytest.mark.parametrize(("demands", "value", "owner", "limited_by"), CASES)
def test_arbitration_table(demands, value, owner, limited_by) -> None:
    decision = arbitrate(SPEC, demands)
    assert (decision.value, decision.owner, decision.limited_by) == (value, owner, limited_by)


def test_same_rule_for_every_resource() -> None:
    pv = ResourceSpec("pv.ActivePowerLimit", 0.0, 8000.0, 8000.0)
    limit = Demand(pv.resource, "feed-in-limit", P.FEED_IN_LIMIT, "70 %", high=5600)
    assert arbitrate(pv, [limit]).value == 5600.0
    assert arbitrate(pv, []).value == 8000.0


RAMP = ResourceSpec(R, -5000.0, 5000.0, 0.0, ramp_per_s=500.0)


def test_ramp_limits_a_target_but_never_delays_a_hard_limit() -> None:
    assert arbitrate(RAMP, [d("sc", P.SELF_CONSUMPTION, 4000)], previous=0.0, dt_s=2).value == 1000
    hard = [d("sc", P.SELF_CONSUMPTION, 4000), d("op", P.GRID_OPERATOR, high=0)]
    assert arbitrate(RAMP, hard, previous=4000.0, dt_s=1).value == 0.0


def test_expiry() -> None:
    demand = Demand(R, "mk", P.MARKETER, "x", 1.0, expires=T0 + timedelta(seconds=5))
    assert not demand.expired(T0)
    assert demand.expired(T0 + timedelta(seconds=5))
