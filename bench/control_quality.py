"""Control quality: Ampacity's control next to baselines and the perfect-foresight optimum.

    python bench/control_quality.py [SCENARIO.yaml | name ...] [--step 60] [--slot-min 5]
                                    [--hours H] [--ev-penalty 1.0] [--json]

For each scenario (by default the synthetic ones in ``deploy/scenarios/`` and the measured ones in
``deploy/scenarios/measured/``), the same simulated day under four policies:

* ``no-control`` — no energy manager: the battery's own self-consumption control, PV unlimited,
  chargers at full current;
* ``rule`` — evcc's charge modes as it documents them (``scenarios/baselines.py``: PV, Min+PV,
  the charging plan in the cheapest slots before departure; no battery setpoints, no curtailment);
* ``ampacity`` — the real control cycle without a day-ahead plan;
* ``ampacity+plan`` — with the day-ahead plan (forecasts from what the site knew before the day:
  PV history of the days before, load of earlier weeks; never the day's own values).

and the **optimum**: the same day as a linear programme with perfect foresight (HiGHS via
``scipy.optimize.linprog``) over ``--slot-min`` slots: the load, the PV the sky offered and the
heat demand as the simulation had them (recorded in the no-control run: they do not depend on
any policy), the batteries with their limits and efficiencies, every vehicle visit within its
plug-in window at its own power, the feed-in and import limits, the demand charge on the highest
15-minute import. It does not look at any policy's run.

Every policy is scored the same way, the optimum included: money for the day (import at the
tariff, less export revenue, plus the day's share of a demand charge), less what the day leaves
in store at the day's mean import price (the energy the batteries and the heat store gained, the
energy given to vehicles without a target: in a surplus mode, or still plugged in at the end),
plus the energy a vehicle with a target lacked at departure — as far as the target was reachable
at the vehicle's power in its plug-in time — at ``--ev-penalty`` per kWh (1.00 EUR by default:
dearer than any import price in the scenarios, so missing a target never pays). A vehicle has a
target when it leaves within the day in a mode that asks for its energy (``Fast``, ``FastOnce``,
``CostOptimised``); in ``Surplus`` and ``SurplusPlus`` it takes what the sun offers, and the
optimum gives such vehicles no more than the PV produces.

``--json`` prints exactly one JSON object instead of the table::

    {"step_s": S, "ev_penalty_per_kwh": P, "scenarios": [{"name": N, "optimum_cost_eur": X,
     "policies": {POLICY: {"cost_eur": C, "ratio": R or null, "delta_eur": D,
     "violations": {"count": K, "seconds": S, "kwh": E}, "ev_delivered_kwh": V,
     "ev_target_kwh": W}}}]}

``ratio`` is cost / optimum where the optimum costs money (null where it earns).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from ampacity.control import ChargeMode, ControlCycle
from ampacity.control.schedule import PlannerConfig
from ampacity.scenarios.runner import (
    TARGET_MODES,
    AmpacityPolicy,
    Kpis,
    Policy,
    Scenario,
    available_pv_w,
    heat_pump_of,
    load_scenario,
    measured_scenarios,
    modes_at,
    no_control_policy,
    run_scenario,
    shipped_scenarios,
    surplus_rule_policy,
    with_step,
)
from ampacity.sim.ev import NOMINAL_VOLTAGE_V
from ampacity.sim.site import SitePhysics
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

EV_PENALTY_PER_KWH = 1.00
"""What a kWh a vehicle lacks at departure costs in the score (see the module's description)."""
LIMIT_PENALTY_PER_KWH = 1000.0
"""The optimum's price for energy beyond a feed-in or import limit (it keeps them if it can,
also by letting a ``Fast`` car wait for hours; not counted as cost)."""
LATE_PENALTY_PER_KWH = 1.0
"""The optimum's price per kWh and slot a ``Fast`` car is behind charging at full power from
arrival: far below the limit penalty, above any price difference between two slots — it waits
only where a limit leaves no other way, as the real-time control's load reduction does; not
counted as cost."""
DEMAND_INTERVAL_S = 900.0
ETA = 0.95
"""The simulated batteries' charge and discharge efficiency (``BatterySim``'s defaults)."""

POLICIES = ("no-control", "rule", "ampacity", "ampacity+plan")


@dataclass
class DayTrace:
    """What the simulated day offered, per step: load W, available PV W, vehicle visits."""

    step_s: float
    load_w: list[float] = field(default_factory=list)
    pv_available_w: list[float] = field(default_factory=list)
    connected: dict[str, list[bool]] = field(default_factory=dict)
    wanted_wh: dict[str, list[float]] = field(default_factory=dict)
    max_power_w: dict[str, list[float]] = field(default_factory=dict)

    def record(self, when: datetime, p: SitePhysics) -> None:
        self.load_w.append(p.load_w)
        start = when - timedelta(seconds=self.step_s)
        self.pv_available_w.append(available_pv_w(p, start, when))
        for cp_id, cp in p.chargers.items():
            plan = cp.plan if cp.connected else None
            self.connected.setdefault(cp_id, []).append(plan is not None)
            self.wanted_wh.setdefault(cp_id, []).append(plan.energy_wh if plan else 0.0)
            power = 0.0
            if plan is not None:
                power = NOMINAL_VOLTAGE_V * plan.phases * min(16.0, plan.max_current_a)
            self.max_power_w.setdefault(cp_id, []).append(power)


@dataclass(frozen=True, slots=True)
class Visit:
    """A plug-in window in slots ``[first, last)``: energy wanted, power; ``target``: it ends
    within the day in a mode that asks for the energy (else what it gets is valued like stored
    energy); ``surplus``: in a surplus mode (it may only take what the PV produces)."""

    first: int
    last: int
    energy_wh: float
    power_w: float
    target: bool
    surplus: bool
    at_once_w: tuple[float, ...] = ()
    """In ``Fast``/``FastOnce`` mode: the mean power per slot of charging at full power from
    arrival until the energy is in, W (what every policy must do; empty otherwise)."""


AT_ONCE_MODES = (ChargeMode.FAST, ChargeMode.FAST_ONCE)
"""Modes in which a vehicle charges at once at full power: the optimum may not move it."""


def _at_once(trace: DayTrace, cp_id: str, start: int, end: int, slot_steps: int, n: int):
    """Full power from step ``start`` until the energy is in (or ``end``), per slot, W."""
    per_step = [0.0] * (n * slot_steps)
    left_wh = trace.wanted_wh[cp_id][start]
    power = trace.max_power_w[cp_id][start]
    step_h = trace.step_s / 3600.0
    for i in range(start, min(end, n * slot_steps)):
        if left_wh <= 0:
            break
        per_step[i] = min(power, left_wh / step_h)
        left_wh -= per_step[i] * step_h
    return tuple(float(x) for x in np.array(per_step).reshape(n, slot_steps).mean(axis=1))


def _visits(scenario: Scenario, trace: DayTrace, slot_steps: int, n: int) -> list[Visit]:
    found = []
    for cp_id, flags in trace.connected.items():
        start = None
        for i, on in enumerate([*flags, False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                ends = i < len(flags)
                mode = modes_at(scenario, i * trace.step_s / 3600).get(cp_id, ChargeMode.SURPLUS)
                energy = trace.wanted_wh[cp_id][start]
                power = trace.max_power_w[cp_id][start]
                first, last = start // slot_steps, min(n, -(-i // slot_steps))
                targeted = mode in TARGET_MODES
                arrival_mode = modes_at(scenario, start * trace.step_s / 3600).get(cp_id)
                at_once = ()
                if arrival_mode in AT_ONCE_MODES and mode in AT_ONCE_MODES:
                    at_once = _at_once(trace, cp_id, start, i, slot_steps, n)
                found.append(
                    Visit(first, last, energy, power, ends and targeted, not targeted, at_once)
                )
                start = None
    return found


def mean_import_price(scenario: Scenario) -> float:
    """The day's mean import price per kWh (the value of stored energy)."""
    hours = max(1, round(scenario.hours))
    return sum(scenario.tariff.import_price_at(h * 3600.0) for h in range(hours)) / hours


def score(scenario: Scenario, k: Kpis, ev_penalty: float) -> float:
    """A run's cost as the module's description defines it."""
    price = mean_import_price(scenario)
    ev_kwh = (k.ev_open_delivered_wh + k.ev_untargeted_wh) / 1000
    stored_kwh = (k.battery_stored_delta_wh + k.heat_store_end_wh) / 1000 + ev_kwh
    return k.cost - stored_kwh * price + k.ev_missing_wh / 1000.0 * ev_penalty


@dataclass(frozen=True, slots=True)
class Optimum:
    cost: float
    self_consumption_pct: float
    peak_import_w: float
    ev_target_wh: float
    slots: dict[str, list[float]] = field(default_factory=dict)
    """Per slot: ``import``/``export``/``battery`` (+ discharge)/``pv``/``ev``/``heat_pump``
    W and ``stored`` Wh at the slot's end (``--diagnose`` prints them per hour)."""


def optimum(
    scenario: Scenario,
    trace: DayTrace,
    slot_min: float,
    ev_penalty: float,
    end_wh: tuple[float, float] | None = None,
) -> Optimum:
    """The perfect-foresight LP of the traced day, scored like the runs; ``end_wh`` (the
    batteries' and the heat store's energy at the end, Wh) fixes the state it leaves (a
    diagnosis: what is left of a gap when the optimum must end where a run ended)."""
    step_s = trace.step_s
    slot_steps = max(1, round(slot_min * 60 / step_s))
    n = len(trace.load_w) // slot_steps
    load = np.array(trace.load_w[: n * slot_steps]).reshape(n, slot_steps).mean(axis=1)
    pv_av = np.array(trace.pv_available_w[: n * slot_steps]).reshape(n, slot_steps).mean(axis=1)
    dt_h = slot_steps * step_s / 3600.0
    visits = [
        v for v in _visits(scenario, trace, slot_steps, n) if v.energy_wh > 0 and v.last > v.first
    ]
    hp = heat_pump_of(scenario)
    hp_demand = np.zeros(n)
    if hp is not None:
        starts = [scenario.start + timedelta(seconds=(t + 1) * dt_h * 3600) for t in range(n)]
        hp_demand = np.array([hp.demand_w(when) for when in starts])
    site = scenario.site
    batteries = [site.battery, *site.batteries]
    cap = sum(b.capacity_wh for b in batteries)
    e_start = sum(b.soc / 100 * b.capacity_wh for b in batteries)
    e_min = sum(b.min_soc / 100 * b.capacity_wh for b in batteries)
    mean_price = mean_import_price(scenario)
    blocks = max(1, round(DEMAND_INTERVAL_S / (dt_h * 3600)))
    n_blocks = -(-n // blocks)
    # variables (n each unless noted): imp, exp, ch, dis, pv, over_imp, over_exp, e (n + 1),
    # hp, store (n + 1), peak (1), one block of n per visit, one shortfall per visit
    names = ("imp", "exp", "ch", "dis", "pv", "oi", "oe")
    at = {name: k * n for k, name in enumerate(names)}
    e0 = len(names) * n
    hp0 = e0 + n + 1
    s0 = hp0 + n
    peak = s0 + n + 1
    ev0 = peak + 1
    short0 = ev0 + n * len(visits)
    late0 = short0 + len(visits)  # per visit and slot: Wh a Fast car is behind charging at once
    nvar = late0 + n * len(visits)
    price = np.array([scenario.tariff.import_price_at(t * dt_h * 3600) for t in range(n)])
    export = np.array([scenario.tariff.export_price_at(t * dt_h * 3600) for t in range(n)])
    c = np.zeros(nvar)
    c[at["imp"] : at["imp"] + n] = price * dt_h / 1000.0
    c[at["exp"] : at["exp"] + n] = -export * dt_h / 1000.0
    c[at["oi"] : at["oi"] + n] = LIMIT_PENALTY_PER_KWH * dt_h / 1000.0
    c[at["oe"] : at["oe"] + n] = LIMIT_PENALTY_PER_KWH * dt_h / 1000.0
    c[e0 + n] = -mean_price / 1000.0  # stored energy at the end, per Wh
    c[s0 + n] = -mean_price / 1000.0  # heat banked at the end
    c[peak] = scenario.tariff.demand_charge_share(scenario.start, scenario.hours)
    for k, v in enumerate(visits):
        if not v.target:  # no target (surplus mode, or still plugged in): stored value
            c[ev0 + k * n : ev0 + (k + 1) * n] = -mean_price * dt_h / 1000.0
        c[short0 + k] = ev_penalty / 1000.0
        c[late0 + k * n : late0 + (k + 1) * n] = LATE_PENALTY_PER_KWH / 1000.0
    inf = None
    bounds: list[tuple[float | None, float | None]] = []
    bounds += [(0.0, inf)] * 2 * n
    bounds += [(0.0, sum(b.max_charge_w for b in batteries))] * n
    bounds += [(0.0, sum(b.max_discharge_w for b in batteries))] * n
    bounds += [(0.0, float(x)) for x in pv_av]
    bounds += [(0.0, inf)] * 2 * n
    bounds += [(e_start, e_start)] + [(e_min, cap)] * n
    hp_max = hp.force_w if hp is not None else 0.0
    store = hp.store_wh if hp is not None else 0.0
    bounds += [(0.0, hp_max)] * n + [(0.0, 0.0)] + [(0.0, store)] * n
    if end_wh is not None:
        battery_end = min(cap, max(e_min, end_wh[0]))
        bounds[e0 + n] = (battery_end, battery_end)
        bounds[s0 + n] = (min(store, end_wh[1]), min(store, end_wh[1]))
    bounds += [(0.0, inf)]
    for v in visits:
        bounds += [(0.0, v.power_w if v.first <= t < v.last else 0.0) for t in range(n)]
    bounds += [(0.0, inf)] * len(visits)
    for v in visits:
        bounds += [(0.0, inf if v.at_once_w else 0.0)] * n
    rows_eq = 3 * n
    a_eq = lil_matrix((rows_eq, nvar))
    b_eq = np.zeros(rows_eq)
    for t in range(n):
        # imp - exp - ch + dis + pv - hp - Σev = load
        a_eq[t, at["imp"] + t], a_eq[t, at["exp"] + t] = 1.0, -1.0
        a_eq[t, at["ch"] + t], a_eq[t, at["dis"] + t], a_eq[t, at["pv"] + t] = -1.0, 1.0, 1.0
        a_eq[t, hp0 + t] = -1.0
        for k in range(len(visits)):
            a_eq[t, ev0 + k * n + t] = -1.0
        b_eq[t] = load[t]
        # e[t+1] - e[t] - eta ch dt + dis dt / eta = 0
        r = n + t
        a_eq[r, e0 + t + 1], a_eq[r, e0 + t] = 1.0, -1.0
        a_eq[r, at["ch"] + t], a_eq[r, at["dis"] + t] = -ETA * dt_h, dt_h / ETA
        # heat store: s[t+1] - s[t] - hp dt = -demand dt
        r = 2 * n + t
        a_eq[r, s0 + t + 1], a_eq[r, s0 + t], a_eq[r, hp0 + t] = 1.0, -1.0, -dt_h
        b_eq[r] = -hp_demand[t] * dt_h
    imp_max, exp_max = scenario.limits.import_w, scenario.limits.feed_in_w
    late_rows = 2 * n + n_blocks + 2 * len(visits) + n
    rows_ub = late_rows + n * len(visits)
    a_ub = lil_matrix((rows_ub, nvar))
    b_ub = np.full(rows_ub, np.inf)
    for t in range(n):
        # imp - over_imp <= limit; exp - over_exp <= limit
        a_ub[t, at["imp"] + t], a_ub[t, at["oi"] + t] = 1.0, -1.0
        b_ub[t] = imp_max if imp_max is not None else 1e12
        a_ub[n + t, at["exp"] + t], a_ub[n + t, at["oe"] + t] = 1.0, -1.0
        b_ub[n + t] = exp_max if exp_max is not None else 1e12
    for b in range(n_blocks):  # mean import of a 15-minute block <= peak
        members = range(b * blocks, min(n, (b + 1) * blocks))
        for t in members:
            a_ub[2 * n + b, at["imp"] + t] = 1.0 / len(members)
        a_ub[2 * n + b, peak] = -1.0
        b_ub[2 * n + b] = 0.0
    target_wh = 0.0
    for k, v in enumerate(visits):
        r = 2 * n + n_blocks + 2 * k
        for t in range(v.first, v.last):  # at most what the vehicle wants
            a_ub[r, ev0 + k * n + t] = dt_h
        b_ub[r] = v.energy_wh
        if v.target:  # at least the reachable target, less a priced shortfall
            reachable = min(v.energy_wh, v.power_w * (v.last - v.first) * dt_h)
            target_wh += v.energy_wh
            for t in range(v.first, v.last):
                a_ub[r + 1, ev0 + k * n + t] = -dt_h
            a_ub[r + 1, short0 + k] = -1.0
            b_ub[r + 1] = -reachable
        else:
            b_ub[r + 1] = 0.0
    surplus_rows = 2 * n + n_blocks + 2 * len(visits)
    for t in range(n):  # vehicles in a surplus mode take no more than the PV produces
        a_ub[surplus_rows + t, at["pv"] + t] = -1.0
        for k, v in enumerate(visits):
            if v.surplus:
                a_ub[surplus_rows + t, ev0 + k * n + t] = 1.0
        b_ub[surplus_rows + t] = 0.0
    for k, v in enumerate(visits):  # a Fast car: delivered + late >= charging at once
        behind = np.cumsum(np.array(v.at_once_w or [0.0] * n) * dt_h)
        for t in range(n if v.at_once_w else 0):
            r = late_rows + k * n + t
            for tau in range(t + 1):
                a_ub[r, ev0 + k * n + tau] = -dt_h
            a_ub[r, late0 + k * n + t] = -1.0
        b_ub[late_rows + k * n : late_rows + (k + 1) * n] = -behind if v.at_once_w else 0.0
    result = linprog(
        c,
        A_ub=a_ub.tocsr(),
        b_ub=b_ub,
        A_eq=a_eq.tocsr(),
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"{scenario.name}: LP not solved: {result.message}")
    x = result.x
    cost = float(c @ x) + (e_start / 1000.0) * mean_price  # c holds -e_end, add back e_start
    over = x[at["oi"] : at["oi"] + n].sum() + x[at["oe"] : at["oe"] + n].sum()
    cost -= float(over) * LIMIT_PENALTY_PER_KWH * dt_h / 1000.0  # a limit it could not keep
    late_wh = float(x[late0 : late0 + n * len(visits)].sum())
    cost -= late_wh * LATE_PENALTY_PER_KWH / 1000.0  # not money: only what made it wait
    pv_wh = float(x[at["pv"] : at["pv"] + n].sum() * dt_h)
    export_wh = float(x[at["exp"] : at["exp"] + n].sum() * dt_h)
    return Optimum(
        cost,
        100.0 * (pv_wh - export_wh) / pv_wh if pv_wh > 0 else 100.0,
        float(x[at["imp"] : at["imp"] + n].max()),
        target_wh,
        {
            "import": list(x[at["imp"] : at["imp"] + n]),
            "export": list(x[at["exp"] : at["exp"] + n]),
            "battery": list(x[at["dis"] : at["dis"] + n] - x[at["ch"] : at["ch"] + n]),
            "pv": list(x[at["pv"] : at["pv"] + n]),
            "ev": list(x[ev0 : ev0 + n * len(visits)].reshape(-1, n).sum(axis=0))
            if visits
            else [0.0] * n,
            "heat_pump": list(x[hp0 : hp0 + n]),
            "stored": list(x[e0 + 1 : e0 + n + 1]),
        },
    )


def _without_plan(scenario: Scenario) -> Policy:
    """Ampacity's real-time control alone (rules, no day-ahead plan)."""
    control = scenario.control.model_copy(update={"planner": None})
    return AmpacityPolicy(ControlCycle(control), scenario)


def _with_plan(scenario: Scenario) -> Policy:
    """Ampacity with the day-ahead plan (the scenario's planner settings, else the defaults)."""
    planner = scenario.control.planner or PlannerConfig()
    control = scenario.control.model_copy(update={"planner": planner})
    return AmpacityPolicy(ControlCycle(control), scenario)


def _with_plan_perfect(scenario: Scenario, trace: DayTrace) -> Policy:
    """Ampacity with the plan, its load and PV forecasts replaced by the day's truth (recorded
    in the no-control run): what is left of the gap is the policy's, not the forecasts'."""
    policy = _with_plan(scenario)
    assert isinstance(policy, AmpacityPolicy)

    def truth(start: datetime, slots: int, slot_s: float) -> tuple[list[float], list[float]]:
        first = round((start - scenario.start).total_seconds() / trace.step_s)
        per = max(1, round(slot_s / trace.step_s))
        load, pv = [], []
        for i in range(slots):
            a, b = first + i * per, first + (i + 1) * per
            chunk = trace.load_w[a:b] or [trace.load_w[-1]]
            load.append(sum(chunk) / len(chunk))
            chunk = trace.pv_available_w[a:b] or [0.0]
            pv.append(sum(chunk) / len(chunk))
        return load, pv

    policy.forecasts = truth
    return policy


PERFECT = "ampacity+plan/perfect-forecast"
"""The diagnostic policy of ``--diagnose`` (not in the default table)."""

FACTORIES = {
    "no-control": no_control_policy,
    "rule": surplus_rule_policy,
    "ampacity": _without_plan,
    "ampacity+plan": _with_plan,
}


def violations(k: Kpis) -> dict[str, float]:
    """Feed-in and import limit violations together: count, seconds, kWh beyond the limit."""
    return {
        "count": k.feed_in_violations + k.import_violations,
        "seconds": round(k.feed_in_violation_s + k.import_violation_s, 1),
        "kwh": round((k.feed_in_violation_wh + k.import_violation_wh) / 1000.0, 3),
    }


def evaluate(
    scenario: Scenario, slot_min: float, ev_penalty: float, diagnose: bool = False
) -> dict[str, Any]:
    """One scenario's result in the JSON shape, plus the KPIs and run times for the table;
    ``diagnose`` adds the plan with perfect forecasts (``PERFECT``)."""
    trace = DayTrace(scenario.step_s)
    runs: dict[str, tuple[Kpis, float]] = {}
    factories: dict[str, Callable[[Scenario], Policy]] = dict(FACTORIES)
    if diagnose:
        factories[PERFECT] = lambda s: _with_plan_perfect(s, trace)
    for label, factory in factories.items():
        started = time.perf_counter()
        record = trace.record if label == "no-control" else None
        kpis = run_scenario(scenario, factory, record)
        runs[label] = (kpis, time.perf_counter() - started)
    started = time.perf_counter()
    best = optimum(scenario, trace, slot_min, ev_penalty)
    lp_s = time.perf_counter() - started
    same_end = None
    if diagnose:
        k = runs["ampacity+plan"][0]
        e_start = sum(
            b.soc / 100 * b.capacity_wh for b in [scenario.site.battery, *scenario.site.batteries]
        )
        end = (e_start + k.battery_stored_delta_wh, k.heat_store_end_wh)
        same_end = optimum(scenario, trace, slot_min, ev_penalty, end).cost
    policies = {}
    for label, (k, _) in runs.items():
        cost = score(scenario, k, ev_penalty)
        policies[label] = {
            "cost_eur": round(cost, 4),
            "ratio": round(cost / best.cost, 4) if best.cost > 0 else None,
            "delta_eur": round(cost - best.cost, 4),
            "violations": violations(k),
            "ev_delivered_kwh": round(k.ev_target_delivered_wh / 1000.0, 3),
            "ev_target_kwh": round(k.ev_target_wh / 1000.0, 3),
        }
    return {
        "name": scenario.name,
        "optimum_cost_eur": round(best.cost, 4),
        "policies": policies,
        "_kpis": {label: k for label, (k, _) in runs.items()},
        "_seconds": {label: s for label, (_, s) in runs.items()} | {"optimum": lp_s},
        "_optimum": best,
        "_same_end": same_end,
        "_description": scenario.description,
    }


def _table(result: dict[str, Any]) -> list[str]:
    lines = [f"{result['name']}: {result['_description']}"]
    best: Optimum = result["_optimum"]
    for label in result["policies"]:
        p, k = result["policies"][label], result["_kpis"][label]
        ratio = p["ratio"] if p["ratio"] is not None else float("nan")
        v = p["violations"]
        lines.append(
            f"  {label[:14]:<14}{p['cost_eur']:>8.2f}{ratio:>7.2f}"
            f"{p['delta_eur']:>7.2f}{k.self_consumption_pct:>7.1f}"
            f"{k.peak_import_15min_w / 1000:>7.1f}{v['count']:>5d}{v['seconds']:>7.0f}"
            f"{v['kwh']:>7.2f}{p['ev_delivered_kwh']:>7.1f}/{p['ev_target_kwh']:<5.1f}"
            f"{result['_seconds'][label]:>6.1f}"
        )
    lines.append(
        f"  {'optimum (LP)':<14}{best.cost:>8.2f}{1.0:>7.2f}{0.0:>7.2f}"
        f"{best.self_consumption_pct:>7.1f}{'':>7}{'':>19}"
        f"{'':>7}{best.ev_target_wh / 1000:>6.1f}{'':>7}{result['_seconds']['optimum']:>5.1f}"
    )
    if result["_same_end"] is not None:
        lines.append(f"  {'opt. same end':<14}{result['_same_end']:>8.2f}  (ends as ampacity+plan)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="YAML files or shipped names (default: all)")
    parser.add_argument("--step", type=float, default=None, help="simulation and cycle step, s")
    parser.add_argument("--slot-min", type=float, default=5.0, help="LP slot length, minutes")
    parser.add_argument("--hours", type=float, default=None, help="cut each day to this, h")
    parser.add_argument(
        "--ev-penalty", type=float, default=EV_PENALTY_PER_KWH, help="per kWh a vehicle lacks"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help=f"add {PERFECT}: the plan with the day's true load and PV",
    )
    args = parser.parse_args(argv)
    names = args.scenarios or [str(p) for p in (*shipped_scenarios(), *measured_scenarios())]
    results = []
    if not args.json:
        print(
            "  policy            cost  ×opt   Δopt   SC %  pk15kW  VIOL      s    kWh"
            "   EV kWh got/target  s"
        )
    for name in names:
        scenario = load_scenario(name)
        if args.step:
            scenario = with_step(scenario, args.step)
        if args.hours:
            scenario = scenario.model_copy(update={"hours": args.hours})
        result = evaluate(scenario, args.slot_min, args.ev_penalty, args.diagnose)
        results.append(result)
        if not args.json:
            print("\n".join(_table(result)), flush=True)
    if args.json:
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
        step = args.step
        print(
            json.dumps({"step_s": step, "ev_penalty_per_kwh": args.ev_penalty, "scenarios": public})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
