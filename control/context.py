"""What the controllers of one cycle share: the snapshot, the grid balance they plan, the demands.

``predicted_grid_w`` (+ import) starts as the *residual* grid power: the measured grid power with
every controlled flexible asset taken out (batteries idle, charge points off). Each controller, in
the strategy's order, plans its assets and adds their expected power (``add_grid``), so the first
in the order takes the surplus first. The limit controllers (feed-in, import) set ``grid_min_w`` /
``grid_max_w`` before and enforce them after the others (``Controller.settle``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from .config import ControlConfig, StrategyConfig
from .demands import Demand
from .snapshot import Snapshot


@dataclass
class CycleContext:
    """Shared, per-cycle planning state (not kept between cycles).

    Attributes:
        snapshot / now / dt_s: the readings, the cycle time and the time since the last cycle.
        config / strategy: the control config and the strategy in force.
        grid_w: measured grid power, W (+ import).
        predicted_grid_w: planned grid power after the decisions made so far, W (+ import).
        grid_min_w / grid_max_w: the allowed grid range (−feed-in limit, import limit), W.
        demands: demands made this cycle.
        planned: resource -> value planned this cycle.
        previous: last cycle's decided values per resource.
        price: the current energy price per kWh, if known.
        rejected: resources whose last device write was refused (``ControlCycle.write_result``).
        plan_import_max_w: the day-ahead plan's peak import against a demand charge, W (``None``:
            no such bound); an upper bound on import like the import limit, never above it.
        plan_battery_w: battery setpoint resource -> the plan's range for it now (low, high; W,
            + discharge), the bounds ``ScheduleController`` applies, where the plan gives PV to
            a Surplus vehicle now: the batteries' surplus charging keeps within them from the
            start, so the vehicle after them in the strategy's order sees what the plan leaves
            it (elsewhere the bound applies in ``settle``, as before, and a consumer the plan
            does not know, an unplanned heat pump, does not take what it leaves).
        plan_vehicle_w: charge point id -> the most a vehicle without a target (Surplus mode)
            may take now, W: the plan's power for it plus the planner's margin (the plan keeps
            the rest of its room for the hours the PV would otherwise be curtailed).
    """

    snapshot: Snapshot
    now: datetime
    dt_s: float
    config: ControlConfig
    strategy: StrategyConfig
    grid_w: float
    predicted_grid_w: float
    previous: dict[str, float] = field(default_factory=dict)
    price: float | None = None
    grid_min_w: float = -math.inf
    grid_max_w: float = math.inf
    demands: list[Demand] = field(default_factory=list)
    planned: dict[str, float] = field(default_factory=dict)
    rejected: frozenset[str] = frozenset()
    plan_import_max_w: float | None = None
    plan_battery_w: dict[str, tuple[float, float]] = field(default_factory=dict)
    plan_vehicle_w: dict[str, float] = field(default_factory=dict)

    @property
    def grid_target_w(self) -> float:
        """The strategy's target, inside the allowed range."""
        return min(self.grid_max_w, max(self.grid_min_w, self.strategy.grid_target_w))

    def demand(self, *demands: Demand) -> None:
        self.demands.extend(demands)

    def add_grid(self, watts: float) -> None:
        """A planned flow adds ``watts`` to the grid power (consumption +, discharge −)."""
        self.predicted_grid_w += watts
