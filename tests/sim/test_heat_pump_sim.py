"""The simulated heat pump's energy balance: what it draws is the house's heat demand plus what
its store gained, also while SG-Ready holds it raised with the store full."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ampacity.sim.heat_pump import HeatPumpSim

START = datetime(2024, 2, 28, 12, tzinfo=UTC)


@pytest.mark.parametrize("state", [3, 4])
def test_a_raised_pump_with_a_full_store_draws_only_the_demand(state: int) -> None:
    pump = HeatPumpSim(mean_w=1000.0, boost_w=2500.0, force_w=3500.0, store_wh=2000.0)
    pump.set_sg_ready(state)
    drawn_wh = demand_wh = 0.0
    step_s = 10.0
    for i in range(1, 3 * 360 + 1):  # 3 h: the store is full after about an hour
        when = START + timedelta(seconds=i * step_s)
        demand_wh += pump.demand_w(when) * step_s / 3600.0
        drawn_wh += pump.step(when, step_s) * step_s / 3600.0
    assert pump.stored_wh == pytest.approx(2000.0, abs=10.0)  # full, less one step's demand
    # electrical energy = heat demand + the store's gain: nothing drawn is lost
    assert drawn_wh == pytest.approx(demand_wh + pump.stored_wh, rel=1e-9)


def test_the_step_that_fills_the_store_draws_only_what_fits() -> None:
    pump = HeatPumpSim(mean_w=1000.0, boost_w=2500.0, store_wh=2000.0, stored_wh=1999.0)
    pump.set_sg_ready(3)
    when = START + timedelta(seconds=10)
    power = pump.step(when, 10.0)
    # 1 Wh of room in 10 s is 360 W above the demand, not the boost's 2,500 W
    assert power == pytest.approx(pump.demand_w(when) + 360.0)
    assert pump.stored_wh == pytest.approx(2000.0)
