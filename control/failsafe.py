"""Fail-safe states per asset kind: what a resource gets when control cannot trust its inputs.

Used when the grid meter is stale or Bad (every asset) and when a controller raises (its assets).
Never "hold the last value": AC chargers go to the configured fail-safe current (minimum or off),
DC chargers, heating rods, electrolysers and generators off, batteries to idle, heat pumps to
SG-Ready 2 (normal), each a command (a pinned range: no bound of lower priority moves it), PV to
the feed-in limit as its output limit (export stays below the limit even with no load on site).
Recovery is automatic: the next cycle with good inputs plans normally.
"""

from __future__ import annotations

from .config import ControlConfig
from .demands import Demand, Priority, command

OWNER = "failsafe"


def failsafe_demands(
    config: ControlConfig, assets: set[str], reason: str, feed_in_limit_w: float | None
) -> list[Demand]:
    """The safe state of each of ``assets`` (ids) as device-limit demands."""
    found: list[Demand] = []
    p = Priority.DEVICE_LIMIT
    for b in config.batteries:
        if b.id in assets:
            found.append(command(f"{b.id}.BatteryPowerSetpoint", 0.0, OWNER, p, f"idle: {reason}"))
    for cp in config.charge_points:
        if cp.id in assets and cp.dc:
            found.append(command(f"{cp.id}.{cp.setpoint}", 0.0, OWNER, p, f"off: {reason}"))
        elif cp.id in assets:
            amps = config.ev_failsafe_current_a
            why = f"{amps:.0f} A: {reason}"
            found.append(
                Demand(f"{cp.id}.ChargeCurrentLimit", OWNER, p, why, amps, low=amps, high=amps)
            )
    for rod in config.heating_rods:
        if rod.id in assets:
            found.append(command(f"{rod.id}.PowerSetpoint", 0.0, OWNER, p, f"off: {reason}"))
    for unit in config.electrolysers:
        if unit.id in assets:
            found.append(command(f"{unit.id}.PowerSetpoint", 0.0, OWNER, p, f"off: {reason}"))
    for gen in config.generators:
        if gen.id in assets:
            found.append(command(f"{gen.id}.PowerSetpoint", 0.0, OWNER, p, f"off: {reason}"))
    for hp in config.heat_pumps:
        if hp.id in assets:
            found.append(command(f"{hp.id}.SgReadyState", 2.0, OWNER, p, f"normal: {reason}"))
    if feed_in_limit_w is not None:
        pvs = [pv for pv in config.pv if pv.id in assets]
        nominal = {pv.id: pv.nominal_power_w or 1.0 for pv in pvs}
        total = sum(nominal.values()) or 1.0
        for pv in pvs:
            share = feed_in_limit_w * nominal[pv.id] / total
            why = f"feed-in limit {feed_in_limit_w:.0f} W: {reason}"
            found.append(Demand(f"{pv.id}.ActivePowerLimit", OWNER, p, why, share, high=share))
    return found
