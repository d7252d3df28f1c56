"""Charging groups: a fuse per phase shared by priority and fair share (currents A per phase)."""

from __future__ import annotations

from datetime import time

import pytest
from ampacity.control import ChargeMode, ControlCycle
from ampacity.control.controllers.groups import Wish, share_fuse
from controlkit import config, step

THREE = (1, 2, 3)

SHARES = [
    # (wishes (id, A, min A, phases), fuse A, priorities, expected)
    ([("a", 16, 6, THREE), ("b", 16, 6, THREE)], 32, {}, {"a": 16, "b": 16}),
    ([("a", 16, 6, THREE), ("b", 16, 6, THREE)], 20, {}, {"a": 10, "b": 10}),  # fair
    ([("a", 4, 0, THREE), ("b", 16, 6, THREE)], 16, {}, {"a": 4, "b": 12}),  # water-filling
    ([("a", 16, 6, THREE), ("b", 16, 6, THREE)], 20, {"b": 1}, {"a": 0, "b": 16}),  # priority
    (
        [("a", 16, 6, THREE), ("b", 16, 6, THREE), ("c", 16, 6, THREE)],
        16,
        {},
        {"a": 8, "b": 8, "c": 0},
    ),
    # one-phase cars on different phases do not compete
    (
        [("a", 16, 6, (1,)), ("b", 16, 6, (2,)), ("c", 16, 6, (1,))],
        20,
        {},
        {"a": 10, "b": 16, "c": 10},
    ),
    ([("a", 16, 6, THREE), ("b", 16, 6, (1,))], 24, {}, {"a": 12, "b": 12}),
]


@pytest.mark.parametrize(("wishes", "fuse", "priorities", "expected"), SHARES)
def test_fuse_sharing_table(wishes, fuse, priorities, expected) -> None:
    shares = share_fuse([Wish(*w) for w in wishes], fuse, priorities)
    assert shares == pytest.approx(expected, abs=1e-6)


def _cycle(between: tuple[time, time] | None = None) -> ControlCycle:
    points = [{"id": cp, "plug_in_check_s": 0} for cp in ("a", "b")]
    group = {"id": "garage", "fuse_a": 20, "members": ["a", "b"], "between": between}
    return ControlCycle(
        config(
            batteries=[],
            pv=[],
            charge_points=points,
            charging_groups=[group],
            strategies={"ev": {"order": ["charge_point"]}},
            strategy="ev",
        )
    )


CARS = {
    cp: {"ActivePower": 0, "VehicleConnected": True, "ChargeMode": ChargeMode.FAST}
    for cp in ("a", "b")
}


def test_a_group_caps_fast_charging_visibly() -> None:
    result = step(_cycle(), grid={"ActivePower": 500}, **CARS)
    for cp in ("a", "b"):
        decision = result.decisions[f"{cp}.ChargeCurrentLimit"]
        assert decision.value == pytest.approx(10)
        assert decision.limited_by == "charging-group:garage"


def test_a_group_outside_its_time_window_does_not_apply() -> None:
    result = step(_cycle((time(0, 0), time(6, 0))), grid={"ActivePower": 500}, **CARS)
    assert result.decisions["a.ChargeCurrentLimit"].value == 16
