"""The day-ahead plan: a linear programme over the price horizon, solved with HiGHS (scipy).

Per slot ``t`` (length ``dt`` h) the variables are grid import and export, battery charge and
discharge (W, the site's batteries as one), PV curtailment, the stored energy at the end of the
slot (Wh), each vehicle's charging power and a heating rod's power. Constraints:

* balance: ``pv − curtail + import + discharge = load + charge + export + Σ vehicles + rod``;
* storage: ``E_t = E_{t−1} + η·charge·dt − discharge·dt/η``, ``reserve ≤ E_t ≤ capacity``;
* grid: ``import ≤ grid_import_limit_w``, ``export ≤ feed_in_limit_w``;
* vehicles: power only until departure, energy by departure (a shortfall is allowed at a high
  penalty, so an impossible target gives the best effort and says so);
* heating rod: its daily energy within the horizon (``rod_energy_wh``), at most its power.

The objective is the energy cost ``Σ (import_price·import − export_price·export)·dt`` with the
stored energy at the end valued at the mean import price (so the plan does not empty the battery
because the horizon ends), plus a tiny cost per kWh cycled. Negative prices are handled by the
same LP: importing earns money, so the plan charges and, where allowed, curtails PV rather than
export at a loss. Powers W, energies Wh, prices per kWh (+ cost).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

SHORTFALL_COST = 5.0
"""Penalty per kWh of a vehicle's energy not delivered by departure (currency/kWh)."""
CYCLE_COST = 0.002
"""Cost per kWh through the battery (wear; breaks ties between equal plans)."""


@dataclass(frozen=True, slots=True)
class VehicleNeed:
    """A vehicle's wish: ``energy_wh`` by ``departure``, at most ``max_w`` while plugged in."""

    id: str
    energy_wh: float
    departure: datetime
    max_w: float


@dataclass(frozen=True)
class PlanInputs:
    """Everything the plan needs (W, Wh, %, per kWh).

    Attributes:
        start / slot_s: first slot's start (UTC) and slot length, s.
        import_price / export_price: per slot (export: what feeding in earns; may be negative).
        pv_w / load_w: forecasts per slot (mean W).
        capacity_wh / soc_pct / reserve_pct: the batteries together.
        max_charge_w / max_discharge_w / efficiency: their power limits and one-way efficiency.
        grid_import_limit_w / feed_in_limit_w: the grid connection's limits.
        curtail: PV may be curtailed.
        vehicles: energy wishes of connected vehicles.
        rod_max_w / rod_energy_wh: a heating rod's power and the energy it should take.
    """

    start: datetime
    slot_s: float
    import_price: list[float]
    export_price: list[float]
    pv_w: list[float]
    load_w: list[float]
    capacity_wh: float = 0.0
    soc_pct: float = 50.0
    reserve_pct: float = 10.0
    max_charge_w: float = 0.0
    max_discharge_w: float = 0.0
    efficiency: float = 0.95
    grid_import_limit_w: float | None = None
    feed_in_limit_w: float | None = None
    curtail: bool = True
    vehicles: tuple[VehicleNeed, ...] = ()
    rod_max_w: float = 0.0
    rod_energy_wh: float = 0.0

    @property
    def slots(self) -> int:
        return len(self.import_price)


@dataclass
class Plan:
    """The solved plan, per slot (W; ``battery_w`` + discharge, ``grid_w`` + import)."""

    start: datetime
    slot_s: float
    status: str
    objective: float = 0.0
    solve_time_s: float = 0.0
    grid_w: list[float] = field(default_factory=list)
    battery_w: list[float] = field(default_factory=list)
    soc_pct: list[float] = field(default_factory=list)
    curtail_w: list[float] = field(default_factory=list)
    vehicle_w: dict[str, list[float]] = field(default_factory=dict)
    rod_w: list[float] = field(default_factory=list)
    import_price: list[float] = field(default_factory=list)
    shortfall_wh: dict[str, float] = field(default_factory=dict)

    def slot_at(self, when: datetime) -> int | None:
        """Index of the slot covering ``when``, ``None`` outside the plan."""
        index = int((when - self.start).total_seconds() // self.slot_s)
        return index if 0 <= index < len(self.grid_w) else None

    def slot_end(self, index: int) -> datetime:
        return self.start + timedelta(seconds=(index + 1) * self.slot_s)

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "slot_s": self.slot_s,
            "status": self.status,
            "objective": round(self.objective, 4),
            "solve_time_s": round(self.solve_time_s, 4),
            "grid_w": [round(v) for v in self.grid_w],
            "battery_w": [round(v) for v in self.battery_w],
            "soc_pct": [round(v, 1) for v in self.soc_pct],
            "curtail_w": [round(v) for v in self.curtail_w],
            "vehicle_w": {k: [round(v) for v in vs] for k, vs in self.vehicle_w.items()},
            "rod_w": [round(v) for v in self.rod_w],
            "import_price": self.import_price,
            "shortfall_wh": self.shortfall_wh,
        }


def solve(inputs: PlanInputs) -> Plan:
    """Solve the plan (never raises for an infeasible case: the status says what happened)."""
    started = time.perf_counter()
    n = inputs.slots
    if n == 0:
        return Plan(inputs.start, inputs.slot_s, "no prices")
    dt = inputs.slot_s / 3600.0
    vehicles = inputs.vehicles
    # variable layout: per slot [imp, exp, ch, dis, curt, soc, rod, ev_0..ev_k]; then shortfalls
    per = 7 + len(vehicles)
    IMP, EXP, CH, DIS, CURT, SOC, ROD = range(7)
    count = per * n + len(vehicles)

    def var(t: int, k: int) -> int:
        return t * per + k

    cost = np.zeros(count)
    bounds: list[tuple[float, float | None]] = [(0.0, None)] * count
    eta = max(0.5, min(1.0, inputs.efficiency))
    cap = max(0.0, inputs.capacity_wh)
    reserve = cap * inputs.reserve_pct / 100.0
    soc0 = cap * min(100.0, max(0.0, inputs.soc_pct)) / 100.0
    for t in range(n):
        cost[var(t, IMP)] = inputs.import_price[t] * dt / 1000.0
        cost[var(t, EXP)] = -inputs.export_price[t] * dt / 1000.0
        cost[var(t, CH)] = CYCLE_COST * dt / 1000.0
        cost[var(t, DIS)] = CYCLE_COST * dt / 1000.0
        bounds[var(t, IMP)] = (0.0, inputs.grid_import_limit_w)
        bounds[var(t, EXP)] = (0.0, inputs.feed_in_limit_w)
        bounds[var(t, CH)] = (0.0, inputs.max_charge_w if cap > 0 else 0.0)
        bounds[var(t, DIS)] = (0.0, inputs.max_discharge_w if cap > 0 else 0.0)
        bounds[var(t, CURT)] = (0.0, max(0.0, inputs.pv_w[t]) if inputs.curtail else 0.0)
        bounds[var(t, SOC)] = (min(reserve, soc0), cap)
        bounds[var(t, ROD)] = (0.0, inputs.rod_max_w)
        for j, v in enumerate(vehicles):
            plugged = inputs.start + timedelta(seconds=t * inputs.slot_s) < v.departure
            bounds[var(t, 7 + j)] = (0.0, v.max_w if plugged else 0.0)
    for j in range(len(vehicles)):
        cost[per * n + j] = SHORTFALL_COST / 1000.0  # per Wh
    mean_price = float(np.mean(inputs.import_price))
    cost[var(n - 1, SOC)] -= max(0.0, mean_price) * eta / 1000.0  # stored energy keeps its value

    rows = 2 * n + (1 if inputs.rod_energy_wh > 0 else 0)
    a_eq = lil_matrix((rows, count))
    b_eq = np.zeros(rows)
    for t in range(n):
        # balance: imp - exp - ch + dis - curt - rod - Σev = load - pv
        a_eq[t, var(t, IMP)] = 1
        a_eq[t, var(t, EXP)] = -1
        a_eq[t, var(t, CH)] = -1
        a_eq[t, var(t, DIS)] = 1
        a_eq[t, var(t, CURT)] = -1
        a_eq[t, var(t, ROD)] = -1
        for j in range(len(vehicles)):
            a_eq[t, var(t, 7 + j)] = -1
        b_eq[t] = inputs.load_w[t] - inputs.pv_w[t]
        # storage: soc_t - soc_{t-1} - eta*ch*dt + dis*dt/eta = 0
        r = n + t
        a_eq[r, var(t, SOC)] = 1
        if t > 0:
            a_eq[r, var(t - 1, SOC)] = -1
        else:
            b_eq[r] = soc0
        a_eq[r, var(t, CH)] = -eta * dt
        a_eq[r, var(t, DIS)] = dt / eta
    if inputs.rod_energy_wh > 0:
        for t in range(n):
            a_eq[2 * n, var(t, ROD)] = dt
        b_eq[2 * n] = min(inputs.rod_energy_wh, inputs.rod_max_w * dt * n)
    # vehicles: need <= Σ ev dt + shortfall, and Σ ev dt <= need (a car takes no more)
    a_ub = lil_matrix((max(1, 2 * len(vehicles)), count))
    b_ub = np.zeros(max(1, 2 * len(vehicles)))
    for j, v in enumerate(vehicles):
        for t in range(n):
            a_ub[2 * j, var(t, 7 + j)] = -dt
            a_ub[2 * j + 1, var(t, 7 + j)] = dt
        a_ub[2 * j, per * n + j] = -1
        b_ub[2 * j] = -max(0.0, v.energy_wh)
        b_ub[2 * j + 1] = max(0.0, v.energy_wh)
    result = linprog(
        cost,
        A_ub=a_ub.tocsr() if vehicles else None,
        b_ub=b_ub if vehicles else None,
        A_eq=a_eq.tocsr(),
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
    )
    elapsed = time.perf_counter() - started
    if result.status != 0 or result.x is None:
        return Plan(
            inputs.start, inputs.slot_s, f"infeasible: {result.message}", solve_time_s=elapsed
        )
    x = result.x
    shortfall = {v.id: float(x[per * n + j]) for j, v in enumerate(vehicles)}
    status = "optimal"
    if any(s > 1.0 for s in shortfall.values()):
        status = "optimal, vehicle energy short: " + ", ".join(
            f"{k} {s / 1000:.1f} kWh" for k, s in shortfall.items() if s > 1.0
        )
    return Plan(
        start=inputs.start,
        slot_s=inputs.slot_s,
        status=status,
        objective=float(result.fun),
        solve_time_s=elapsed,
        grid_w=[float(x[var(t, IMP)] - x[var(t, EXP)]) for t in range(n)],
        battery_w=[float(x[var(t, DIS)] - x[var(t, CH)]) for t in range(n)],
        soc_pct=[float(x[var(t, SOC)] / cap * 100.0) if cap > 0 else 0.0 for t in range(n)],
        curtail_w=[float(x[var(t, CURT)]) for t in range(n)],
        vehicle_w={
            v.id: [float(x[var(t, 7 + j)]) for t in range(n)] for j, v in enumerate(vehicles)
        },
        rod_w=[float(x[var(t, ROD)]) for t in range(n)],
        import_price=list(inputs.import_price),
        shortfall_wh=shortfall,
    )
