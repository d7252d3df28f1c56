"""Limit violations counted by number, duration and energy.

A violation is an exceedance of a limit (import above the fuse or peak-shaving limit, export
above the feed-in limit) that lasts longer than ``grace_s``: a consumer that stops at once raises
the export before any control can react, and the control must bring it back within its cycle
plus the device's latency. ``LimitViolations`` is fed one measurement per step (power W above
zero in the limit's direction, the step's length s) and keeps:

* ``count``: exceedances that outlasted the grace time;
* ``seconds``: their whole duration, s (the grace part included);
* ``energy_wh``: the energy above the limit during them, Wh;
* ``exceedance_s``: every second above the limit, counted or not.

The benchmark and the scenario runner count with it; the site's control keeps one per limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LimitViolations:
    """Accumulates the violations of one limit (see the module's description).

    Args:
        limit_w: the limit, W (≥ 0; import or export magnitude).
        grace_s: an exceedance shorter than this is not a violation, s.
    """

    limit_w: float
    grace_s: float = 5.0
    count: int = 0
    seconds: float = 0.0
    energy_wh: float = 0.0
    exceedance_s: float = 0.0
    _run_s: float = 0.0
    _run_wh: float = 0.0
    _counted: bool = False

    def observe(self, power_w: float, dt_s: float) -> None:
        """One step: ``power_w`` (import, or export, as a magnitude) held for ``dt_s``."""
        over = power_w - self.limit_w
        if over <= 0 or dt_s <= 0:
            self._run_s = self._run_wh = 0.0
            self._counted = False
            return
        energy = over * dt_s / 3600.0
        self.exceedance_s += dt_s
        self._run_s += dt_s
        self._run_wh += energy
        if self._counted:
            self.seconds += dt_s
            self.energy_wh += energy
        elif self._run_s > self.grace_s:
            self._counted = True
            self.count += 1
            self.seconds += self._run_s
            self.energy_wh += self._run_wh

    def as_dict(self) -> dict[str, float]:
        """``{"count": K, "seconds": S, "kwh": E}`` (the benchmark's JSON shape)."""
        return {"count": self.count, "seconds": self.seconds, "kwh": self.energy_wh / 1000.0}
