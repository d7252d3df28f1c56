"""§14a EnWG dimming: the grid operator limits the controllable consumers to a minimum power.

While dimming is active, each consumer the installer selected gets a grid-operator demand
(priority ``GRID_OPERATOR``) that caps its draw at its share of the guaranteed minimum power,
never below it:

* AC charge points: ``ChargeCurrentLimit`` ≤ share / (voltage × phases) A;
* DC charge points, heating rods, electrolysers: ``ChargePowerLimit`` / ``PowerSetpoint`` ≤ share W;
* batteries: charging ≤ share W (``BatteryPowerSetpoint`` ≥ −share; + discharge), discharging
  stays free;
* heat pumps (SG-Ready): no boost, ``SgReadyState`` ≤ 2; the normal state is their regular draw
  (the "blocked" state 1 would take them below the minimum and is never used for dimming).

The minimum per device is 4.2 kW (BNetzA determination BK6-22-300 on § 14a EnWG). With
``aggregate`` (several devices behind one energy manager) the total minimum is
``4.2 kW + (n − 1) × factor(n) × 4.2 kW`` with the simultaneity factor of the determination's
table (``simultaneity``; check it against the grid operator's technical connection rules), shared
equally. Powers W, currents A.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .demands import Demand, Priority, at_least, at_most

OWNER = "grid-operator-14a"
MIN_POWER_W = 4200.0

DEFAULT_SIMULTANEITY = {2: 0.8, 3: 0.75, 4: 0.7, 5: 0.65, 6: 0.6, 7: 0.55, 8: 0.5}
"""n -> simultaneity factor; n above the largest key uses the last factor."""


class DimmedConsumer(BaseModel):
    """One controllable consumer (``steuerbare Verbrauchseinrichtung``).

    Attributes:
        id: asset id.
        kind: how it is limited (see the module docstring).
        phases: for AC charge points, the phases it charges on (the current cap uses them).
        voltage_v: phase voltage for the current cap, V.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str = Field(
        pattern="^(charge_point|dc_charge_point|heating_rod|heat_pump|battery|electrolyser)$"
    )
    phases: int = Field(3, ge=1, le=3)
    voltage_v: float = Field(230.0, gt=0)


class DimmingConfig(BaseModel):
    """The ``control.dimming`` section.

    Attributes:
        consumers: the devices the grid operator may dim.
        signal: snapshot key of the control-box contact that dims (``rcr.Contact4``); a method
            call (``Site.GridOperator.SetDimming``) works with or without it.
        min_power_w: guaranteed minimum per device, W.
        aggregate: apply the total minimum of several devices behind one energy manager.
        simultaneity: n -> factor for the aggregate rule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumers: tuple[DimmedConsumer, ...]
    signal: str | None = None
    min_power_w: float = Field(MIN_POWER_W, ge=MIN_POWER_W)
    aggregate: bool = False
    simultaneity: dict[int, float] = Field(default_factory=lambda: dict(DEFAULT_SIMULTANEITY))

    def share_w(self) -> float:
        """The power each consumer may draw while dimmed, W."""
        n = len(self.consumers)
        if not self.aggregate or n <= 1:
            return self.min_power_w
        keys = sorted(self.simultaneity)
        factor = self.simultaneity[max(k for k in keys if k <= n)] if n >= keys[0] else 1.0
        total = self.min_power_w + (n - 1) * factor * self.min_power_w
        return total / n


def dimming_demands(
    config: DimmingConfig, reason: str, expires: datetime | None = None
) -> list[Demand]:
    """The grid operator's caps while dimming is active."""
    share = config.share_w()
    why = f"§14a dimming to {share / 1000:.1f} kW: {reason}"
    p = Priority.GRID_OPERATOR
    found: list[Demand] = []
    for c in config.consumers:
        if c.kind == "charge_point":
            amps = share / (c.voltage_v * c.phases)
            found.append(at_most(f"{c.id}.ChargeCurrentLimit", amps, OWNER, p, why))
        elif c.kind == "dc_charge_point":
            found.append(at_most(f"{c.id}.ChargePowerLimit", share, OWNER, p, why))
        elif c.kind in ("heating_rod", "electrolyser"):
            found.append(at_most(f"{c.id}.PowerSetpoint", share, OWNER, p, why))
        elif c.kind == "battery":
            found.append(at_least(f"{c.id}.BatteryPowerSetpoint", -share, OWNER, p, why))
        else:  # heat pump
            found.append(at_most(f"{c.id}.SgReadyState", 2.0, OWNER, p, why))
    if expires is not None:
        found = [
            Demand(d.resource, d.owner, d.priority, d.reason, d.target, d.low, d.high, expires)
            for d in found
        ]
    return found
