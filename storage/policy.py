"""Recording policy: which of a point's changes the historian keeps.

Defaults come from the point's kind (see ``default_policy``); the site file overrides them per
point by glob. Whatever the policy, a change of StatusCode is always recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

from ampacity.assets import PointSpec, ValueKind

from .config import PolicyOverride


class Mode(Enum):
    ON_CHANGE = "on_change"
    """Every change beyond the deadband (plus a heartbeat every ``max_gap_s``)."""
    INTERVAL = "interval"
    """The current value at every multiple of ``interval_s`` (and on every status change)."""
    OFF = "off"
    """Not recorded."""


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    """How one point is recorded.

    Attributes:
        mode: on change, at an interval, or not at all.
        deadband_abs: on change: ignore changes smaller than this (point's unit); 0 = any change.
        deadband_pct: on change: ignore changes smaller than this percentage of the EURange
            span (OPC UA PercentDeadband semantics); 0 = off.
        interval_s: interval mode: sampling period in seconds.
        max_gap_s: on change: also record the held value when nothing was recorded for this
            long (keeps slowly moving values visible); ``None`` = never.
    """

    mode: Mode = Mode.ON_CHANGE
    deadband_abs: float = 0.0
    deadband_pct: float = 0.0
    interval_s: float = 60.0
    max_gap_s: float | None = None


UNIT_DEADBANDS: dict[str, float] = {
    "W": 1.0,
    "var": 1.0,
    "A": 0.01,
    "V": 0.1,
    "Hz": 0.001,
    "°C": 0.05,
    "%": 0.1,
    "m³/h": 0.001,
    "kg/h": 0.001,
    "ms": 1.0,
}
"""Default absolute deadbands for fast analog values, by unit symbol (below meter resolution
for the quantities a site reports)."""

ANALOG_MAX_GAP_S = 300.0


def default_policy(spec: PointSpec) -> RecordingPolicy:
    """The model's default: counters, setpoints, discrete, enum and info points record every
    change; analog values every change beyond a unit-based deadband, at least every 5 min."""
    if spec.kind is ValueKind.ANALOG:
        symbol = spec.unit.symbol if spec.unit else ""
        return RecordingPolicy(
            Mode.ON_CHANGE, deadband_abs=UNIT_DEADBANDS.get(symbol, 0.0), max_gap_s=ANALOG_MAX_GAP_S
        )
    return RecordingPolicy(Mode.ON_CHANGE)


def apply_overrides(policy: RecordingPolicy, overrides: list[PolicyOverride]) -> RecordingPolicy:
    """``policy`` with the set fields of each override applied in order."""
    for item in overrides:
        changes: dict[str, object] = {}
        if item.mode is not None:
            changes["mode"] = Mode(item.mode)
        for name in ("deadband_abs", "deadband_pct", "interval_s", "max_gap_s"):
            value = getattr(item, name)
            if value is not None:
                changes[name] = value
        if item.deadband_abs is not None and item.deadband_pct is None:
            changes["deadband_pct"] = 0.0
        if item.deadband_pct is not None and item.deadband_abs is None:
            changes["deadband_abs"] = 0.0
        policy = replace(policy, **changes)  # type: ignore[arg-type]
    return policy


def deadband_width(policy: RecordingPolicy, spec: PointSpec) -> float:
    """The absolute deadband the policy means for this point (0 = any change)."""
    width = policy.deadband_abs
    if policy.deadband_pct and spec.value_range:
        low, high = spec.value_range
        width = max(width, abs(high - low) * policy.deadband_pct / 100.0)
    return width


def exceeds(value: float, last: float | None, width: float) -> bool:
    """Whether ``value`` differs from the last recorded value by more than the deadband."""
    if last is None or math.isnan(last) != math.isnan(value):
        return True
    if width <= 0.0:
        return value != last
    return abs(value - last) > width
