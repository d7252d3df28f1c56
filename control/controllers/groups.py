"""Charging groups (AMPERIX "LIS"): charge points behind one fuse share its current per phase.

The EV controller plans each charge point's wish; a group caps them so that no phase carries
more than the fuse: the highest priority first, members of one priority get an equal share
(water-filling: what one does not need goes to the others), and a share below a charge point's
minimum current becomes 0. The caps are grid-connection demands, so an operator sees the group
as the owner of a reduced current. Currents A per phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ChargePointConfig, ChargingGroupConfig
from ..context import CycleContext
from ..demands import Priority, at_most
from ..strategy_time import in_window, local_time
from .base import Controller
from .ev import CURRENT

PHASES = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class Wish:
    """A charge point's planned current (A), its minimum (A) and the phases it draws on."""

    id: str
    current_a: float
    min_a: float
    phases: tuple[int, ...]


def _fill(wishes: list[Wish], room: Mapping[int, float]) -> dict[str, float]:
    """Max-min fair shares (progressive filling): all members rise together; a member stops at
    its wish or when a phase it draws on is full, the others go on."""
    left = dict(room)
    alloc = {w.id: 0.0 for w in wishes}
    active = [w for w in wishes if w.current_a > 0]
    while active:
        users = {p: sum(p in w.phases for w in active) for p in PHASES}
        step = min(
            min(w.current_a - alloc[w.id] for w in active),
            min(left[p] / n for p, n in users.items() if n),
        )
        for w in active:
            alloc[w.id] += step
        for p, n in users.items():
            left[p] -= step * n
        full = {p for p in PHASES if left[p] <= 1e-9}
        active = [
            w
            for w in active
            if alloc[w.id] < w.current_a - 1e-9 and not full.intersection(w.phases)
        ]
    return alloc


def share_fuse(
    wishes: list[Wish], fuse_a: float, priorities: Mapping[str, int]
) -> dict[str, float]:
    """Currents per charge point within ``fuse_a`` per phase."""
    room = dict.fromkeys(PHASES, fuse_a)
    result: dict[str, float] = {}
    for level in sorted({priorities.get(w.id, 0) for w in wishes}, reverse=True):
        members = [w for w in wishes if priorities.get(w.id, 0) == level and w.current_a > 0]
        shares = _fill(members, room)
        while starved := [w for w in members if shares[w.id] < w.min_a]:
            # the member with the largest minimum yields first; the rest share again
            drop = max(starved, key=lambda w: (w.min_a * len(w.phases), w.id))
            result[drop.id] = 0.0
            members.remove(drop)
            shares = _fill(members, room)
        for w in members:
            result[w.id] = shares[w.id]
            for p in w.phases:
                room[p] -= shares[w.id]
    for w in wishes:
        result.setdefault(w.id, 0.0)
    return result


class ChargingGroupController(Controller):
    """All charging groups; runs after the EV controller and caps its plan."""

    name = "charging-groups"

    def __init__(
        self, groups: tuple[ChargingGroupConfig, ...], charge_points: tuple[ChargePointConfig, ...]
    ) -> None:
        self.groups = groups
        self.points = {cp.id: cp for cp in charge_points if not cp.dc}  # amps per phase: AC

    def settle(self, ctx: CycleContext) -> None:
        for group in self.groups:
            window = group.between
            if window and not in_window(local_time(ctx.now, ctx.config.time_zone), window):
                continue
            wishes = [self._wish(ctx, cp_id) for cp_id in group.members if cp_id in self.points]
            shares = share_fuse(wishes, group.fuse_a, group.priorities)
            owner = f"charging-group:{group.id}"
            for w in wishes:
                share = shares[w.id]
                if share >= w.current_a - 1e-9:
                    continue
                cp = self.points[w.id]
                reason = f"fuse {group.fuse_a:.0f} A per phase shared"
                resource = f"{w.id}.{CURRENT}"
                ctx.demand(at_most(resource, share, owner, Priority.GRID_CONNECTION, reason))
                ctx.planned[resource] = share
                ctx.add_grid(-(w.current_a - share) * cp.voltage_v * len(w.phases))

    def _wish(self, ctx: CycleContext, cp_id: str) -> Wish:
        cp = self.points[cp_id]
        current = ctx.planned.get(f"{cp_id}.{CURRENT}", 0.0)
        in_use = ctx.snapshot.number(cp_id, "PhasesInUse")
        phases = cp.phases if in_use is None else (1 if in_use < 2 else 3)
        drawn = PHASES if phases == 3 else (cp.phase,)
        return Wish(cp_id, current, cp.min_current_a, drawn)
