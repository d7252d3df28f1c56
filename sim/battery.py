"""A battery storage system following its power setpoint, with SoC integration and losses."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class BatterySim:
    """A battery behind its inverter. Power sign: positive = discharge (AC side), W.

    Without an external setpoint (none written, or not refreshed within ``setpoint_timeout_s``)
    the battery runs its own self-consumption control: it offsets the grid power it is told
    about in ``step`` (charging from surplus, discharging into the load).

    Attributes:
        capacity_wh: usable capacity, Wh.
        max_charge_w / max_discharge_w: power limits at the AC side, W (≥ 0).
        charge_efficiency / discharge_efficiency: AC→cell and cell→AC efficiency (0..1].
        soc: state of charge, % (0..100).
        min_soc / max_soc: the battery management's SoC window, %.
        setpoint_timeout_s: how long an external setpoint holds without a refresh, s.
        control_lag_s: time constant of the internal self-consumption control, s (it measures
            the grid and follows with a delay, so the grid power is never exactly zero).
    """

    capacity_wh: float = 10_000.0
    max_charge_w: float = 5_000.0
    max_discharge_w: float = 5_000.0
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    soc: float = 50.0
    min_soc: float = 5.0
    max_soc: float = 100.0
    setpoint_timeout_s: float = 60.0
    control_lag_s: float = 4.0
    power_w: float = 0.0
    energy_charged_wh: float = 0.0
    energy_discharged_wh: float = 0.0
    setpoint_w: float | None = None
    setpoint_age_s: float = 0.0

    def set_setpoint(self, watts: float | None) -> None:
        """An external setpoint (+ = discharge, W); ``None`` returns control to the battery."""
        self.setpoint_w = watts
        self.setpoint_age_s = 0.0

    @property
    def external(self) -> bool:
        """An external setpoint is in force."""
        return self.setpoint_w is not None and self.setpoint_age_s <= self.setpoint_timeout_s

    def target(self, grid_without_battery_w: float) -> float:
        """The power the battery aims for now (+ = discharge), before limits."""
        if self.external:
            assert self.setpoint_w is not None
            return self.setpoint_w
        return grid_without_battery_w  # self-consumption: bring the grid to zero

    def step(self, dt_s: float, grid_without_battery_w: float = 0.0) -> float:
        """Advance ``dt_s`` seconds; returns the AC power held over the step (+ = discharge).

        Args:
            dt_s: step length, s (≥ 0).
            grid_without_battery_w: site grid power if the battery did nothing (+ = import);
                used only in self-consumption mode.
        """
        self.setpoint_age_s += dt_s
        power = self.target(grid_without_battery_w)
        if not self.external and self.control_lag_s > 0:
            follow = 1.0 - math.exp(-dt_s / self.control_lag_s)
            power = self.power_w + (power - self.power_w) * follow
        power = max(-self.max_charge_w, min(self.max_discharge_w, power))
        hours = dt_s / 3600.0
        stored = self.soc / 100.0 * self.capacity_wh
        if power < 0:  # charging: room left limits the power
            room = max(0.0, self.max_soc / 100.0 * self.capacity_wh - stored)
            if hours > 0:
                power = max(power, -room / (self.charge_efficiency * hours))
            stored += -power * hours * self.charge_efficiency
            self.energy_charged_wh += -power * hours
        elif power > 0:  # discharging: energy left limits the power
            left = max(0.0, stored - self.min_soc / 100.0 * self.capacity_wh)
            if hours > 0:
                power = min(power, left * self.discharge_efficiency / hours)
            stored -= power * hours / self.discharge_efficiency
            self.energy_discharged_wh += power * hours
        self.soc = max(0.0, min(100.0, stored / self.capacity_wh * 100.0))
        self.power_w = power
        return power
