"""The day-ahead plan: a linear programme over the price horizon, solved with HiGHS (scipy).

Per slot ``t`` (length ``dt`` h) the variables are grid import and export, battery charge and
discharge (W, the site's batteries as one), PV curtailment, the stored energy at the end of the
slot (Wh), each vehicle's charging power, a heating rod's and a heat pump's power, an
electrolyser's and a CHP unit's power and on/off state. Constraints:

* balance: ``pv − curtail + import + discharge = load + charge + export + Σ vehicles + rod``;
* storage: ``E_t = E_{t−1} + η·charge·dt − discharge·dt/η``, ``reserve ≤ E_t ≤ capacity``;
* grid: ``import ≤ grid_import_limit_w``, ``export ≤ feed_in_limit_w``;
* demand charge (where ``demand_charge_per_kw`` > 0): ``import_t ≤ peak`` for every slot, with
  ``peak ≥ peak_floor_w`` (the peak the billing period already has) and the peak costing
  ``demand_charge_per_kw`` per kW; the plan's ``peak_import_w`` then bounds the real-time import;
* vehicles: power only until departure (and, for a car expected to arrive, from its arrival),
  energy by departure (a shortfall is allowed at a high penalty, so an impossible target gives
  the best effort and says so); a vehicle without a target (``surplus``: a Surplus mode) takes
  the PV surplus only, ``Σ surplus vehicles ≤ pv − load`` (never grid, as its real-time control
  does), up to the energy it has room for, each kWh worth what stored energy is worth; with
  ``battery_to_vehicles`` false the batteries give at most the other consumption,
  ``discharge ≤ load + rod + heat pump``;
* heating rod and heat pump: the energy their heat demand needs within the horizon, at most
  their power (the store shifts it in time);
* each electrolyser and each CHP / fuel cell: off, or between its minimum and maximum power
  (binary on/off per unit, so the problem becomes a MILP); hydrogen has a value per kWh, CHP
  fuel a cost per kWh. Several units are planned one by one (``FlexUnit``), not as one.

The objective is the energy cost ``Σ (import_price·import − export_price·export)·dt`` (plus the
demand charge on the peak) less the value of the energy stored at the end of the horizon
(``stored_value_per_kwh``: what it will save the next day, so the plan does not empty the battery
because its price data ends), plus a tiny cost per kWh cycled. Negative prices are handled by the
same LP: importing earns money, so the plan charges and, where allowed, curtails PV rather than
export at a loss. Powers W, energies Wh, prices per kWh (+ cost).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

SHORTFALL_COST = 5.0
"""Penalty per kWh of a vehicle's energy not delivered by departure (currency/kWh)."""
MIP_GAP = 0.01
"""A MILP plan within 1 % of the optimum is good enough (forecasts are far less exact)."""
MIP_TIME_LIMIT_S = 1.5
"""The MILP stops here with the best plan found so far (status says so): a plan in time beats a
perfect one too late."""
CYCLE_COST = 0.002
"""Cost per kWh through the battery (wear; breaks ties between equal plans)."""


@dataclass(frozen=True, slots=True)
class VehicleNeed:
    """A vehicle's wish: ``energy_wh`` by ``departure``, at most ``max_w`` while plugged in;
    ``delivered_wh``: its session energy when the need was taken (a re-plan subtracts what
    came since); ``surplus``: no target, PV only."""

    id: str
    energy_wh: float
    departure: datetime
    max_w: float
    delivered_wh: float = 0.0
    surplus: bool = False
    """No target (a Surplus mode): it may take PV only, up to ``energy_wh`` (the room it has),
    by ``departure``; what it takes is worth the plan's ``stored_value_per_kwh``."""
    at_once: bool = False
    """A ``Fast`` / ``FastOnce`` car: it takes ``max_w`` from now until ``energy_wh`` is in (as
    the real-time control charges it), a fixed load the plan cannot move but can cover."""
    arrival: datetime | None = None
    """When an expected car plugs in (``None``: it is connected): no power before, and a slot
    it arrives in offers the part of it after the arrival."""


@dataclass(frozen=True, slots=True)
class FlexUnit:
    """One electrolyser (``kind`` ``electrolyser``, consumes) or CHP / fuel cell (``chp``,
    produces): off, or between ``min_w`` and ``max_w``."""

    id: str
    kind: str
    min_w: float
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
        heat_pump_max_w / heat_pump_energy_wh: a heat pump's electrical power and the energy its
            heat demand needs over the horizon (shifted by SG-Ready and its store).
        electrolyser_min_w / electrolyser_max_w / hydrogen_value_per_kwh: its operating range
            (off or at least the minimum) and what its hydrogen is worth per kWh consumed.
        chp_min_w / chp_rated_w / chp_fuel_cost_per_kwh: a CHP or fuel cell (off or between
            minimum and rated power) and its fuel cost per kWh of electricity.
        units: the electrolysers and CHP units one by one; when given, they replace the
            single unit of ``electrolyser_*`` / ``chp_*`` (whose value and cost still apply).
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
    heat_pump_max_w: float = 0.0
    heat_pump_energy_wh: float = 0.0
    electrolyser_min_w: float = 0.0
    electrolyser_max_w: float = 0.0
    hydrogen_value_per_kwh: float = 0.0
    chp_min_w: float = 0.0
    chp_rated_w: float = 0.0
    chp_fuel_cost_per_kwh: float = 0.0
    units: tuple[FlexUnit, ...] = ()
    demand_charge_per_kw: float = 0.0
    """What a kW of the highest import costs within the horizon (per kW; 0: no demand charge):
    a monthly demand charge's share of one day, charge per kW·month / days of the month."""
    peak_floor_w: float = 0.0
    """The highest 15-minute mean import the billing period already has, W: import up to it
    adds no charge."""
    battery_to_vehicles: bool = True
    """The batteries may discharge into vehicles (false: at most the other consumption, load,
    heating rod and heat pump, like evcc's battery lock)."""
    stored_value_per_kwh: float | None = None
    """What a kWh in the batteries at the end of the horizon is worth (``None``: the mean import
    price of the horizon times the efficiency). ``schedule.inputs_from`` sets a day's mean import
    price (the 24 hours of known prices up to the horizon's end) times the efficiency: the same
    value at every re-plan of the day, however short the rest of the horizon is."""

    @property
    def slots(self) -> int:
        return len(self.import_price)

    def flex_units(self) -> tuple[FlexUnit, ...]:
        """The electrolysers and CHP units to plan, one by one."""
        if self.units:
            return self.units
        found = []
        if self.electrolyser_max_w > 0:
            found.append(
                FlexUnit("electrolyser", "electrolyser", self.electrolyser_min_w,
                         self.electrolyser_max_w)
            )  # fmt: skip
        if self.chp_rated_w > 0:
            found.append(FlexUnit("chp", "chp", self.chp_min_w, self.chp_rated_w))
        return tuple(found)


@dataclass
class Plan:
    """The solved plan, per slot (W; ``battery_w`` + discharge, ``grid_w`` + import).

    ``status`` starts with ``optimal`` (solved; a MILP within its 1 % gap) or ``time-limited``
    (the MILP stopped at its time limit; ``gap`` says how far from the bound the plan may be);
    both are plans to follow (``usable``). ``unit_w`` holds each electrolyser's and CHP unit's
    power by id; ``electrolyser_w`` / ``chp_w`` are their totals.
    """

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
    heat_pump_w: list[float] = field(default_factory=list)
    electrolyser_w: list[float] = field(default_factory=list)
    chp_w: list[float] = field(default_factory=list)
    import_price: list[float] = field(default_factory=list)
    shortfall_wh: dict[str, float] = field(default_factory=dict)
    unit_w: dict[str, list[float]] = field(default_factory=dict)
    gap: float | None = None
    """The MILP's relative gap when it stopped (``None``: an LP, or unknown)."""
    peak_import_w: float | None = None
    """The peak import the plan chose against the demand charge, W (``None``: no demand charge);
    the real-time control keeps the import below it (``ControlCycle``)."""
    inputs: PlanInputs | None = field(default=None, repr=False, compare=False)
    """What it was solved from (a re-plan starts from them)."""

    @property
    def usable(self) -> bool:
        """A plan to follow: solved, or stopped at the time limit with a feasible plan."""
        return bool(self.grid_w) and self.status.startswith(("optimal", "time-limited"))

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
            "heat_pump_w": [round(v) for v in self.heat_pump_w],
            "electrolyser_w": [round(v) for v in self.electrolyser_w],
            "chp_w": [round(v) for v in self.chp_w],
            "import_price": self.import_price,
            "shortfall_wh": self.shortfall_wh,
            "unit_w": {k: [round(v) for v in vs] for k, vs in self.unit_w.items()},
            "gap": self.gap,
            "peak_import_w": None if self.peak_import_w is None else round(self.peak_import_w),
        }


def solve(inputs: PlanInputs, time_limit_s: float | None = None) -> Plan:
    """Solve the plan (never raises for an infeasible case: the status says what happened).

    An LP (``linprog``) without an electrolyser or CHP; with them a MILP (``milp``): their
    on/off state per slot is binary (off, or between minimum and maximum power). The MILP stops
    after ``time_limit_s`` (default ``MIP_TIME_LIMIT_S``) with the best plan found, reported as
    time-limited with its gap.
    """
    # scipy here, not at the top: importing it takes most of a second, which the server's start-up
    # need not wait for (the first plan is solved in a worker thread).
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp
    from scipy.sparse import lil_matrix

    time_limit_s = MIP_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    started = time.perf_counter()
    n = inputs.slots
    if n == 0:
        return Plan(inputs.start, inputs.slot_s, "no prices")
    dt = inputs.slot_s / 3600.0
    vehicles = inputs.vehicles
    units = inputs.flex_units()
    # per slot: imp, exp, ch, dis, curt, soc, rod, hp, then power and on/off of each unit, then
    # ev_0..ev_k; after all slots one shortfall per vehicle
    IMP, EXP, CH, DIS, CURT, SOC, ROD, HP = range(8)
    UNITS = 8
    EV = UNITS + 2 * len(units)
    per = EV + len(vehicles)
    peaked = inputs.demand_charge_per_kw > 0
    PEAK = per * n + len(vehicles)  # after the shortfalls: the demand charge's peak, W
    count = per * n + len(vehicles) + (1 if peaked else 0)

    def var(t: int, k: int) -> int:
        return t * per + k

    cost = np.zeros(count)
    lower = np.zeros(count)
    upper = np.full(count, np.inf)
    integrality = np.zeros(count)
    eta = max(0.5, min(1.0, inputs.efficiency))
    cap = max(0.0, inputs.capacity_wh)
    reserve = cap * inputs.reserve_pct / 100.0
    soc0 = cap * min(100.0, max(0.0, inputs.soc_pct)) / 100.0
    mixed = bool(units)
    stored_value = inputs.stored_value_per_kwh
    if stored_value is None:
        stored_value = float(np.mean(inputs.import_price)) * eta
    stored_value = max(0.0, stored_value)  # per kWh
    surplus = [j for j, v in enumerate(vehicles) if v.surplus]

    def bound(index: int, low: float, high: float | None) -> None:
        lower[index], upper[index] = low, np.inf if high is None else high

    for t in range(n):
        cost[var(t, IMP)] = inputs.import_price[t] * dt / 1000.0
        cost[var(t, EXP)] = -inputs.export_price[t] * dt / 1000.0
        cost[var(t, CH)] = CYCLE_COST * dt / 1000.0
        cost[var(t, DIS)] = CYCLE_COST * dt / 1000.0
        bound(var(t, IMP), 0.0, inputs.grid_import_limit_w)
        bound(var(t, EXP), 0.0, inputs.feed_in_limit_w)
        bound(var(t, CH), 0.0, inputs.max_charge_w if cap > 0 else 0.0)
        bound(var(t, DIS), 0.0, inputs.max_discharge_w if cap > 0 else 0.0)
        bound(var(t, CURT), 0.0, max(0.0, inputs.pv_w[t]) if inputs.curtail else 0.0)
        bound(var(t, SOC), min(reserve, soc0), cap)
        bound(var(t, ROD), 0.0, inputs.rod_max_w)
        bound(var(t, HP), 0.0, inputs.heat_pump_max_w)
        for u, unit in enumerate(units):
            power, on = var(t, UNITS + 2 * u), var(t, UNITS + 2 * u + 1)
            value = (
                -inputs.hydrogen_value_per_kwh
                if unit.kind == "electrolyser"
                else inputs.chp_fuel_cost_per_kwh
            )
            cost[power] = value * dt / 1000.0
            bound(power, 0.0, unit.max_w)
            bound(on, 0.0, 1.0)
            integrality[on] = 1
        for j, v in enumerate(vehicles):
            slot_start = inputs.start + timedelta(seconds=t * inputs.slot_s)
            plugged = slot_start < v.departure
            present = 1.0  # the share of the slot the car is there
            if v.arrival is not None and v.arrival > slot_start:
                after = inputs.slot_s - (v.arrival - slot_start).total_seconds()
                present = max(0.0, after / inputs.slot_s)
            bound(var(t, EV + j), 0.0, v.max_w * present if plugged else 0.0)
            if v.at_once:  # full power until the energy is in: fixed
                before = min(v.energy_wh, v.max_w * dt * t) if plugged else v.energy_wh
                fixed = max(0.0, min(v.max_w, (v.energy_wh - before) / dt)) if plugged else 0.0
                bound(var(t, EV + j), fixed, fixed)
            if v.surplus:  # what a car without a target takes is worth stored energy
                cost[var(t, EV + j)] = -stored_value * dt / 1000.0
    for j in range(len(vehicles)):
        cost[per * n + j] = SHORTFALL_COST / 1000.0  # per Wh
    if peaked:
        cost[PEAK] = inputs.demand_charge_per_kw / 1000.0  # per W
        limit = inputs.grid_import_limit_w
        floor = max(0.0, inputs.peak_floor_w)
        bound(PEAK, floor if limit is None else min(floor, limit), limit)
    cost[var(n - 1, SOC)] -= stored_value / 1000.0  # stored energy keeps its value

    energy_rows = [
        (ROD, inputs.rod_energy_wh, inputs.rod_max_w),
        (HP, inputs.heat_pump_energy_wh, inputs.heat_pump_max_w),
    ]
    energy_rows = [row for row in energy_rows if row[1] > 0]
    a_eq = lil_matrix((2 * n + len(energy_rows), count))
    b_eq = np.zeros(2 * n + len(energy_rows))
    for t in range(n):
        # balance: imp - exp - ch + dis - curt - rod - hp - Σely + Σchp - Σev = load - pv
        for k, sign in ((IMP, 1), (EXP, -1), (CH, -1), (DIS, 1), (CURT, -1), (ROD, -1),
                        (HP, -1)):  # fmt: skip
            a_eq[t, var(t, k)] = sign
        for u, unit in enumerate(units):
            a_eq[t, var(t, UNITS + 2 * u)] = -1 if unit.kind == "electrolyser" else 1
        for j in range(len(vehicles)):
            a_eq[t, var(t, EV + j)] = -1
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
    for i, (k, energy, max_w) in enumerate(energy_rows):
        for t in range(n):
            a_eq[2 * n + i, var(t, k)] = dt
        b_eq[2 * n + i] = min(energy, max_w * dt * n)
    # inequalities: vehicles (need <= Σ ev dt + shortfall, Σ ev dt <= need); on/off ranges
    ub_rows = 2 * len(vehicles) + 2 * n * len(units) + (n if peaked else 0)
    ub_rows += n if surplus else 0
    locked = not inputs.battery_to_vehicles and bool(vehicles) and cap > 0
    ub_rows += n if locked else 0
    a_ub = lil_matrix((max(1, ub_rows), count))
    b_ub = np.zeros(max(1, ub_rows))
    row = 0
    for j, v in enumerate(vehicles):
        for t in range(n):
            a_ub[row, var(t, EV + j)] = -dt
            a_ub[row + 1, var(t, EV + j)] = dt
        a_ub[row, per * n + j] = -1
        no_minimum = v.surplus or v.at_once  # no target / a fixed profile
        b_ub[row] = 0.0 if no_minimum else -max(0.0, v.energy_wh)
        b_ub[row + 1] = max(0.0, v.energy_wh)
        row += 2
    for u, unit in enumerate(units):
        power, on = UNITS + 2 * u, UNITS + 2 * u + 1
        for t in range(n):
            a_ub[row, var(t, power)], a_ub[row, var(t, on)] = 1, -unit.max_w  # p <= max * on
            a_ub[row + 1, var(t, power)], a_ub[row + 1, var(t, on)] = -1, unit.min_w  # p >= min*on
            row += 2
    for t in range(n if peaked else 0):  # import_t - peak <= 0
        a_ub[row, var(t, IMP)], a_ub[row, PEAK] = 1, -1
        row += 1
    for t in range(n if surplus else 0):  # Σ surplus vehicles <= pv - load: surplus only
        for j in surplus:
            a_ub[row, var(t, EV + j)] = 1
        b_ub[row] = max(0.0, inputs.pv_w[t] - inputs.load_w[t])
        row += 1
    for t in range(n if locked else 0):  # dis - rod - hp <= load: never into a vehicle
        a_ub[row, var(t, DIS)], a_ub[row, var(t, ROD)], a_ub[row, var(t, HP)] = 1, -1, -1
        b_ub[row] = max(0.0, inputs.load_w[t])
        row += 1
    if mixed:
        result = milp(
            cost,
            constraints=[
                LinearConstraint(a_eq.tocsr(), b_eq, b_eq),
                LinearConstraint(a_ub.tocsr(), -np.inf, b_ub),
            ],
            integrality=integrality,
            bounds=Bounds(lower, upper),
            options={"time_limit": time_limit_s, "mip_rel_gap": MIP_GAP},
        )
    else:
        result = linprog(
            cost,
            A_ub=a_ub.tocsr() if ub_rows else None,
            b_ub=b_ub if ub_rows else None,
            A_eq=a_eq.tocsr(),
            b_eq=b_eq,
            bounds=list(zip(lower, [None if np.isinf(u) else u for u in upper], strict=True)),
            method="highs",
        )
    elapsed = time.perf_counter() - started
    in_time = result.status == 1 and mixed and result.x is not None
    if result.status == 1 and mixed and result.x is None:
        why = f"time-limited ({time_limit_s:g} s): no plan found"
        return Plan(inputs.start, inputs.slot_s, why, solve_time_s=elapsed)
    if (result.status != 0 and not in_time) or result.x is None:
        return Plan(
            inputs.start, inputs.slot_s, f"infeasible: {result.message}", solve_time_s=elapsed
        )
    x = result.x

    def series(k: int) -> list[float]:
        return [float(x[var(t, k)]) for t in range(n)]

    shortfall = {v.id: float(x[per * n + j]) for j, v in enumerate(vehicles)}
    status = "optimal"
    raw_gap = getattr(result, "mip_gap", None) if mixed else None
    gap = float(raw_gap) if raw_gap is not None and np.isfinite(raw_gap) else None
    if in_time:  # stopped at the limit: the best plan found, at most ``gap`` from the bound
        status = f"time-limited ({time_limit_s:g} s), gap " + (
            f"{gap:.1%}" if gap is not None else "unknown"
        )
    unit_w = {unit.id: series(UNITS + 2 * u) for u, unit in enumerate(units)}

    def total(kind: str) -> list[float]:
        return [sum(unit_w[u.id][t] for u in units if u.kind == kind) for t in range(n)]

    if any(s > 1.0 for s in shortfall.values()):
        status = f"{status}, vehicle energy short: " + ", ".join(
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
        curtail_w=series(CURT),
        vehicle_w={v.id: series(EV + j) for j, v in enumerate(vehicles)},
        rod_w=series(ROD),
        heat_pump_w=series(HP),
        electrolyser_w=total("electrolyser"),
        chp_w=total("chp"),
        import_price=list(inputs.import_price),
        shortfall_wh=shortfall,
        unit_w=unit_w,
        gap=gap,
        peak_import_w=float(x[PEAK]) if peaked else None,
        inputs=inputs,
    )
