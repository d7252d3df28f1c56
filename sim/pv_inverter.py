"""A PV inverter behind a register-map profile (SMA, Sungrow, Huawei, ...): a ``DeviceModel`` for
the profile-derived simulator (``SimulatedDevice``) whose AC output follows the active-power
limit with a ramp, as a real inverter's power gradient does.

The profile's codec turns the device's own units into the model's: the limit arrives in W
whether the device takes it in W (Huawei 40126), in 0.01 % (SMA 40023) or in 0.1 % (Sungrow 5007)
of its nominal power. Sign: ``ActivePower`` + = production.

Example::

    pv = RampedPvInverter(nominal_w=10000, available_w=9000, ramp_w_per_s=5000)
    device = SimulatedDevice(all_profiles()["sungrow_sg"], pv)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ampacity.assets import PointValue

DC_EFFICIENCY = 0.97
"""AC / DC: the DC power the simulator reports is the AC power divided by this."""

STATES = {"running": 4, "throttled": 5, "sleeping": 2}
"""The model's OperatingState values (4 running, 5 throttled, 2 sleeping)."""


class RampedPvInverter:
    """One three-phase PV inverter.

    Args:
        nominal_w: rated AC power, W (``NominalPower``; a limit of it means "no limit").
        available_w: AC power the array could deliver now, W (tests change it in place).
        ramp_w_per_s: how fast the output moves towards a new limit or irradiance, W/s
            (``math.inf``: at once).
        clock: monotonic seconds.
        voltage_v, frequency_hz: the grid the inverter sees.
        states: the model's ``OperatingState`` for ``running``, ``throttled`` (held below the
            available power by the limit) and ``sleeping`` (no sun); a device whose status
            register cannot say one of them (SMA's health is "Ok" for all three) maps it to 4.
        limit_valid_s: a limit not written again within this many seconds lapses (the inverter
            goes back to full power), as Huawei's "schedule instruction valid duration" (42019)
            does; ``None``: a limit stays until changed.
    """

    def __init__(
        self,
        nominal_w: float = 10000.0,
        available_w: float = 0.0,
        *,
        ramp_w_per_s: float = 5000.0,
        clock: Callable[[], float] = time.monotonic,
        voltage_v: float = 230.0,
        frequency_hz: float = 50.0,
        states: Mapping[str, int] | None = None,
        limit_valid_s: float | None = None,
    ) -> None:
        self.states = {**STATES, **(states or {})}
        self.limit_valid_s = limit_valid_s
        self.lapses = 0
        """How often a limit lapsed because it was not written again in time."""
        self.nominal_w = nominal_w
        self.available_w = available_w
        self.ramp_w_per_s = ramp_w_per_s
        self.voltage_v = voltage_v
        self.frequency_hz = frequency_hz
        self.limit_w = nominal_w
        """The limit in force, W (``nominal_w`` = none)."""
        self.limit_writes = 0
        """How many limit writes reached the device."""
        self.power_w = min(available_w, nominal_w)
        """AC output now, W."""
        self.energy_wh = 12_345_000.0
        self._clock = clock
        self._last = clock()
        self._limit_written_at: float | None = None

    @property
    def target_w(self) -> float:
        """What the output moves to: the available power under the limit and the rating, W."""
        return max(0.0, min(self.available_w, self.limit_w, self.nominal_w))

    def step(self) -> float:
        """Advance the output to the clock's time; returns it (W)."""
        now = self._clock()
        dt, self._last = max(0.0, now - self._last), now
        written = self._limit_written_at
        if (
            self.limit_valid_s is not None
            and written is not None
            and now - written > self.limit_valid_s
        ):
            self.limit_w = self.nominal_w
            self._limit_written_at = None
            self.lapses += 1
        target = self.target_w
        most = self.ramp_w_per_s * dt
        if abs(target - self.power_w) <= most:
            self.power_w = target
        else:
            self.power_w += most if target > self.power_w else -most
        self.energy_wh += self.power_w * dt / 3600.0
        return self.power_w

    def read(self, asset: str, point: str) -> PointValue:
        power = self.step()
        phase_w = power / 3
        values: dict[str, PointValue] = {
            "ActivePower": power,
            "ActivePowerL1": phase_w,
            "ActivePowerL2": phase_w,
            "ActivePowerL3": phase_w,
            "ReactivePower": 0.0,
            "DcPower": power / DC_EFFICIENCY,
            "NominalPower": self.nominal_w,
            "EnergyProduced": round(self.energy_wh),
            "Frequency": self.frequency_hz,
            "OperatingState": self._state(power),
            "ActivePowerLimit": self.limit_w,
        }
        for phase in ("L1", "L2", "L3"):
            values[f"Voltage{phase}"] = self.voltage_v
            values[f"Current{phase}"] = phase_w / self.voltage_v
        return values.get(point)

    def write(self, asset: str, point: str, value: PointValue) -> None:
        self.step()
        if point == "ActivePowerLimit" and isinstance(value, int | float):
            self.limit_w = max(0.0, min(float(value), self.nominal_w))
            self.limit_writes += 1
            self._limit_written_at = self._clock()

    def _state(self, power: float) -> int:
        """The model's OperatingState (``states``)."""
        if power <= 0.0 and self.available_w <= 0.0:
            return self.states["sleeping"]
        if self.limit_w < min(self.available_w, self.nominal_w):
            return self.states["throttled"]
        return self.states["running"]
