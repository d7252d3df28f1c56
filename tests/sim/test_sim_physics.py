"""Site physics on a fake clock: sun, load, battery, EV and the meter's energy balance."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

import pytest
from ampacity.sim import FakeClock, SiteConfig, SitePhysics
from ampacity.sim.battery import BatterySim
from ampacity.sim.ev import ChargePointSim, SessionPlan
from ampacity.sim.load import HouseholdLoad, dynamisation, h25_table
from ampacity.sim.solar import CloudModel, PvArray, clear_sky_ghi, solar_elevation

AACHEN = (50.775, 6.083)


def test_sun_is_below_the_horizon_at_night_and_highest_near_solar_noon() -> None:
    day = datetime(2026, 6, 21, tzinfo=UTC)
    elevations = [(solar_elevation(day + timedelta(minutes=m), *AACHEN), m) for m in range(1440)]
    peak, minute = max(elevations)
    # solar noon at 6.08° E is ~11:36 UTC in June (4 min per degree, equation of time ~ -2 min)
    assert abs(minute - (12 * 60 - 6.083 * 4 + 2)) <= 10
    assert peak == pytest.approx(90 - 50.775 + 23.44, abs=0.5)
    assert solar_elevation(day, *AACHEN) < 0
    assert clear_sky_ghi(-5.0) == 0.0


def test_pv_is_zero_at_night_and_peaks_near_noon() -> None:
    array = PvArray(10_000.0, *AACHEN, clouds=CloudModel(cloudiness=0.0))
    day = datetime(2026, 6, 21, tzinfo=UTC)
    power = [array.dc_power(day + timedelta(minutes=m)) for m in range(0, 1440, 5)]
    assert power[0] == 0.0 and power[-1] == 0.0  # midnight, 23:55
    peak_slot = max(range(len(power)), key=power.__getitem__)
    assert 11 * 60 <= peak_slot * 5 <= 12 * 60 + 15
    assert 6_000 < max(power) < 10_000
    winter = PvArray(10_000.0, *AACHEN, clouds=CloudModel(cloudiness=0.0))
    assert winter.dc_power(datetime(2026, 12, 21, 11, 40, tzinfo=UTC)) < max(power) / 2


def test_clouds_reduce_pv_reproducibly() -> None:
    cloudy = CloudModel(cloudiness=1.0, seed=7)
    noon = datetime(2026, 6, 21, 11, 30, tzinfo=UTC)
    values = [cloudy.clearness(noon + timedelta(minutes=m)) for m in range(0, 600, 5)]
    assert all(0.2 - 1e-9 <= v <= 1.0 for v in values)
    assert min(values) < 0.6 and max(values) > 0.6
    assert values == [cloudy.clearness(noon + timedelta(minutes=m)) for m in range(0, 600, 5)]


def test_household_load_follows_h25_and_sums_to_the_annual_energy() -> None:
    assert h25_table() is not None  # the copied data file is there
    load = HouseholdLoad(annual_kwh=4500.0)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    total_wh = sum(load.power(start + timedelta(hours=h)) for h in range(0, 8760, 1))
    assert total_wh / 1000 == pytest.approx(4500.0, rel=0.05)
    evening = load.power(datetime(2026, 1, 14, 18, 0, tzinfo=UTC))
    night = load.power(datetime(2026, 1, 14, 2, 0, tzinfo=UTC))
    assert evening > 1.5 * night > 0
    assert dynamisation(1) == pytest.approx(1.24, abs=0.01)


def test_battery_soc_rises_when_charging_and_stays_within_limits() -> None:
    battery = BatterySim(capacity_wh=10_000, soc=50.0, max_charge_w=5_000)
    battery.set_setpoint(-2_000.0)
    battery.setpoint_timeout_s = math.inf
    battery.step(3600.0)
    assert battery.soc == pytest.approx(50 + 2000 * 0.95 / 10_000 * 100)
    assert battery.energy_charged_wh == pytest.approx(2000.0)
    for _ in range(10):  # far more than fits: stops at 100 %
        battery.step(3600.0)
    assert battery.soc == pytest.approx(100.0)
    assert battery.power_w == pytest.approx(0.0, abs=1e-6)
    battery.set_setpoint(9_000.0)  # above the limit: clamped to 5 kW
    battery.step(60.0)
    assert battery.power_w == pytest.approx(5_000.0)
    for _ in range(30):
        battery.step(3600.0)
    assert battery.soc == pytest.approx(battery.min_soc)
    assert battery.energy_discharged_wh > 0


def test_battery_falls_back_to_self_consumption_without_setpoint_refresh() -> None:
    battery = BatterySim(setpoint_timeout_s=60.0)
    battery.set_setpoint(-1_000.0)
    assert battery.step(30.0, grid_without_battery_w=800.0) == pytest.approx(-1_000.0)
    battery.step(40.0, grid_without_battery_w=800.0)  # setpoint now 70 s old
    assert battery.power_w == pytest.approx(800.0, abs=1.0)  # discharges into the load (lag)


def test_ev_follows_the_current_limit_and_stops_when_full() -> None:
    plan = SessionPlan(time(8), time(18), energy_wh=2_000.0, phases=3)
    cp = ChargePointSim(plan, limit_timeout_s=None)
    morning = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    cp.step(morning, 1.0)
    assert cp.connected and cp.power_w == pytest.approx(16 * 230 * 3)
    cp.set_limit(10.0)
    cp.step(morning, 1.0)
    assert cp.power_w == pytest.approx(10 * 230 * 3)
    cp.set_limit(4.0)  # below 6 A: no charging
    cp.step(morning, 1.0)
    assert cp.connected and not cp.charging
    cp.set_limit(16.0)
    for _ in range(120):
        cp.step(morning, 60.0)
    assert cp.session_wh == pytest.approx(2_000.0, abs=1.0)
    assert not cp.charging
    cp.step(datetime(2026, 3, 2, 19, 0, tzinfo=UTC), 60.0)
    assert not cp.connected


def test_ev_limit_falls_back_when_not_refreshed() -> None:
    cp = ChargePointSim(SessionPlan(time(0), time(23), 50_000.0), fallback_limit_a=6.0)
    cp.set_limit(16.0)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    cp.step(now, 30.0)
    assert cp.current_a == pytest.approx(16.0)
    cp.step(now, 40.0)  # 70 s without a refresh, validity 60 s
    assert cp.current_a == pytest.approx(6.0)


def test_a_simulated_day_balances_energy_at_the_grid_meter() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 22, 0, tzinfo=UTC))
    site = SitePhysics(clock, SiteConfig(cloudiness=0.0))
    battery0 = site.battery.soc / 100 * site.battery.capacity_wh
    ev0 = sum(cp.total_wh for cp in site.chargers.values())
    pv_peak = 0.0
    for _ in range(24 * 12):
        clock.advance(300)
        site.update()
        assert 0.0 <= site.battery.soc <= 100.0
        assert site.grid_w == pytest.approx(site.load_w + site.ev_w - site.pv_w - site.battery_w)
        pv_peak = max(pv_peak, site.pv_w)
    assert site.time == clock.now()
    ev_wh = sum(cp.total_wh for cp in site.chargers.values()) - ev0
    battery_out = site.battery.energy_discharged_wh - site.battery.energy_charged_wh
    grid_net = site.grid_import_wh - site.grid_export_wh
    assert grid_net == pytest.approx(site.load_energy_wh + ev_wh - site.pv_energy_wh - battery_out)
    assert site.pv_energy_wh > 30_000  # 9 kWp on a clear June day
    assert pv_peak <= site.config.inverter_nominal_w
    assert site.battery.soc / 100 * site.battery.capacity_wh != battery0
    assert ev_wh > 0


def test_pv_limit_curtails_production() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 11, 30, tzinfo=UTC))
    site = SitePhysics(clock, SiteConfig(cloudiness=0.0))
    assert site.pv_w > 5_000
    site.set_pv_limit(2_000.0)
    clock.advance(60)
    site.update()
    assert site.pv_w == pytest.approx(2_000.0)
    assert site.pv_dc_w > site.pv_w


def test_night_has_no_pv_and_the_grid_or_battery_covers_the_load() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 0, 30, tzinfo=UTC))
    site = SitePhysics(clock)
    clock.advance(60)
    site.update()
    assert site.pv_w == 0.0
    assert site.load_w > 0
    assert site.grid_w + site.battery_w == pytest.approx(site.load_w + site.ev_w)


def test_a_registered_producer_counts_in_the_grid_balance() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 0, 30, tzinfo=UTC))
    battery = BatterySim(soc=5.0, min_soc=5.0)  # empty: cannot cover the load
    site = SitePhysics(clock, SiteConfig(battery=battery))
    clock.advance(60)
    site.update()
    before = site.grid_w
    site.producers["fronius"] = lambda when: 1_000.0
    clock.advance(60)
    site.update()
    assert site.other_w == 1_000.0
    assert site.grid_w == pytest.approx(
        site.load_w + site.ev_w - site.pv_w - site.other_w - site.battery_w
    )
    assert site.grid_w < before


def test_self_consumption_control_lags_so_the_grid_keeps_moving() -> None:
    battery = BatterySim(control_lag_s=4.0)
    battery.step(0.5, grid_without_battery_w=1_000.0)
    assert 0 < battery.power_w < 1_000.0  # follows, but not at once
    for _ in range(80):  # 40 s = 10 time constants
        battery.step(0.5, grid_without_battery_w=1_000.0)
    assert battery.power_w == pytest.approx(1_000.0, abs=1.0)


def test_the_grid_meter_value_changes_from_second_to_second() -> None:
    clock = FakeClock(datetime(2026, 1, 14, 18, 0, tzinfo=UTC))
    site = SitePhysics(clock)
    values = set()
    for _ in range(10):
        clock.advance(1.0)
        site.update()
        values.add(round(site.grid_w, 3))
    assert len(values) >= 5
