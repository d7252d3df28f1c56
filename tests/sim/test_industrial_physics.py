"""The industrial demo's physics: the power balance and its signs (W; grid + import, battery +
discharge, producers + production, consumers + consumption), the units' limits, the heat store
and the hydrogen store. Time is a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ampacity.sim.industrial import (
    CHP_HEAT_RATIO,
    ELY_KWH_PER_KG,
    HEAT_PUMP_W,
    IndustrialPhysics,
)

T0 = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


def physics(**knobs: object) -> tuple[IndustrialPhysics, list[datetime]]:
    now = [T0]
    p = IndustrialPhysics(clock=lambda: now[0], **knobs)  # type: ignore[arg-type]
    p.dc_connected = {"dc1": False, "dc2": False}
    for socket in p.ac.values():
        socket.connected = False
    p.battery.set_setpoint(0.0)
    p.update()
    return p, now


def run(p: IndustrialPhysics, now: list[datetime], seconds: int) -> None:
    for _ in range(seconds):
        now[0] += timedelta(seconds=1)
        p.update()


def test_the_grid_is_consumers_minus_producers_minus_the_battery() -> None:
    p, now = physics(pv_override_w=100_000.0, load_override_w=150_000.0)
    p.battery.set_setpoint(30_000.0)  # discharging
    p.chp.setpoint_w = 50_000.0
    run(p, now, 10)
    heat_pumps = 2 * HEAT_PUMP_W[2]
    expected = 150_000.0 + heat_pumps - 100_000.0 - 50_000.0 - 30_000.0
    assert p.grid_w == pytest.approx(expected)
    assert p.chp.run_state == 2  # Running


def test_an_electrolyser_below_its_minimum_load_stays_off() -> None:
    p, now = physics(pv_override_w=0.0, load_override_w=0.0)
    p.electrolyser.setpoint_w = 10_000.0  # below 20 kW
    run(p, now, 5)
    assert p.electrolyser.power_w == 0.0
    p.electrolyser.setpoint_w = 60_000.0
    run(p, now, 10)  # 10 kW/s ramp
    assert p.electrolyser.power_w == 60_000.0
    before = p.hydrogen_kg
    run(p, now, 3600)
    assert p.hydrogen_kg - before == pytest.approx(60.0 / ELY_KWH_PER_KG, rel=1e-3)


def test_the_fuel_cell_stops_when_the_hydrogen_store_is_empty() -> None:
    p, now = physics(load_override_w=0.0, pv_override_w=0.0)
    p.tank_kg = 0.01
    p.fuel_cell.setpoint_w = 20_000.0
    run(p, now, 60)  # 0.01 kg last about 29 s at 20 kW, then it runs down at 10 kW/s
    assert p.tank_kg == 0.0
    assert p.fuel_cell.power_w == 0.0 and p.fuel_cell.run_state == 4  # Fault: no hydrogen


def test_the_chp_warms_the_heat_store() -> None:
    p, now = physics(load_override_w=0.0, pv_override_w=0.0, heat_demand_w=0.0)
    start = p.heat_store_c
    p.chp.setpoint_w = 50_000.0
    run(p, now, 600)
    assert p.heat_store_c > start
    assert p.heat_energy_wh > 0.5 * CHP_HEAT_RATIO * 50_000.0 * 600 / 3600.0


def test_a_locked_unit_shows_fault_and_makes_nothing() -> None:
    p, now = physics(load_override_w=0.0, pv_override_w=0.0)
    p.chp.locked = True
    p.chp.setpoint_w = 50_000.0
    run(p, now, 10)
    assert p.chp.power_w == 0.0 and p.chp.run_state == 4
