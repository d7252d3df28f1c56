"""Control: the cycle, the priority model, strategies and controllers (architecture §5).

Pure Python on ``ampacity.assets`` only: no I/O, no clock of its own, no OPC UA.

How the server drives it (the lead wires this into ``server/app.py``):

1. Build once: ``cycle = ControlCycle(ControlConfig.model_validate(site_yaml["control"]))``.
2. Every ``config.cycle_s`` seconds (and at once after an external demand arrives):

   * freeze a ``Snapshot``: for each ``<asset>.<Point>`` node the controllers read (grid meter
     ``ActivePower``; batteries ``ActivePower``, ``StateOfCharge``, ``Capacity``,
     ``MaxChargePower``, ``MaxDischargePower``; PV ``ActivePower``, ``NominalPower``; charge points
     ``ActivePower``, ``VehicleConnected``, ``ChargeMode``, ``PhasesInUse``; heating rods
     ``ActivePower``, ``Temperature``; ripple-control receivers ``ActiveLimit``, ``Contact1..4``;
     tariff ``CurrentPrice``) a ``Sample`` of value, quality (``Quality`` from the StatusCode) and
     SourceTimestamp (the cycle applies ``config.stale_after_s``);
   * ``result = cycle.step(snapshot, now)``;
   * write ``result.writes()`` (``<asset>.<Setpoint>`` -> value) to the setpoint nodes together,
     through the drivers' write path, every cycle (devices with a fallback timer need the
     refresh); a resource absent from the decisions (a ``ChargeMode`` control did not change) is
     not written. ``<charge point>.PhaseSetting`` (1 or 3) is not in the asset vocabulary yet: it
     needs a setpoint point on ``ChargePoint`` before it can be written;
   * publish under ``Site.Control``: ``result.strategy``, ``cycle.stats`` (cycles, overruns,
     last duration), ``result.failsafe``, ``result.errors``, and per resource the decision's
     ``owner``, ``priority``, ``reason`` and ``limited_by``.

3. External limits: a marketer call or a ripple-control contact becomes
   ``cycle.put(Demand(resource, "marketer", Priority.MARKETER, reason, target, low, high,
   expires))``; run ``step`` immediately after ``put`` so the limit reaches the device without
   waiting for the next cycle.
"""

from . import forecasting
from .arbiter import Decision, ResourceSpec, arbitrate
from .config import ChargeMode, ControlConfig, StrategyConfig
from .cycle import ControlCycle, ControllerError, CycleResult, CycleStats
from .demands import Demand, Priority, at_least, at_most, setpoint
from .snapshot import Sample, Snapshot

__all__ = [
    "ChargeMode",
    "ControlConfig",
    "ControlCycle",
    "ControllerError",
    "CycleResult",
    "CycleStats",
    "Decision",
    "Demand",
    "Priority",
    "ResourceSpec",
    "Sample",
    "Snapshot",
    "StrategyConfig",
    "arbitrate",
    "at_least",
    "at_most",
    "forecasting",
    "setpoint",
]
