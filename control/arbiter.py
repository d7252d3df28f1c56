"""The arbiter: one rule for every resource.

A demand may carry a *range* (``low``..``high``, a limit) and a *target* (a value it asks for).
The rule, the same for every resource:

1. **Ranges combine across every priority.** Demands are taken highest priority first (ties: the
   order they were made); each narrows the allowed range as far as it is compatible with the
   higher ones (an incompatible part is cut off: a lower priority never widens what a higher one
   allowed, and never moves a value outside it). So the allowed upper bound is the lowest upper
   bound of all demands that apply, the lower bound likewise. A limit is a bound, not a target:
   the plan's curtailment (priority ``SCHEDULE``) still lowers a PV limit that the feed-in limit
   (priority ``FEED_IN_LIMIT``) sets higher.
2. **Values only where no higher priority sets one.** The target of the highest-priority demand
   that has one is the wanted value (the resource's neutral value if none has); it is clamped
   into the combined range.
3. **A command is a pinned range.** A demand that must hold whatever lower priorities want (a
   marketer's or operator's setpoint, a fail-safe state) sets ``low = high = target``; lower
   bounds then cannot move it (their incompatible part is cut off).
4. **The device last.** The device's range and ramp rate apply; a ramp never delays a limit of
   feed-in priority or above, which acts at once.

The decision names the owner of the target and, when a bound moved the value away from it, the
owner of that bound (``limited_by``); its ``reason`` then describes the value written (the
bound's reason), with the proposal only as a note, so an operator never reads "discharging" next
to a charging setpoint.
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
    """Resolve the demands on one resource (already filtered for expiry), by the module's rule."""
    ordered = sorted(demands, key=lambda d: -d.priority)
    low, high = spec.low, spec.high
    hard_low, hard_high = spec.low, spec.high  # limits that a ramp must not delay
    binding_low: Demand | None = None
    binding_high: Demand | None = None
    chosen: Demand | None = None
    for demand in ordered:
        # a bound cut off where a higher priority's opposite bound holds: that one binds
        if demand.low > low:
            low, binding_low = (
                min(demand.low, high),
                (demand if demand.low <= high else binding_high),
            )
        if demand.high < high:
            high, binding_high = (
                max(demand.high, low),
                (demand if demand.high >= low else binding_low),
            )
        if demand.priority >= Priority.FEED_IN_LIMIT:
            hard_low, hard_high = low, high
        if chosen is None and demand.target is not None:
            chosen = demand
    wanted = chosen.target if chosen is not None and chosen.target is not None else spec.neutral
    value = min(high, max(low, wanted))
    binding = None
    if value > wanted:
        binding = binding_low
    elif value < wanted:
        binding = binding_high
    if binding is chosen:
        binding = None  # its own range: the value is still what it asked for
    limited_by = binding.owner if binding is not None else None
    if previous is not None and spec.ramp_per_s is not None and math.isfinite(previous):
        step = spec.ramp_per_s * dt_s
        ramped = min(previous + step, max(previous - step, value))
        value = min(hard_high, max(hard_low, ramped))
    if chosen is None:
        reason = binding.reason if binding is not None else "no demand"
        return Decision(spec.resource, value, "neutral", None, reason, limited_by)
    reason = chosen.reason
    if binding is not None:
        reason = f"{binding.reason} ({chosen.owner} asked {wanted:g}: {chosen.reason})"
    return Decision(spec.resource, value, chosen.owner, chosen.priority, reason, limited_by)
