"""Helpers for the control tests: configs, snapshots and one-cycle runs from short tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ampacity.assets import PointValue
from ampacity.control import ControlConfig, ControlCycle, CycleResult, Snapshot

T0 = datetime(2024, 6, 21, 10, 0, tzinfo=UTC)


def config(**overrides: Any) -> ControlConfig:
    """A site with one battery, one PV inverter and no charge points unless overridden."""
    base: dict[str, Any] = {
        "grid_meter": "grid",
        "batteries": [{"id": "bat", "reserve_soc_pct": 10}],
        "pv": [{"id": "pv"}],
    }
    base.update(overrides)
    return ControlConfig.model_validate(base)


def battery(
    soc: float = 50.0, power: float = 0.0, capacity: float = 10_000.0, limit: float = 5_000.0
) -> dict[str, PointValue]:
    """A battery's points (power W, + discharge)."""
    return {
        "ActivePower": power,
        "StateOfCharge": soc,
        "Capacity": capacity,
        "MaxChargePower": limit,
        "MaxDischargePower": limit,
    }


def snapshot(when: datetime = T0, **assets: dict[str, PointValue]) -> Snapshot:
    """``snapshot(grid={"ActivePower": 500}, bat=battery(60))``."""
    values = {f"{a}.{p}": v for a, points in assets.items() for p, v in points.items()}
    return Snapshot.of(when, values)


def step(cycle: ControlCycle, seconds: float = 0.0, **assets: dict[str, PointValue]) -> CycleResult:
    when = T0 + timedelta(seconds=seconds)
    return cycle.step(snapshot(when, **assets), when)
