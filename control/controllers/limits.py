"""Grid limits: the feed-in limit (PV curtailment shared by nominal power) and the import limit.

Both set the allowed grid range before the other controllers plan, and enforce it on the whole
plan afterwards (``settle``). Grid power W: + import, − export.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ampacity.assets.kinds import MAX_POWER_W

from ..config import HeatPumpConfig, PvConfig
from ..context import CycleContext
from ..demands import Demand, Priority, at_least, at_most
from ..snapshot import Snapshot
from .base import Controller

PV_LIMIT = "ActivePowerLimit"
PRODUCING_W = 50.0
REFUSE_TOLERANCE_W = 200.0
"""An inverter this far (or 3 % of its nominal power) above its limit is not following it."""
"""Below this output (or 1 % of nominal power) an inverter is taken to produce nothing."""


def pv_nominal_w(snapshot: Snapshot, pv: PvConfig) -> float:
    """Rated AC power: the configured value, else the device's ``NominalPower`` (0 if unknown)."""
    if pv.nominal_power_w is not None:
        return pv.nominal_power_w
    return snapshot.number(pv.id, "NominalPower") or 0.0


def site_limit_w(ctx: CycleContext, point: str) -> float | None:
    """The site's ``FeedInLimit`` / ``GridImportLimit`` node in W, if one is set (a Null value
    means none; so does a value at the top of its range, 1 GW, as written by older clients)."""
    if ctx.config.site is None:
        return None
    value = ctx.snapshot.number(ctx.config.site, point)
    return value if value is not None and value < MAX_POWER_W else None


def feed_in_limit_w(ctx: CycleContext, pvs: tuple[PvConfig, ...]) -> float | None:
    """The feed-in limit in W: the strategy's (``max_feed_in_pct`` of the installed PV power)
    and the site's ``FeedInLimit`` node, whichever is lower."""
    strategy = ctx.strategy
    limits = [site_limit_w(ctx, "FeedInLimit")]
    if strategy.max_feed_in_w is not None:
        limits.append(strategy.max_feed_in_w)
    elif strategy.max_feed_in_pct is not None:
        total = sum(pv_nominal_w(ctx.snapshot, pv) for pv in pvs)
        limits.append(total * strategy.max_feed_in_pct / 100.0)
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def grid_import_limit_w(ctx: CycleContext) -> float | None:
    """The import limit in W: the strategy's, the site's ``GridImportLimit`` and the plan's peak
    against a demand charge (``CycleContext.plan_import_max_w``), the lowest."""
    known = [
        limit
        for limit in (
            ctx.strategy.grid_import_limit_w,
            site_limit_w(ctx, "GridImportLimit"),
            ctx.plan_import_max_w,
        )
        if limit is not None
    ]
    return min(known) if known else None


def plan_sets_import_limit(ctx: CycleContext) -> bool:
    """The plan's peak (demand charge) is the import limit in force, below every configured one."""
    planned = ctx.plan_import_max_w
    return planned is not None and grid_import_limit_w(ctx) == planned


def discharge_cover_w(ctx: CycleContext) -> float:
    """Discharge the batteries can still add for the import limit, W (≥ 0).

    ``ImportLimitController.settle`` discharges the batteries where the planned import exceeds
    the limit; a load planned before it may count on this room (a ``Fast`` car waits only where
    the batteries cannot cover the peak). Zero without an import limit or where the strategy's
    order does not put the batteries before the charge points; a battery counts while its SoC is
    above its reserve, with what its device and configuration allow beyond its planned value.
    """
    order = ctx.strategy.order
    if grid_import_limit_w(ctx) is None or "battery" not in order:
        return 0.0
    if "charge_point" in order and order.index("charge_point") < order.index("battery"):
        return 0.0
    s = ctx.snapshot
    room = 0.0
    for b in ctx.config.batteries:
        soc = s.number(b.id, "StateOfCharge")
        if soc is None or soc <= max(b.reserve_soc_pct, b.empty_soc_pct):
            continue
        limits = [
            v for v in (s.number(b.id, "MaxDischargePower"), b.max_discharge_w) if v is not None
        ]
        most = min(limits) if limits else 0.0
        room += max(0.0, most - ctx.planned.get(f"{b.id}.BatteryPowerSetpoint", 0.0))
    return room


@dataclass
class _Probe:
    """One inverter's probe for PV hidden by curtailment.

    Attributes:
        credit_w: what the plan is credited with now, W.
        since: when the current probe started (``None``: no probe running).
        base_w / base_limit_w: the inverter's output and limit when it started, W.
        hold_until: no new probe before this (the last one found nothing).
    """

    credit_w: float = 0.0
    since: datetime | None = None
    base_w: float = 0.0
    base_limit_w: float = 0.0
    hold_until: datetime | None = None


class FeedInLimitController(Controller):
    """Curtails PV so that export stays below the limit minus ``margin_w``.

    The PV total limit is the measured PV power plus the export headroom left by the plan; a
    curtailed inverter may hold back more than it shows, so raising the limit by the headroom
    never lets the export exceed the limit. The total is shared by nominal power.

    A curtailed inverter hides the surplus it holds back. While one runs at its limit *and
    produces*, the plan is credited with ``probe_pct`` of its nominal power so that the battery
    and flexible loads take more and the PV limit rises with them (the credit is not counted as
    headroom). Once a consumer took the credit and the limit rose, the probe is judged on the
    output: if it rose by at least half as much as the limit, the sun was there and the next
    probe starts while the inverter is still at its limit; if it did not rise within
    ``settle_s`` (or the inverter sits below its raised limit and does not rise), nothing was
    hidden: the credit ends and no probe runs for ``hold_s``. An inverter
    that produces nothing (night) is never probed: there is nothing hidden to find.

    An inverter that refuses its limit (the write was rejected, or it stays above the limit
    longer than its ``limit_settle_s``) is taken as it is: the other inverters share what the
    limit leaves after its output, and what is still exported above the limit goes into the
    batteries, then heating rods and electrolysers, at feed-in priority; each such decision's
    reason names the inverter that does not follow.

    Args:
        pvs: the inverters.
        margin_w: the export is held this far below the limit, W.
        probe_pct: share of nominal power credited while curtailed, %.
        settle_s: time an inverter gets to follow a raised limit, s.
        hold_s: pause after a probe that found nothing, s.
    """

    name = "feed-in-limit"

    def __init__(
        self,
        pvs: tuple[PvConfig, ...],
        margin_w: float = 100.0,
        probe_pct: float = 15.0,
        settle_s: float = 4.0,
        hold_s: float = 60.0,
    ) -> None:
        self.pvs = pvs
        self.margin_w = margin_w
        self.probe_pct = probe_pct
        self.settle_s = settle_s
        self.hold_s = hold_s
        self.assets = tuple(pv.id for pv in pvs)
        self._probe_w = 0.0
        self._probes: dict[str, _Probe] = {}
        self._over_since: dict[str, datetime] = {}

    def propose(self, ctx: CycleContext) -> None:
        self._probe_w = 0.0
        limit = feed_in_limit_w(ctx, self.pvs)
        if limit is None:
            return
        ctx.grid_min_w = max(ctx.grid_min_w, -limit + self.margin_w)
        s = ctx.snapshot
        for pv in self.pvs:
            nominal = pv_nominal_w(s, pv)
            produced = s.number(pv.id, "ActivePower") or 0.0
            set_limit = ctx.previous.get(f"{pv.id}.{PV_LIMIT}", nominal)
            at_limit = set_limit < nominal - 1.0 and produced >= set_limit - 0.02 * nominal
            self._probe_w += self._credit(ctx.now, pv.id, at_limit, produced, nominal, set_limit)
        ctx.add_grid(-self._probe_w)

    def _credit(
        self,
        now: datetime,
        pv_id: str,
        at_limit: bool,
        produced: float,
        nominal: float,
        set_limit: float,
    ) -> float:
        """This cycle's credit for one inverter, W (see the class's description)."""
        probe = self._probes.setdefault(pv_id, _Probe())
        if produced <= max(PRODUCING_W, 0.01 * nominal):
            probe.credit_w, probe.since = 0.0, None  # nothing produced, nothing hidden
            return 0.0
        if probe.since is not None:
            raised = set_limit - probe.base_limit_w
            gain = produced - probe.base_w
            if raised < 0.25 * probe.credit_w:
                # nobody took the credit (a car still waiting to start): the limit did not
                # rise, so there is nothing to judge yet; the credit costs nothing meanwhile
                probe.since, probe.base_w, probe.base_limit_w = now, produced, set_limit
                return probe.credit_w if at_limit else 0.0
            stalled = not at_limit and gain < 0.02 * nominal  # below its limit, not rising
            if gain >= 0.5 * raised:
                probe.since = None  # the sun was there: probe on while curtailed
            elif stalled or (now - probe.since).total_seconds() >= self.settle_s:
                probe.credit_w, probe.since = 0.0, None  # nothing hidden: what it gives is all
                probe.hold_until = now + timedelta(seconds=self.hold_s)
                return 0.0
            else:
                return probe.credit_w  # still settling
        held = probe.hold_until is not None and now < probe.hold_until
        if not at_limit or held:
            probe.credit_w = 0.0
            return 0.0
        probe.credit_w = self.probe_pct / 100.0 * nominal
        probe.since, probe.base_w, probe.base_limit_w = now, produced, set_limit
        return probe.credit_w

    def settle(self, ctx: CycleContext) -> None:
        limit = feed_in_limit_w(ctx, self.pvs)
        if limit is None:
            return
        s = ctx.snapshot
        nominal = {pv.id: pv_nominal_w(s, pv) for pv in self.pvs}
        total_nominal = sum(nominal.values()) or 1.0
        produced = sum(s.number(pv.id, "ActivePower") or 0.0 for pv in self.pvs)
        ctx.add_grid(self._probe_w)  # the probe was a guess, not headroom
        headroom = ctx.predicted_grid_w - ctx.grid_min_w
        total = max(0.0, produced + headroom)
        refusing = self._refusing(ctx, nominal)
        fixed = sum(s.number(i, "ActivePower") or 0.0 for i in refusing)
        followers = {i: w for i, w in nominal.items() if i not in refusing}
        follow_total = max(0.0, total - fixed)  # what the followers may give
        follow_nominal = sum(followers.values()) or 1.0
        reason = f"export ≤ {limit:.0f} W"
        names = ", ".join(sorted(refusing))
        for pv in self.pvs:
            if pv.id in refusing:  # keep asking: it may follow again
                value = min(nominal[pv.id], total * nominal[pv.id] / total_nominal)
                why = f"{reason}; not following its limit"
            else:
                value = min(nominal[pv.id], follow_total * nominal[pv.id] / follow_nominal)
                why = (
                    f"{reason}; {names} not following its limit: its share here"
                    if names
                    else reason
                )
            resource = f"{pv.id}.{PV_LIMIT}"
            ctx.demand(Demand(resource, self.name, Priority.FEED_IN_LIMIT, why, value, high=value))
            ctx.planned[resource] = value
        if headroom < 0:
            ctx.add_grid(min(-headroom, produced - fixed))
        excess = fixed - total  # exported above the limit with every follower at 0 W
        if excess > 0:
            self._absorb(ctx, excess, f"{reason}; {names} not following its limit")

    def _refusing(self, ctx: CycleContext, nominal: dict[str, float]) -> set[str]:
        """The inverters that do not follow their limit: the last write was refused, or they
        produce above the limit set longer than their ``limit_settle_s``."""
        found: set[str] = set()
        for pv in self.pvs:
            resource = f"{pv.id}.{PV_LIMIT}"
            asked = ctx.previous.get(resource)
            produced = ctx.snapshot.number(pv.id, "ActivePower") or 0.0
            tolerance = max(REFUSE_TOLERANCE_W, 0.03 * nominal[pv.id])
            if asked is None or produced <= asked + tolerance:
                self._over_since.pop(pv.id, None)
            else:
                since = self._over_since.setdefault(pv.id, ctx.now)
                if (ctx.now - since).total_seconds() >= pv.limit_settle_s:
                    found.add(pv.id)
            if resource in ctx.rejected:
                found.add(pv.id)
        return found

    def _absorb(self, ctx: CycleContext, excess: float, reason: str) -> None:
        """Export that no inverter can take back goes into the batteries, then the heating rods
        and electrolysers, above the plan and self-consumption (feed-in priority)."""
        s = ctx.snapshot
        for b in ctx.config.batteries:
            if excess <= 0:
                return
            resource = f"{b.id}.BatteryPowerSetpoint"
            planned = ctx.planned.get(resource, 0.0)  # W, + discharge
            room = (s.number(b.id, "MaxChargePower") or b.max_charge_w or 0.0) + planned
            soc = s.number(b.id, "StateOfCharge")
            if soc is None or soc >= b.full_soc_pct or room <= 0:
                continue
            take = min(room, excess)
            why = f"{reason}: battery charges {take / 1000:.1f} kW more"
            ctx.demand(at_most(resource, planned - take, self.name, Priority.FEED_IN_LIMIT, why))
            ctx.planned[resource] = planned - take
            ctx.add_grid(take)
            excess -= take
        loads = [(r.id, r.max_power_w) for r in ctx.config.heating_rods] + [
            (e.id, e.max_power_w) for e in ctx.config.electrolysers
        ]
        for unit_id, max_w in loads:
            if excess <= 0:
                return
            resource = f"{unit_id}.PowerSetpoint"
            planned = ctx.planned.get(resource, 0.0)  # W, + consumption
            room = max_w - planned
            if room <= 0:
                continue
            take = min(room, excess)
            why = f"{reason}: {unit_id} takes {take / 1000:.1f} kW more"
            ctx.demand(at_least(resource, planned + take, self.name, Priority.FEED_IN_LIMIT, why))
            ctx.planned[resource] = planned + take
            ctx.add_grid(take)
            excess -= take


class GridOperatorController(Controller):
    """Ripple-control receivers: PV output at most ``ActiveLimit`` % of the installed PV power,
    shared by nominal power, with grid-operator priority (above the marketer and every limit of
    the site). A receiver that stops answering keeps its last known limit: a communication
    failure never lifts a grid operator's limit (one never seen sets none).

    Heat pumps with a ``block_signal`` go to SG-Ready 1 (blocked) while that contact is closed
    (the grid operator's block, EVU-Sperre), with the same priority and the same rule for a
    silent contact."""

    name = "grid-operator"

    def __init__(
        self,
        receivers: tuple[str, ...],
        pvs: tuple[PvConfig, ...],
        heat_pumps: tuple[HeatPumpConfig, ...] = (),
    ) -> None:
        self.receivers = receivers
        self.pvs = pvs
        self.heat_pumps = tuple(hp for hp in heat_pumps if hp.block_signal)
        self.assets = ()  # its limits are not a fail-safe matter of the PV inverters
        self.last_known: dict[str, float] = {}
        self.last_block: dict[str, bool] = {}

    def propose(self, ctx: CycleContext) -> None:
        self._block_heat_pumps(ctx)
        s = ctx.snapshot
        known: list[tuple[float, str]] = []
        for receiver in self.receivers:
            pct = s.number(receiver, "ActiveLimit")
            if pct is not None:
                self.last_known[receiver] = pct
                known.append((pct, ""))
            elif receiver in self.last_known:
                known.append((self.last_known[receiver], f" (last known, {receiver} silent)"))
        limited = [k for k in known if k[0] < 100.0]
        if not limited:
            return
        pct, note = min(limited)
        for pv in self.pvs:
            value = pv_nominal_w(s, pv) * pct / 100.0
            ctx.demand(
                at_most(
                    f"{pv.id}.{PV_LIMIT}",
                    value,
                    self.name,
                    Priority.GRID_OPERATOR,
                    f"ripple control: {pct:.0f} % of installed power{note}",
                )
            )

    def _block_heat_pumps(self, ctx: CycleContext) -> None:
        for hp in self.heat_pumps:
            assert hp.block_signal is not None
            asset, point = hp.block_signal.split(".", 1)
            closed = ctx.snapshot.flag(asset, point)
            note = ""
            if closed is None:
                closed = self.last_block.get(hp.id, False)
                note = f" (last known, {asset} silent)" if closed else ""
            else:
                self.last_block[hp.id] = closed
            if closed:
                ctx.demand(
                    Demand(
                        f"{hp.id}.SgReadyState",
                        self.name,
                        Priority.GRID_OPERATOR,
                        f"grid operator's block: {hp.block_signal} closed{note}",
                        target=1.0,
                        low=1.0,
                        high=1.0,
                    )
                )


DC_STEP_W = 230.0
"""The import limit reduces a car for an excess of at least one ampere's worth (AC: volts x
phases W), at least this many W (a DC point's setpoint is in W)."""


class ImportLimitController(Controller):
    """Keeps import below the grid-connection limit: extra battery discharge where the plan
    leaves import above it (loads are capped by the controllers that plan them).

    A load that jumps between two cycles exceeds a limit the control aimed at exactly. The
    allowed import is therefore the limit minus a margin from the measured short-term
    variability: ``sigmas`` times the root mean square of the change of the uncontrolled load
    (the residual grid power) from one cycle to the next, over the last ``window_s``, at most
    ``max_margin_pct`` of the limit. A steady load gets (almost) no margin.

    Args:
        battery_ids: the batteries that may discharge for it.
        window_s: the variability's window, s.
        sigmas: the margin in RMS changes.
        max_margin_pct: the margin's cap, % of the limit.
    """

    name = "grid-import-limit"

    def __init__(
        self,
        battery_ids: tuple[str, ...],
        window_s: float = 120.0,
        sigmas: float = 2.0,
        max_margin_pct: float = 20.0,
    ) -> None:
        self.battery_ids = battery_ids
        self.window_s = window_s
        self.sigmas = sigmas
        self.max_margin_pct = max_margin_pct
        self._samples: deque[tuple[datetime, float]] = deque()
        self.margin_w = 0.0
        """The margin in force, W."""

    def _margin(self, ctx: CycleContext, limit: float) -> float:
        """Record this cycle's residual grid power and return the margin, W."""
        samples = self._samples
        samples.append((ctx.now, ctx.predicted_grid_w))
        while samples and (ctx.now - samples[0][0]).total_seconds() > self.window_s:
            samples.popleft()
        changes = [b[1] - a[1] for a, b in zip(samples, list(samples)[1:], strict=False)]
        if not changes:
            return 0.0
        rms = math.sqrt(sum(c * c for c in changes) / len(changes))
        return min(self.sigmas * rms, self.max_margin_pct / 100.0 * limit)

    def propose(self, ctx: CycleContext) -> None:
        limit = grid_import_limit_w(ctx)
        if limit is None:
            self._samples.clear()
            self.margin_w = 0.0
            return
        self.margin_w = self._margin(ctx, limit)
        ctx.grid_max_w = min(ctx.grid_max_w, limit - self.margin_w)

    def settle(self, ctx: CycleContext) -> None:
        """Discharge the batteries (those above their reserve) for the excess; what they cannot
        cover of a configured limit (not of the plan's peak) reduces the charge points' planned
        current (a plan's charging included, which is set after the EV controller's own cap),
        down to 0 where less than the minimum is left; an excess below one ampere's worth is
        left alone (``DC_STEP_W``)."""
        excess = ctx.predicted_grid_w - ctx.grid_max_w
        if excess <= 0:
            return
        s = ctx.snapshot
        reason = f"import above {ctx.grid_max_w:.0f} W"
        if plan_sets_import_limit(ctx):
            reason += " (the plan's peak for the demand charge)"
        if self.margin_w >= 1.0:
            reason += f" (limit less {self.margin_w:.0f} W for the load's swings)"
        configs = {b.id: b for b in ctx.config.batteries}
        for battery in self.battery_ids:
            resource = f"{battery}.BatteryPowerSetpoint"
            planned = ctx.planned.get(resource, 0.0)
            room = (s.number(battery, "MaxDischargePower") or 0.0) - planned
            extra = max(0.0, min(room, excess))
            if extra <= 0:
                continue
            ctx.demand(
                at_least(resource, planned + extra, self.name, Priority.GRID_CONNECTION, reason)
            )
            ctx.planned[resource] = planned + extra
            config = configs.get(battery)
            soc = s.number(battery, "StateOfCharge")
            empty = config is not None and (
                soc is None or soc <= max(config.reserve_soc_pct, config.empty_soc_pct)
            )
            if not empty:  # an empty battery is asked, but cannot cover it
                ctx.add_grid(-extra)
                excess -= extra
        hard = grid_import_limit_w(replace(ctx, plan_import_max_w=None))
        if hard is None:
            return  # the plan's peak alone: worth a battery's energy, not a car's target
        excess = min(excess, ctx.predicted_grid_w - (hard - self.margin_w))
        for cp in ctx.config.charge_points:
            if excess <= 0:
                break
            resource = f"{cp.id}.{cp.setpoint}"
            planned = ctx.planned.get(resource, 0.0)
            phases = s.number(cp.id, "PhasesInUse") or cp.phases
            per_unit = cp.watts_per_unit(round(phases))
            if planned <= 0 or per_unit <= 0 or excess < max(per_unit, DC_STEP_W):
                continue  # less than one ampere's worth: within the car's and meter's noise
            value = max(0.0, planned - excess / per_unit)
            if value < cp.minimum:
                value = 0.0
            ctx.demand(at_most(resource, value, self.name, Priority.GRID_CONNECTION, reason))
            ctx.planned[resource] = value
            excess -= (planned - value) * per_unit
