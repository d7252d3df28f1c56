"""Solve time of the day-ahead plan: 96 quarter-hours, as an LP and as a MILP.

    python bench/planner.py [--runs 15]

Prices: the real DE-LU day-ahead prices of 2024-05-12 (negative at noon) in quarter-hours plus
20 ct/kWh; PV and load: the project's forecasts for that day. Two cases:

* **LP** — battery, two vehicles, heating rod and heat pump (continuous: ``linprog``);
* **MILP** — the same plus an electrolyser and a CHP unit with minimum powers (on/off binaries:
  ``milp``, stopped at the planner's time limit with the best plan found).

Prints, per case, the plan's status and the median, min and max solve time of HiGHS (through
scipy) over ``--runs`` solves. The issue's bound is 2 s.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ampacity.control.dayahead import PlanInputs, VehicleNeed, solve
from ampacity.control.forecasting import pv_forecast

SPOT_2024_05_12 = [44.52, 41.22, 46.33, 43.5, 17.61, 4.79, 2.35, -2.8, -25.0, -69.64, -100.06,
                   -135.45, -132.85, -85.08, -30.0, -1.33, 22.5, 67.94, 75.74, 58.26, 44.6, 35.61,
                   26.84, 25.88]  # fmt: skip
"""EUR/MWh, Energy-Charts (Fraunhofer ISE, CC BY 4.0)."""


def inputs() -> PlanInputs:
    start = datetime(2024, 5, 12, tzinfo=UTC)
    prices = [SPOT_2024_05_12[i // 4] / 1000 + 0.20 for i in range(96)]
    pv = pv_forecast(start, 96, 900, 50.775, 6.083, 9000, 0.8)
    load = [400.0 + 300.0 * (7 <= (i // 4) % 24 <= 21) for i in range(96)]
    return PlanInputs(
        start=start,
        slot_s=900,
        import_price=prices,
        export_price=[min(0.08, p) for p in prices],
        pv_w=pv,
        load_w=load,
        capacity_wh=10_000,
        soc_pct=30,
        reserve_pct=10,
        max_charge_w=5000,
        max_discharge_w=5000,
        grid_import_limit_w=20_000,
        feed_in_limit_w=6000,
        vehicles=(
            VehicleNeed("car1", 20_000, start + timedelta(hours=17), 11_000),
            VehicleNeed("car2", 30_000, start + timedelta(hours=23), 22_000),
        ),
        rod_max_w=3000,
        rod_energy_wh=6000,
        heat_pump_max_w=2500,
        heat_pump_energy_wh=12_000,
        electrolyser_min_w=1000,
        electrolyser_max_w=5000,
        hydrogen_value_per_kwh=0.12,
        chp_min_w=2000,
        chp_rated_w=5000,
        chp_fuel_cost_per_kwh=0.18,
    )


def lp_inputs() -> PlanInputs:
    """The LP case: no unit with a minimum power, so no binaries."""
    return replace(
        inputs(),
        electrolyser_min_w=0.0,
        electrolyser_max_w=0.0,
        hydrogen_value_per_kwh=0.0,
        chp_min_w=0.0,
        chp_rated_w=0.0,
        chp_fuel_cost_per_kwh=0.0,
    )


CASES = {
    "LP: battery + 2 vehicles + heating rod + heat pump": lp_inputs,
    "MILP: the same + electrolyser + CHP (min. powers)": inputs,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    for label, make in CASES.items():
        data = make()
        times = []
        plan = None
        for _ in range(runs):
            plan = solve(data)
            times.append(plan.solve_time_s * 1000)
        assert plan is not None
        print(
            f"96 slots, {label}: status {plan.status}; solve time over {runs} runs: "
            f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, "
            f"max {max(times):.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
