"""EV charging per charge point, in the modes of the ``ChargeMode`` node.

* ``Off``: no charging. ``Fast``: the largest current the grid connection allows.
  ``FastOnce``: as ``Fast``; when the vehicle leaves, the mode returns to the one before.
* ``Surplus``: only PV surplus; starts once the surplus covers the minimum current for
  ``start_delay_s``, stops once the grid import exceeds ``stop_margin_w`` at minimum current for
  ``stop_delay_s``. ``SurplusPlus``: as ``Surplus``, but the grid tops up to the minimum current
  while a vehicle is connected.
* ``CostOptimised``: ``Fast`` while the price is at or below ``max_price_per_kwh``, else
  ``Surplus``.

On plug-in, every mode but ``Off`` charges at full current for ``plug_in_check_s`` (does the vehicle
charge at all?). Stations that can switch phases go to one phase when the surplus carries the
minimum current on one phase but not on three, for ``phase_switch_delay_s``. Currents are A per
phase; power W, + consumption. DC chargers work the same way in W on ``ChargePowerLimit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ..config import ChargeMode, ChargePointConfig
from ..context import CycleContext
from ..demands import Demand, Priority, at_most, setpoint
from ..snapshot import Snapshot
from .base import Controller
from .limits import discharge_cover_w

CURRENT = "ChargeCurrentLimit"
MODE = "ChargeMode"
PHASES = "PhaseSetting"
"""Phase switching setpoint (1 or 3); not yet in the asset vocabulary."""


@dataclass
class ChargePointState:
    """What the controller remembers of one charge point between cycles."""

    connected: bool = False
    plugged_at: datetime | None = None
    enabled: bool = False
    """Surplus charging is on (between its start and stop)."""
    start_since: datetime | None = None
    stop_since: datetime | None = None
    phases: int = 3
    phase_since: datetime | None = None
    mode_before_fast_once: ChargeMode = ChargeMode.SURPLUS
    last_current_a: float = 0.0


def _held(since: datetime | None, now: datetime, condition: bool) -> datetime | None:
    """The start of a condition that holds now, or ``None``."""
    if not condition:
        return None
    return since or now


def _elapsed(since: datetime | None, now: datetime) -> float:
    return -1.0 if since is None else (now - since).total_seconds()


class EvChargingController(Controller):
    """All charge points, in the configured order (the first gets surplus first).

    Args:
        charge_points: their configs (``CostOptimised`` reads the price from the cycle context).
    """

    name = "ev-charging"

    def __init__(self, charge_points: tuple[ChargePointConfig, ...]) -> None:
        self.charge_points = charge_points
        self.assets = tuple(cp.id for cp in charge_points)
        self.states = {cp.id: ChargePointState(phases=cp.phases) for cp in charge_points}

    def grid_share_w(self, snapshot: Snapshot) -> float:
        return sum(snapshot.number(cp.id, "ActivePower") or 0.0 for cp in self.charge_points)

    def propose(self, ctx: CycleContext) -> None:
        for cp in self.charge_points:
            self._one(ctx, cp, self.states[cp.id])

    def _mode(self, ctx: CycleContext, cp: ChargePointConfig) -> ChargeMode:
        value = ctx.snapshot.number(cp.id, MODE)
        try:
            return ChargeMode(int(value)) if value is not None else cp.mode
        except ValueError:
            return cp.mode

    def _one(self, ctx: CycleContext, cp: ChargePointConfig, st: ChargePointState) -> None:
        s, now = ctx.snapshot, ctx.now
        mode = self._mode(ctx, cp)
        connected = bool(s.flag(cp.id, "VehicleConnected"))
        if mode is not ChargeMode.FAST_ONCE:
            st.mode_before_fast_once = mode
        if not connected:
            if st.connected and mode is ChargeMode.FAST_ONCE:
                back = st.mode_before_fast_once
                ctx.demand(
                    setpoint(f"{cp.id}.{MODE}", back, self.name, Priority.SURPLUS, "FastOnce done")
                )
            st.connected, st.plugged_at, st.enabled = False, None, False
            st.start_since = st.stop_since = None
            self._set(ctx, cp, st, 0.0, "no vehicle", s)
            return
        if not st.connected:
            st.connected, st.plugged_at = True, now
        if mode is ChargeMode.COST_OPTIMISED:
            price = ctx.price
            cheap = (
                price is not None
                and cp.max_price_per_kwh is not None
                and price <= cp.max_price_per_kwh
            )
            mode = ChargeMode.FAST if cheap else ChargeMode.SURPLUS
        checking = mode is not ChargeMode.OFF and 0 <= _elapsed(st.plugged_at, now) < (
            cp.plug_in_check_s
        )
        if mode is ChargeMode.OFF:
            self._set(ctx, cp, st, 0.0, "mode Off", s)
        elif checking or mode in (ChargeMode.FAST, ChargeMode.FAST_ONCE):
            st.phases = cp.phases
            why = "plug-in check" if checking else f"mode {mode.name.title().replace('_', '')}"
            # the check is a lower bound: a plan of lower value waits for it (it shows what the
            # car really takes, which the plan learns); grid limits above still cap it
            self._set(ctx, cp, st, cp.maximum, why, s, floor=checking)
        else:
            self._surplus(ctx, cp, st, plus=mode is ChargeMode.SURPLUS_PLUS)

    def _surplus(
        self, ctx: CycleContext, cp: ChargePointConfig, st: ChargePointState, plus: bool
    ) -> None:
        now = ctx.now
        available = ctx.grid_target_w - ctx.predicted_grid_w  # W this charge point may use
        planned = ctx.plan_vehicle_w.get(cp.id)
        if planned is not None and available > planned:  # the plan keeps its room for later
            available = planned
        self._switch_phases(ctx, cp, st, available)
        per_amp = cp.watts_per_unit(st.phases)
        min_w = cp.minimum * per_amp
        if not st.enabled:
            st.start_since = _held(st.start_since, now, available >= min_w + cp.start_margin_w)
            if plus or _elapsed(st.start_since, now) >= cp.start_delay_s:
                st.enabled, st.stop_since = True, None
        else:
            st.stop_since = _held(st.stop_since, now, available < min_w - cp.stop_margin_w)
            if not plus and _elapsed(st.stop_since, now) >= cp.stop_delay_s:
                st.enabled, st.start_since = False, None
        if not st.enabled:
            self._set(ctx, cp, st, 0.0, f"surplus {available:.0f} W below start", ctx.snapshot)
            return
        current = max(cp.minimum, min(cp.maximum, available / per_amp))
        why = "grid tops up to minimum" if plus and available < min_w else "PV surplus"
        self._set(ctx, cp, st, current, f"{why} {available:.0f} W", ctx.snapshot)

    def _switch_phases(
        self, ctx: CycleContext, cp: ChargePointConfig, st: ChargePointState, available: float
    ) -> None:
        if cp.dc or not cp.phase_switching or cp.phases != 3:
            return
        three_min = cp.min_current_a * cp.voltage_v * 3
        want = 3 if available >= three_min + cp.start_margin_w else 1
        st.phase_since = _held(st.phase_since, ctx.now, want != st.phases)
        if _elapsed(st.phase_since, ctx.now) >= cp.phase_switch_delay_s:
            st.phases, st.phase_since = want, None
        ctx.demand(
            setpoint(
                f"{cp.id}.{PHASES}", st.phases, self.name, Priority.SURPLUS, f"{st.phases} phases"
            )
        )

    def _set(
        self,
        ctx: CycleContext,
        cp: ChargePointConfig,
        st: ChargePointState,
        current: float,
        reason: str,
        s: Snapshot,
        floor: bool = False,
    ) -> None:
        resource = f"{cp.id}.{cp.setpoint}"
        low = current if floor else -math.inf
        ctx.demand(Demand(resource, self.name, Priority.SURPLUS, reason, current, low))
        per_amp = cp.watts_per_unit(st.phases)
        # the import limit discharges the batteries before it reduces a car (settle)
        headroom = ctx.grid_max_w - ctx.predicted_grid_w + discharge_cover_w(ctx)
        if current * per_amp > headroom:
            capped = max(0.0, headroom / per_amp)
            if capped < cp.minimum:
                capped = 0.0
            limit = f"import limit {ctx.grid_max_w:.0f} W"
            ctx.demand(
                at_most(resource, capped, "grid-import-limit", Priority.GRID_CONNECTION, limit)
            )
            current = capped
        ctx.planned[resource] = current
        measured = s.number(cp.id, "ActivePower") or 0.0
        commanded_w = current * per_amp
        if measured > 0 or st.last_current_a > 0:
            expected = min(commanded_w, measured)  # the vehicle may take less than allowed
        else:
            expected = commanded_w
        st.last_current_a = current
        ctx.add_grid(expected)
