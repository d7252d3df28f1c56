"""Batteries: self-consumption (grid to a target) or peak shaving, several shared by capacity.

Each battery keeps its reserve SoC (a device-limit demand: no discharge at or below it) and its
charge/discharge limits; the total is shared in proportion to capacity, what one battery cannot
take goes to the others. Battery power W: + discharge, − charge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import BatteryConfig
from ..context import CycleContext
from ..demands import Demand, Priority, at_most
from ..snapshot import Snapshot
from .base import Controller
from .limits import grid_import_limit_w, plan_sets_import_limit

SETPOINT = "BatteryPowerSetpoint"
FOLLOW_TOLERANCE_W = 200.0
"""A battery that charges this much less than asked is taken to be saturated."""


@dataclass(frozen=True, slots=True)
class BatteryRoom:
    """What one battery can do now: ``charge_w`` / ``discharge_w`` ≥ 0, ``capacity_wh``."""

    id: str
    charge_w: float
    discharge_w: float
    capacity_wh: float


def share_by_capacity(total_w: float, rooms: list[BatteryRoom]) -> dict[str, float]:
    """Split ``total_w`` (+ discharge) among batteries in proportion to capacity, within limits.

    Water-filling: a battery at its limit keeps it and the rest is shared among the others.
    """
    result = {room.id: 0.0 for room in rooms}
    left = total_w
    open_rooms = [r for r in rooms if (r.discharge_w if total_w > 0 else r.charge_w) > 0]
    while open_rooms and abs(left) > 1e-6:
        weight = sum(max(r.capacity_wh, 1.0) for r in open_rooms)
        saturated = []
        given = 0.0
        for room in open_rooms:
            limit = room.discharge_w if left > 0 else -room.charge_w
            want = result[room.id] + left * max(room.capacity_wh, 1.0) / weight
            value = min(want, limit) if left > 0 else max(want, limit)
            given += value - result[room.id]
            result[room.id] = value
            if value == limit:
                saturated.append(room)
        left -= given
        if not saturated:
            break
        open_rooms = [r for r in open_rooms if r not in saturated]
    return result


class BatteryController(Controller):
    """Self-consumption or peak shaving for all batteries.

    Args:
        batteries: the batteries.
        template: ``self-consumption`` or ``peak-shaving``.
    """

    def __init__(self, batteries: tuple[BatteryConfig, ...], template: str) -> None:
        self.batteries = batteries
        self.template = template
        self.name = "battery-" + template
        self.assets = tuple(b.id for b in batteries)
        self._rooms: list[BatteryRoom] = []
        self._total = 0.0
        """The battery power planned this cycle, W (+ discharge)."""
        self._priority = Priority.SELF_CONSUMPTION

    def grid_share_w(self, snapshot: Snapshot) -> float:
        return -sum(snapshot.number(b.id, "ActivePower") or 0.0 for b in self.batteries)

    def rooms(self, ctx: CycleContext) -> list[BatteryRoom]:
        """Each usable battery's room now; a battery at its reserve gets a no-discharge limit."""
        s = ctx.snapshot
        rooms = []
        for b in self.batteries:
            soc = s.number(b.id, "StateOfCharge")
            if soc is None:
                continue  # unknown SoC: the cycle's neutral value (idle) applies
            charge = _least(s.number(b.id, "MaxChargePower"), b.max_charge_w)
            discharge = _least(s.number(b.id, "MaxDischargePower"), b.max_discharge_w)
            if soc >= b.full_soc_pct:
                charge = 0.0
            measured = s.number(b.id, "ActivePower")
            asked = ctx.previous.get(f"{b.id}.{SETPOINT}")
            if measured is not None and asked is not None and asked < measured - FOLLOW_TOLERANCE_W:
                charge = min(charge, max(0.0, -measured) + FOLLOW_TOLERANCE_W)
            if soc <= max(b.reserve_soc_pct, b.empty_soc_pct):
                discharge = 0.0
                ctx.demand(
                    at_most(
                        f"{b.id}.{SETPOINT}",
                        0.0,
                        "battery-reserve",
                        Priority.DEVICE_LIMIT,
                        f"SoC {soc:.0f} % at the reserve of {b.reserve_soc_pct:.0f} %",
                    )
                )
            capacity = s.number(b.id, "Capacity") or 1.0
            rooms.append(BatteryRoom(b.id, charge, discharge, capacity))
        return rooms

    def propose(self, ctx: CycleContext) -> None:
        """Peak shaving plans everything here; self-consumption only charges from surplus here
        (later classes in the order may still use what it leaves) and discharges in ``settle``,
        against the whole plan, so the battery never funds surplus charging."""
        self._rooms = rooms = self.rooms(ctx)
        self._total = 0.0
        self._priority = Priority.SELF_CONSUMPTION
        if not rooms:
            return
        if self.template == "peak-shaving":
            total, self._priority, reason = self._peak_shaving(ctx)
            self._plan(ctx, total, self._priority, reason)
        else:
            surplus = min(0.0, ctx.predicted_grid_w - ctx.grid_target_w)
            reason = f"PV surplus, grid to {ctx.grid_target_w:.0f} W"
            bounds = [ctx.plan_battery_w.get(f"{r.id}.{SETPOINT}") for r in rooms]
            if bounds and all(b is not None for b in bounds):
                most = sum(b[0] for b in bounds if b is not None)  # W, − charge
                if surplus < most:  # the plan charges less now: the rest for the next in order
                    surplus = min(0.0, most)
                    reason += f" (the plan: charge ≤ {-surplus / 1000:.1f} kW)"
            self._plan(ctx, surplus, Priority.SELF_CONSUMPTION, reason)

    def settle(self, ctx: CycleContext) -> None:
        deficit = ctx.predicted_grid_w - ctx.grid_target_w
        if not self._rooms or deficit <= 0:
            return  # the plan's import is covered: less charging first, then discharge
        if self.template == "peak-shaving" and self._soc(ctx) <= ctx.strategy.peak_reserve_soc_pct:
            return  # the energy below the peak reserve is kept for peaks
        ctx.demands = [d for d in ctx.demands if d.owner != self.name]
        reason = f"grid to {ctx.grid_target_w:.0f} W"
        priority = self._priority
        self._plan(ctx, self._total + deficit, priority, reason)

    def _soc(self, ctx: CycleContext) -> float:
        """Capacity-weighted mean SoC of the usable batteries, %."""
        rooms = self._rooms
        total = sum(r.capacity_wh for r in rooms) or 1.0
        socs = {r.id: ctx.snapshot.number(r.id, "StateOfCharge") or 0.0 for r in rooms}
        return sum(socs[r.id] * r.capacity_wh for r in rooms) / total

    def _plan(self, ctx: CycleContext, total: float, priority: Priority, reason: str) -> None:
        """Share ``total`` (W, + discharge) among the batteries and plan it."""
        rooms = self._rooms
        total = max(-sum(r.charge_w for r in rooms), min(sum(r.discharge_w for r in rooms), total))
        shares = share_by_capacity(total, rooms)
        for room in rooms:
            value = shares[room.id]
            what = "discharging" if value > 0 else "charging" if value < 0 else "idle"
            # shaving a peak is a lower bound on discharge: a schedule's bound cannot cut it
            low = value if priority >= Priority.GRID_CONNECTION else -math.inf
            ctx.demand(
                Demand(
                    f"{room.id}.{SETPOINT}", self.name, priority, f"{what}: {reason}", value, low
                )
            )
            ctx.planned[f"{room.id}.{SETPOINT}"] = value
        ctx.add_grid(self._total - total)
        self._total = total

    def _peak_shaving(self, ctx: CycleContext) -> tuple[float, Priority, str]:
        """Discharge above the import limit; charge from surplus; recharge from the grid below
        ``limit - hysteresis`` while the SoC is under the peak reserve."""
        configured = grid_import_limit_w(ctx)
        assert configured is not None  # the config validates the strategy's limit
        limit = min(configured, ctx.grid_max_w)  # less the import limit's variability margin
        grid = ctx.predicted_grid_w
        if grid > limit:
            why = f"import above {limit:.0f} W"
            if plan_sets_import_limit(ctx):
                why += " (the plan's peak for the demand charge)"
            return grid - limit, Priority.GRID_CONNECTION, why
        if grid < ctx.grid_target_w:
            return grid - ctx.grid_target_w, Priority.SELF_CONSUMPTION, "PV surplus"
        recharge_below = limit - ctx.strategy.hysteresis_w
        reserve = ctx.strategy.peak_reserve_soc_pct
        if grid < recharge_below and self._soc(ctx) < reserve:
            return (
                grid - recharge_below,
                Priority.SELF_CONSUMPTION,
                (f"recharge to the peak reserve of {reserve:.0f} % below {recharge_below:.0f} W"),
            )
        return 0.0, Priority.SELF_CONSUMPTION, "held for peaks"


def _least(device: float | None, configured: float | None) -> float:
    values = [v for v in (device, configured) if v is not None]
    return max(0.0, min(values)) if values else 0.0
