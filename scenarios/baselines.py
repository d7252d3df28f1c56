"""Baselines for the scenario runner: no energy manager, and an evcc-style charging rule.

``NoControlPolicy``: nothing manages the site; the battery runs its own self-consumption control,
PV is never curtailed, every charger gives a connected vehicle its full current.

``EvccStylePolicy`` does what evcc's charge modes do, as its documentation describes them (loop
every 30 s; the home battery and the PV inverter are left to themselves), with Ampacity's modes
mapped onto evcc's:

* ``Surplus`` -> evcc's *PV* mode: charge only from surplus; start when the surplus has covered the
  minimum current (6 A on the vehicle's phases) for the enable delay (1 min), stop when it has not
  for the disable delay (3 min); in between the current follows the surplus.
* ``SurplusPlus`` -> *Min+PV*: always at least the minimum current, from the grid if need be,
  more when the surplus allows.
* ``CostOptimised`` -> PV mode plus evcc's *charging plan*: with a target (energy by a departure
  time) it picks the cheapest price slots before the departure that, at the vehicle's power,
  deliver the energy still missing, and charges at full current in them (with a flat price, the
  latest slots: as late as possible); outside them the PV mode applies. Re-planned every loop.
* ``Fast`` / ``FastOnce`` -> *Now*: full current. ``Off`` -> *Off*.

Currents A, powers W (+ consumption), prices per kWh.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ampacity.control import ChargeMode, Snapshot

VOLTAGE_V = 230.0

Target = Callable[[str, datetime], tuple[float, datetime] | None]
"""``(charge point, now) -> (energy wanted in the session, Wh; departure)`` or ``None``."""
Prices = Callable[[datetime], float]
"""The import price per kWh in force at a moment."""


@dataclass
class NoControlPolicy:
    """No energy manager (see the module's description)."""

    charge_points: tuple[str, ...]
    max_current_a: float = 16.0
    period_s: float = 10.0

    def decide(self, snapshot: Snapshot, now: datetime) -> dict[str, float]:
        return {f"{cp}.ChargeCurrentLimit": self.max_current_a for cp in self.charge_points}


@dataclass
class EvccStylePolicy:
    """evcc's charge modes and charging plan (see the module's description).

    Attributes:
        charge_points: the charge point ids.
        target: the vehicle's plan target now, if it has one.
        price: the import price at a moment (the tariff as evcc reads it).
        slot_s: the price slots the plan chooses among, s.
    """

    charge_points: tuple[str, ...]
    target: Target = field(default=lambda cp, now: None)
    price: Prices = field(default=lambda when: 0.0)
    slot_s: float = 900.0
    period_s: float = 30.0
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    enable_delay_s: float = 60.0
    disable_delay_s: float = 180.0
    _on: dict[str, bool] = field(default_factory=dict)
    _since: dict[str, datetime | None] = field(default_factory=dict)

    def decide(self, snapshot: Snapshot, now: datetime) -> dict[str, float]:
        grid = snapshot.number("grid", "ActivePower")
        writes: dict[str, float] = {}
        if grid is None:
            return writes  # a stale meter: evcc skips the cycle
        surplus = -grid
        for cp in self.charge_points:
            mode = snapshot.number(cp, "ChargeMode")
            key = f"{cp}.ChargeCurrentLimit"
            if mode in (ChargeMode.FAST, ChargeMode.FAST_ONCE):
                writes[key] = self.max_current_a
                continue
            if not snapshot.flag(cp, "VehicleConnected") or mode == ChargeMode.OFF:
                writes[key] = 0.0
                self._on[cp], self._since[cp] = False, None
                continue
            phases = snapshot.number(cp, "PhasesInUse") or 3
            own = snapshot.number(cp, "ActivePower") or 0.0
            per_amp = VOLTAGE_V * phases
            available = surplus + own
            if mode == ChargeMode.COST_OPTIMISED and self._planned(snapshot, cp, now, per_amp):
                writes[key] = self.max_current_a
                continue
            if mode == ChargeMode.SURPLUS_PLUS:
                writes[key] = min(self.max_current_a, max(self.min_current_a, available / per_amp))
                continue
            writes[key] = self._pv_mode(cp, now, available, per_amp)
        return writes

    def _pv_mode(self, cp: str, now: datetime, available_w: float, per_amp: float) -> float:
        """evcc's PV mode: on/off with delays, the current following the surplus."""
        enough = available_w >= self.min_current_a * per_amp
        on = self._on.get(cp, False)
        since = self._since.get(cp)
        if enough != on:
            since = since or now
            delay = self.enable_delay_s if enough else self.disable_delay_s
            if (now - since).total_seconds() >= delay:
                on, since = enough, None
        else:
            since = None
        self._on[cp], self._since[cp] = on, since
        current = min(self.max_current_a, max(self.min_current_a, available_w / per_amp))
        return current if on else 0.0

    def _planned(self, snapshot: Snapshot, cp: str, now: datetime, per_amp: float) -> bool:
        """Whether now is one of the plan's slots for this vehicle."""
        wish = self.target(cp, now)
        if wish is None:
            return False
        energy_wh, departure = wish
        missing = energy_wh - (snapshot.number(cp, "SessionEnergy") or 0.0)
        power = self.max_current_a * per_amp
        if missing <= 1.0 or departure <= now:
            return False
        start = now - timedelta(seconds=now.timestamp() % self.slot_s)
        slots: list[tuple[float, float, datetime]] = []
        moment = start
        while moment < departure:
            end = min(moment + timedelta(seconds=self.slot_s), departure)
            usable = (end - max(moment, now)).total_seconds()
            # cheapest first; at equal prices the later slot (as late as possible)
            slots.append((self.price(max(moment, now)), -moment.timestamp(), moment))
            moment = end
            if usable <= 0:
                slots.pop()
        slots.sort()
        needed = math.ceil(missing / (power * self.slot_s / 3600.0))
        chosen = {when for _, _, when in slots[:needed]}
        return start in chosen
