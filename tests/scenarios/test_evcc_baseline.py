"""The rule baseline does what evcc's modes do: PV only from surplus, Min+PV at least the
minimum current from the grid, the plan in the cheapest slots before departure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ampacity.control import ChargeMode, Snapshot
from ampacity.scenarios.baselines import EvccStylePolicy

NOW = datetime(2024, 3, 20, 18, 0, tzinfo=UTC)


def _snapshot(mode: ChargeMode, grid_w: float, now: datetime = NOW) -> Snapshot:
    return Snapshot.of(
        now,
        {
            "grid.ActivePower": grid_w,
            "cp.ChargeMode": int(mode),
            "cp.VehicleConnected": True,
            "cp.PhasesInUse": 3,
            "cp.ActivePower": 0.0,
            "cp.SessionEnergy": 0.0,
        },
    )


def test_pv_mode_waits_for_surplus_and_min_pv_takes_the_grid() -> None:
    pv = EvccStylePolicy(("cp",))
    assert pv.decide(_snapshot(ChargeMode.SURPLUS, 300.0), NOW) == {"cp.ChargeCurrentLimit": 0.0}
    minpv = EvccStylePolicy(("cp",))
    writes = minpv.decide(_snapshot(ChargeMode.SURPLUS_PLUS, 300.0), NOW)
    assert writes == {"cp.ChargeCurrentLimit": 6.0}  # importing already: the minimum current
    writes = minpv.decide(_snapshot(ChargeMode.SURPLUS_PLUS, -5520.0), NOW)
    assert writes["cp.ChargeCurrentLimit"] == 8.0  # 5.52 kW of surplus on 3 phases


def test_pv_mode_starts_after_the_enable_delay() -> None:
    pv = EvccStylePolicy(("cp",))
    surplus = _snapshot(ChargeMode.SURPLUS, -5000.0)
    assert pv.decide(surplus, NOW)["cp.ChargeCurrentLimit"] == 0.0
    later = NOW + timedelta(seconds=60)
    writes = pv.decide(_snapshot(ChargeMode.SURPLUS, -5000.0, later), later)
    assert 7.0 < writes["cp.ChargeCurrentLimit"] < 7.3


def test_the_plan_charges_in_the_cheapest_slots_before_departure() -> None:
    """11 kW for 10 kWh: four quarter-hours; the cheap ones are 02:00-03:00."""
    departure = NOW + timedelta(hours=12)

    def price(when: datetime) -> float:
        return 0.10 if 2 <= when.hour < 3 else 0.30

    plan = EvccStylePolicy(("cp",), target=lambda cp, now: (10_000.0, departure), price=price)
    now_writes = plan.decide(_snapshot(ChargeMode.COST_OPTIMISED, 300.0), NOW)
    assert now_writes == {"cp.ChargeCurrentLimit": 0.0}  # PV mode meanwhile: no surplus
    cheap = datetime(2024, 3, 21, 2, 15, tzinfo=UTC)
    writes = plan.decide(_snapshot(ChargeMode.COST_OPTIMISED, 300.0, cheap), cheap)
    assert writes == {"cp.ChargeCurrentLimit": 16.0}
    dear = datetime(2024, 3, 21, 3, 15, tzinfo=UTC)
    writes = plan.decide(_snapshot(ChargeMode.COST_OPTIMISED, 300.0, dear), dear)
    assert writes == {"cp.ChargeCurrentLimit": 0.0}
