"""A heat pump behind SG-Ready contacts, with a heat store that shifts its consumption.

The house needs ``demand_w(hour)`` of electrical heat-pump power (a winter day's shape). In state
3 (recommended) or 4 (forced) the pump runs at ``boost_w`` / ``force_w`` while the store has room
and the extra energy goes into the store (no more than fits: with the store full it draws the
house's demand, as a pump at its raised set temperature stops); in state 2 the pump draws the
demand less what the store gives back; in state 1 (blocked) it draws nothing and the store (or
comfort) pays. Power W, + consumption; store energy Wh (electrical equivalent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


@dataclass
class HeatPumpSim:
    """Attributes:
    mean_w: mean electrical demand over the day, W.
    boost_w / force_w: electrical power in SG-Ready 3 / 4, W.
    store_wh: the heat store's capacity (electrical equivalent), Wh.
    utc_offset_h: local time = UTC + this (the demand's shape is local).
    """

    mean_w: float = 1200.0
    boost_w: float = 2500.0
    force_w: float = 3500.0
    store_wh: float = 6000.0
    utc_offset_h: float = 1.0
    sg_ready: int = 2
    stored_wh: float = 0.0
    power_w: float = 0.0

    def demand_w(self, when: datetime) -> float:
        """Electrical demand of the house's heating now, W (more at night and morning)."""
        hour = (when.hour + when.minute / 60 + self.utc_offset_h) % 24
        return self.mean_w * (1.0 + 0.35 * math.cos((hour - 6.0) / 24.0 * 2 * math.pi))

    def set_sg_ready(self, state: float) -> None:
        self.sg_ready = max(1, min(4, round(state)))

    def step(self, when: datetime, dt_s: float) -> float:
        """The power drawn over the step ending at ``when``, W."""
        demand = self.demand_w(when)
        h = dt_s / 3600.0
        if self.sg_ready >= 3 and self.stored_wh < self.store_wh:
            power = self.boost_w if self.sg_ready == 3 else self.force_w
            # the last step before the store is full: only the heat that still fits (a pump
            # at its raised set temperature stops; heat is never lost)
            room_w = (self.store_wh - self.stored_wh) / h if h > 0 else 0.0
            power = max(0.0, min(power, demand + room_w))
            self.stored_wh = min(self.store_wh, self.stored_wh + max(0.0, power - demand) * h)
        elif self.sg_ready == 1:
            power = 0.0
            self.stored_wh = max(0.0, self.stored_wh - demand * h)
        else:
            from_store = min(demand, self.stored_wh / h) if h > 0 else 0.0
            power = demand - from_store
            self.stored_wh -= from_store * h
        self.power_w = power
        return power
