"""Control quality: Ampacity's control next to baselines and the perfect-foresight optimum.

    python bench/control_quality.py [SCENARIO.yaml | name ...] [--step 2] [--slot-min 5]

For each scenario (the shipped ones by default), the same simulated day under:

* **ampacity** — the real control cycle;
* **no control** — no energy manager: the battery's own self-consumption control, PV unlimited,
  chargers at full current;
* **surplus rule** — a simple surplus rule as evcc applies it (30 s loop, on/off with delays, no
  battery setpoints, no PV curtailment);
* **optimum** — the same day solved as a linear programme with perfect foresight (HiGHS via
  ``scipy.optimize.linprog``): the house load and the PV the sky offers, as the simulation had
  them, averaged over ``--slot-min`` slots; the battery with its limits and efficiencies; each
  vehicle session gets exactly the energy Ampacity delivered in it, within its plug-in window and
  charge power; the feed-in and import limits as hard constraints. Its cost is the bound no
  controller can beat.

Cost is money for the day (import at the tariff minus export revenue), with the battery's change
in stored energy and the heat left in a heat pump's store valued at the day's mean import price (a
controller cannot look cheap by emptying the battery), and the vehicle energy a baseline delivers
less than Ampacity charged at the same price (nor by not charging). Figures: cost,
self-consumption, autarky, peak import, limit violations, EV energy; and each policy's cost and
self-consumption as a ratio to the optimum.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from ampacity.control import ControlCycle
from ampacity.control.schedule import PlannerConfig
from ampacity.scenarios.runner import (
    AmpacityPolicy,
    Kpis,
    Policy,
    Scenario,
    load_scenario,
    no_control_policy,
    run_scenario,
    shipped_scenarios,
    surplus_rule_policy,
    with_step,
)
from ampacity.sim.heat_pump import HeatPumpSim
from ampacity.sim.site import INVERTER_EFFICIENCY, SitePhysics
from scipy.optimize import linprog
from scipy.sparse import lil_matrix


@dataclass
class DayTrace:
    """What the simulated day offered, per step: load W, available PV W, charger sessions."""

    load_w: list[float] = field(default_factory=list)
    pv_available_w: list[float] = field(default_factory=list)
    connected: dict[str, list[bool]] = field(default_factory=dict)
    session_wh: dict[str, list[float]] = field(default_factory=dict)
    max_power_w: dict[str, float] = field(default_factory=dict)

    def record(self, when: datetime, p: SitePhysics) -> None:
        self.load_w.append(p.load_w)
        available = p.pv_array.dc_power(when) * INVERTER_EFFICIENCY
        self.pv_available_w.append(max(0.0, min(available, p.config.inverter_nominal_w)))
        for cp_id, cp in p.chargers.items():
            self.connected.setdefault(cp_id, []).append(cp.connected)
            self.session_wh.setdefault(cp_id, []).append(cp.session_wh)
            if cp.plan is not None:
                self.max_power_w[cp_id] = 230.0 * cp.plan.phases * min(16.0, cp.plan.max_current_a)


def adjusted_cost(scenario: Scenario, k: Kpis, reference: Kpis) -> float:
    """Cost with the battery's change in stored energy, and the vehicle energy not delivered
    compared with ``reference`` (Ampacity's run), valued at the day's mean import price."""
    b = scenario.site.battery
    delta_kwh = (k.battery_soc_end - b.soc) / 100.0 * b.capacity_wh / 1000.0
    shortfall_kwh = (reference.ev_energy_wh - k.ev_energy_wh) / 1000.0
    stored_kwh = delta_kwh + k.heat_store_end_wh / 1000.0
    return k.cost + (shortfall_kwh - stored_kwh) * _mean_import_price(scenario)


def _mean_import_price(scenario: Scenario) -> float:
    hours = max(1, round(scenario.hours))
    return sum(scenario.tariff.import_price(h) for h in range(hours)) / hours


def _sessions(trace: DayTrace, slot_steps: int) -> list[tuple[str, int, int, float]]:
    """``(charge point, first slot, last slot + 1, energy Wh)`` per plug-in window."""
    found = []
    for cp_id, flags in trace.connected.items():
        start = None
        for i, on in enumerate([*flags, False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                energy = max(trace.session_wh[cp_id][start:i] or [0.0])
                if start == 0:
                    energy = trace.session_wh[cp_id][i - 1]
                found.append((cp_id, start // slot_steps, -(-i // slot_steps), energy))
                start = None
    return found


@dataclass(frozen=True, slots=True)
class Optimum:
    cost: float
    self_consumption_pct: float
    autarky_pct: float
    peak_import_w: float


def optimum(scenario: Scenario, trace: DayTrace, slot_min: float) -> Optimum:
    """The perfect-foresight LP of the traced day."""
    step_s = scenario.step_s
    slot_steps = max(1, round(slot_min * 60 / step_s))
    n = len(trace.load_w) // slot_steps
    load = np.array(trace.load_w[: n * slot_steps]).reshape(n, slot_steps).mean(axis=1)
    pv_av = np.array(trace.pv_available_w[: n * slot_steps]).reshape(n, slot_steps).mean(axis=1)
    dt_h = slot_steps * step_s / 3600.0
    sessions = [s for s in _sessions(trace, slot_steps) if s[3] > 0]
    hp_model = scenario.site.heat_pump
    hp_demand = np.zeros(n)
    if hp_model is not None:
        sim = HeatPumpSim(**hp_model.model_dump())
        starts = [scenario.start + timedelta(seconds=(t + 0.5) * dt_h * 3600) for t in range(n)]
        hp_demand = np.array([sim.demand_w(when) for when in starts])
    b = scenario.site.battery
    eta_c = eta_d = 0.95  # BatterySim defaults
    # variables: imp, exp, ch, dis, pv (n each), e (n + 1), heat pump (n), heat store (n + 1),
    # then one block of n per session
    imp, exp_, ch, dis, pv, e0 = (k * n for k in range(6))
    hp0 = 6 * n + 1
    s0 = hp0 + n
    ev0 = s0 + n + 1
    nvar = ev0 + n * len(sessions)
    price = np.array([scenario.tariff.import_price_at(t * dt_h * 3600) for t in range(n)])
    export = np.array([scenario.tariff.export_price_at(t * dt_h * 3600) for t in range(n)])
    c = np.zeros(nvar)
    c[imp : imp + n] = price * dt_h / 1000.0
    c[exp_ : exp_ + n] = -export * dt_h / 1000.0
    c[e0 + n] = -_mean_import_price(scenario) / 1000.0  # stored energy at the end, per Wh
    c[e0] = _mean_import_price(scenario) / 1000.0
    c[s0 + n] = -_mean_import_price(scenario) / 1000.0  # heat banked at the end
    bounds: list[tuple[float | None, float | None]] = []
    imp_max = scenario.limits.import_w
    exp_max = scenario.limits.feed_in_w
    bounds += [(0.0, imp_max)] * n + [(0.0, exp_max)] * n
    bounds += [(0.0, b.max_charge_w)] * n + [(0.0, b.max_discharge_w)] * n
    bounds += [(0.0, float(x)) for x in pv_av]
    e_start = b.soc / 100.0 * b.capacity_wh
    bounds += [(e_start, e_start)] + [(b.min_soc / 100 * b.capacity_wh, b.capacity_wh)] * n
    hp_max = hp_model.force_w if hp_model is not None else 0.0
    store = hp_model.store_wh if hp_model is not None else 0.0
    bounds += [(0.0, hp_max)] * n + [(0.0, 0.0)] + [(0.0, store)] * n
    for cp_id, first, last, _ in sessions:
        pmax = trace.max_power_w.get(cp_id, 11_040.0)
        bounds += [(0.0, pmax if first <= t < last else 0.0) for t in range(n)]
    rows = 3 * n + len(sessions)
    a_eq = lil_matrix((rows, nvar))
    b_eq = np.zeros(rows)
    for t in range(n):
        # imp - exp - ch + dis + pv - Σev = load
        a_eq[t, imp + t], a_eq[t, exp_ + t] = 1.0, -1.0
        a_eq[t, ch + t], a_eq[t, dis + t], a_eq[t, pv + t] = -1.0, 1.0, 1.0
        for k in range(len(sessions)):
            a_eq[t, ev0 + k * n + t] = -1.0
        b_eq[t] = load[t]
        # e[t+1] - e[t] - eta_c ch dt + dis dt / eta_d = 0
        r = n + t
        a_eq[r, e0 + t + 1], a_eq[r, e0 + t] = 1.0, -1.0
        a_eq[r, ch + t], a_eq[r, dis + t] = -eta_c * dt_h, dt_h / eta_d
        # heat pump: it draws hp[t]; the store takes what exceeds the demand: s[t+1] - s[t] -
        # hp dt = -demand dt
        a_eq[t, hp0 + t] = -1.0
        r = 2 * n + t
        a_eq[r, s0 + t + 1], a_eq[r, s0 + t], a_eq[r, hp0 + t] = 1.0, -1.0, -dt_h
        b_eq[r] = -hp_demand[t] * dt_h
    for k, (_, first, last, energy) in enumerate(sessions):
        for t in range(first, min(last, n)):
            a_eq[3 * n + k, ev0 + k * n + t] = dt_h
        b_eq[3 * n + k] = energy
    result = linprog(c, A_eq=a_eq.tocsr(), b_eq=b_eq, bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"{scenario.name}: LP not solved: {result.message}")
    x = result.x
    cost = float(price @ x[imp : imp + n] * dt_h / 1000.0) - float(
        export @ x[exp_ : exp_ + n] * dt_h / 1000.0
    )
    e_end = float(x[e0 + n])
    cost -= (e_end - e_start + float(x[s0 + n])) / 1000.0 * _mean_import_price(scenario)
    pv_wh = float(x[pv : pv + n].sum() * dt_h)
    export_wh = float(x[exp_ : exp_ + n].sum() * dt_h)
    consumption = float((load.sum() + x[ev0:].sum() + x[hp0 : hp0 + n].sum()) * dt_h)
    import_wh = float(x[imp : imp + n].sum() * dt_h)
    return Optimum(
        cost,
        100.0 * (pv_wh - export_wh) / pv_wh if pv_wh > 0 else 100.0,
        100.0 * max(0.0, 1 - import_wh / consumption) if consumption > 0 else 100.0,
        float(x[imp : imp + n].max()),
    )


def _row(name: str, k: Kpis, cost: float, best: Optimum, seconds: float) -> str:
    cost_ratio = cost / best.cost if best.cost > 0 else float("nan")  # no ratio to a gain
    sc_ratio = k.self_consumption_pct / best.self_consumption_pct
    return (
        f"  {name:<13}{cost:>8.2f}{cost_ratio:>7.2f}{cost - best.cost:>7.2f}"
        f"{k.self_consumption_pct:>7.1f}{sc_ratio:>6.2f}"
        f"{k.autarky_pct:>7.1f}{k.peak_import_w / 1000:>7.1f}{k.feed_in_violations:>5d}"
        f"{k.import_violations:>5d}{k.ev_delivered_wh / 1000:>7.1f}"
        f"/{k.ev_requested_wh / 1000:<5.1f}"
        f"{seconds:>6.1f}"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="YAML files or shipped names (default: all)")
    parser.add_argument("--step", type=float, default=None, help="simulation and cycle step, s")
    parser.add_argument("--slot-min", type=float, default=5.0, help="LP slot length, minutes")
    args = parser.parse_args(argv)
    names = args.scenarios or [str(p) for p in shipped_scenarios()]
    print(
        "  policy          cost  ×opt   Δopt   SC %  ×opt  aut %  peak kW  FI  IMP"
        "   EV kWh got/asked   s"
    )
    for name in names:
        scenario = load_scenario(name)
        if args.step:
            scenario = with_step(scenario, args.step)
        print(f"{scenario.name}: {scenario.description}")
        traces = {"ampacity": DayTrace(), "ampacity+plan": DayTrace()}
        runs = []
        for label, factory in (
            ("ampacity", _without_plan),
            ("ampacity+plan", _with_plan),
            ("no control", no_control_policy),
            ("surplus rule", surplus_rule_policy),
        ):
            started = time.perf_counter()
            record = traces[label].record if label in traces else None
            kpis = run_scenario(scenario, factory, record)
            runs.append((label, kpis, time.perf_counter() - started))
        # the reference (vehicle energy, the LP's sessions): the Ampacity run that delivered more
        reference = max(runs[:2], key=lambda run: run[1].ev_energy_wh)
        started = time.perf_counter()
        best = optimum(scenario, traces[reference[0]], args.slot_min)
        lp_s = time.perf_counter() - started
        for label, kpis, seconds in runs:
            cost = adjusted_cost(scenario, kpis, reference[1])
            print(_row(label, kpis, cost, best, seconds))
        print(
            f"  {'optimum (LP)':<13}{best.cost:>8.2f}{1.0:>7.2f}{0.0:>7.2f}"
            f"{best.self_consumption_pct:>7.1f}"
            f"{1.0:>6.2f}{best.autarky_pct:>7.1f}{best.peak_import_w / 1000:>7.1f}"
            f"{0:>5d}{0:>5d}{'':>13}{lp_s:>6.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
