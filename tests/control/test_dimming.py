"""§14a EnWG dimming: the caps per consumer kind, never below the guaranteed minimum."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from ampacity.control import Priority, arbitrate
from ampacity.control.arbiter import ResourceSpec
from ampacity.control.demands import setpoint
from ampacity.control.dimming import DimmedConsumer, DimmingConfig, dimming_demands
from pydantic import ValidationError


def consumers(*kinds: str, phases: int = 3) -> tuple[DimmedConsumer, ...]:
    return tuple(DimmedConsumer(id=f"d{i}", kind=k, phases=phases) for i, k in enumerate(kinds))


@pytest.mark.parametrize(
    ("kind", "phases", "resource", "low", "high"),
    [
        ("charge_point", 3, "d0.ChargeCurrentLimit", -math.inf, 4200 / 690),  # 6.09 A
        ("charge_point", 1, "d0.ChargeCurrentLimit", -math.inf, 4200 / 230),  # 18.3 A
        ("dc_charge_point", 3, "d0.ChargePowerLimit", -math.inf, 4200.0),
        ("heating_rod", 3, "d0.PowerSetpoint", -math.inf, 4200.0),
        ("electrolyser", 3, "d0.PowerSetpoint", -math.inf, 4200.0),
        ("battery", 3, "d0.BatteryPowerSetpoint", -4200.0, math.inf),  # charging ≤ 4.2 kW
        ("heat_pump", 3, "d0.SgReadyState", -math.inf, 2.0),  # no boost, never "blocked"
    ],
)
def test_each_kind_is_capped_at_the_minimum_power(
    kind: str, phases: int, resource: str, low: float, high: float
) -> None:
    (demand,) = dimming_demands(DimmingConfig(consumers=consumers(kind, phases=phases)), "box")
    assert demand.resource == resource
    assert demand.priority is Priority.GRID_OPERATOR
    assert demand.owner == "grid-operator-14a"
    assert (demand.low, demand.high) == pytest.approx((low, high))
    assert demand.reason.startswith("§14a dimming to 4.2 kW: box")


@pytest.mark.parametrize(
    ("n", "share_w"),
    [
        (1, 4200.0),
        (2, (4200 + 0.8 * 4200) / 2),
        (4, (4200 + 3 * 0.7 * 4200) / 4),
        (10, (4200 + 9 * 0.5 * 4200) / 10),  # beyond the table: its last factor
    ],
)
def test_the_aggregate_rule_shares_the_total_minimum(n: int, share_w: float) -> None:
    config = DimmingConfig(consumers=consumers(*["heating_rod"] * n), aggregate=True)
    assert config.share_w() == pytest.approx(share_w)
    assert DimmingConfig(consumers=consumers(*["heating_rod"] * n)).share_w() == 4200.0


def test_the_minimum_cannot_be_configured_below_4_2_kw() -> None:
    with pytest.raises(ValidationError, match="min_power_w"):
        DimmingConfig(consumers=consumers("battery"), min_power_w=3000.0)


def test_dimming_outranks_the_marketer_and_the_surplus_control() -> None:
    (cap,) = dimming_demands(DimmingConfig(consumers=consumers("charge_point")), "box")
    spec = ResourceSpec("d0.ChargeCurrentLimit", 0.0, 32.0, 0.0)
    fast = setpoint("d0.ChargeCurrentLimit", 16.0, "ev-charging", Priority.SURPLUS, "mode Fast")
    marketer = setpoint("d0.ChargeCurrentLimit", 32.0, "marketer", Priority.MARKETER, "x")
    decision = arbitrate(spec, [fast, marketer, cap])
    assert decision.value == pytest.approx(4200 / 690)
    assert decision.limited_by == "grid-operator-14a"


def test_a_method_call_dimming_expires() -> None:
    until = datetime(2026, 11, 23, 18, tzinfo=UTC)
    (demand,) = dimming_demands(DimmingConfig(consumers=consumers("battery")), "call", until)
    assert demand.expires == until
    assert demand.expired(until) and not demand.expired(datetime(2026, 11, 23, 17, tzinfo=UTC))
