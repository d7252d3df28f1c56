"""The arbiter: one rule for every resource.

Demands are taken highest priority first (ties: the order they were made). Each narrows the allowed
range as far as it is compatible with the higher ones (an incompatible part is cut off: a lower
priority never widens what a higher one allowed). The first demand with a target sets the value,
clamped into the range the demands of its priority and above allow; demands below it only matter if
nobody asked for a value, then the resource's neutral value is clamped into the final range. Last,
the device's range and ramp rate apply; a ramp never delays a limit of feed-in priority or above,
which act at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .demands import Demand, Priority


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """What the device allows for one setpoint.

    Attributes:
        resource: ``<asset>.<Setpoint>``.
        low / high: the device's range, in the setpoint's unit.
        neutral: the value when nobody asks for one (battery 0 W, PV limit = nominal power).
        ramp_per_s: the largest change per second (``None``: any).
    """

    resource: str
    low: float
    high: float
    neutral: float
    ramp_per_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What a resource gets this cycle and why (the operator sees owner and reason).

    Attributes:
        value: the setpoint to write.
        owner: whose demand set the value (``neutral`` if nobody's did).
        priority: that demand's class (``None`` for the neutral value).
        reason: that demand's reason.
        limited_by: the owner whose limit clamped the value, if one did.
    """

    resource: str
    value: float
    owner: str
    priority: Priority | None
    reason: str
    limited_by: str | None = None


def arbitrate(
    spec: ResourceSpec,
    demands: Iterable[Demand],
    previous: float | None = None,
    dt_s: float = 1.0,
) -> Decision:
    """Resolve the demands on one resource (already filtered for expiry)."""
    ordered = sorted(demands, key=lambda d: -d.priority)
    low, high = spec.low, spec.high
    hard_low, hard_high = spec.low, spec.high  # limits that a ramp must not delay
    binding_low: str | None = None
    binding_high: str | None = None
    chosen: Demand | None = None
    for demand in ordered:
        if chosen is not None and demand.priority < chosen.priority:
            break
        if demand.low > low:
            low, binding_low = min(demand.low, high), demand.owner
        if demand.high < high:
            high, binding_high = max(demand.high, low), demand.owner
        if demand.priority >= Priority.FEED_IN_LIMIT:
            hard_low, hard_high = low, high
        if chosen is None and demand.target is not None:
            chosen = demand
    wanted = chosen.target if chosen is not None and chosen.target is not None else spec.neutral
    value = min(high, max(low, wanted))
    limited_by = None
    if value > wanted:
        limited_by = binding_low
    elif value < wanted:
        limited_by = binding_high
    if previous is not None and spec.ramp_per_s is not None and math.isfinite(previous):
        step = spec.ramp_per_s * dt_s
        ramped = min(previous + step, max(previous - step, value))
        value = min(hard_high, max(hard_low, ramped))
    if chosen is None:
        return Decision(spec.resource, value, "neutral", None, "no demand", limited_by)
    return Decision(spec.resource, value, chosen.owner, chosen.priority, chosen.reason, limited_by)
