"""The control cycle in the running server: snapshot from the nodes, decisions to the devices.

``ControlRuntime`` runs ``ampacity.control.ControlCycle`` every ``control.cycle_s`` seconds and at
once when something arrives that must act without waiting (an external demand, a ripple-control
contact, a client changing a charge mode or a site limit):

1. the snapshot is taken from the node writer's slots (value, StatusCode, SourceTimestamp): the
   control sees exactly what a client sees;
2. ``cycle.step`` decides every controlled setpoint;
3. the decisions go to the devices through their drivers' ``write`` (the one way to a device):
   all writes of a cycle start together, a setpoint is sent when its value changes, when the last
   write failed, and at least every ``REWRITE_S`` (drivers refresh watchdogs on their own); a
   write still in flight is not started again, but a different value decided meanwhile (a
   § 14a cap arriving while the last current is on its way) follows as soon as it ends;
   node-only setpoints (``ChargeMode``) go to the node;
4. ``Site.Control`` shows the strategy, cycle counters, the fail-safe state and, per setpoint,
   value, owner, priority, reason, what limited it and the result of the last device write.

A client's write to a controlled setpoint is an operator override: it is sent to the device at
once (the Write service does that) and held by the control as a demand of owner ``operator``
(priority between schedules and the grid limits) for ``control.manual_override_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ampacity.assets import (
    DataType,
    OutOfRangeError,
    PointSpec,
    PointValue,
    Quality,
    Reading,
    ValueKind,
    WriteError,
)
from ampacity.control import ControlCycle, CycleResult, Decision, Demand, Priority, Sample, Snapshot
from ampacity.drivers.runtime import FailureLog
from asyncua import ua
from asyncua.crypto.permission_rules import User

from .addressspace import AddressSpaceBuilder
from .setpoints import SetpointTarget
from .writer import NodeWriter

log = logging.getLogger(__name__)

REWRITE_S = 30.0
"""A setpoint whose value did not change is sent again after this long, s."""
WRITE_TIMEOUT_S = 5.0
"""A device write that takes longer counts as failed, s."""
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
OPERATOR = "operator"
MODE_POINTS = ("ChargeMode", "PhaseSetting", "SgReadyState")
"""Setpoints that are states, written as integers."""
TRIGGER_POINTS = (
    "ChargeMode",
    "FeedInLimit",
    "GridImportLimit",
    "ActiveLimit",
    "Contact1",
    "Contact2",
    "Contact3",
    "Contact4",
)
"""A change of one of these runs a cycle at once (a mode or limit must not wait a period)."""
URGENT_GAP_S = 0.25
"""The shortest time between two cycles run by grid meter updates, s."""
RATING_POINTS = ("NominalPower", "Capacity", "MaxChargePower", "MaxDischargePower")
"""Ratings polled rarely (profiles read them every minute): a Good one is current however old;
a device that stops answering turns them Uncertain, which the control does not use."""


def _text(name: str, description: str) -> PointSpec:
    return PointSpec(name, ValueKind.INFO, DataType.STRING, description)


def _number(name: str, description: str, data_type: DataType = DataType.DOUBLE) -> PointSpec:
    return PointSpec(name, ValueKind.INFO, data_type, description)


CONTROL_POINTS = (
    _text("Strategy", "The strategy in force (a name from the control configuration)."),
    _number("CyclePeriod", "Configured cycle period, s."),
    _number("LastCycleDuration", "Computing time of the last cycle, ms."),
    _number("Cycles", "Cycles run since start.", DataType.UINT32),
    _number("Overruns", "Cycles that took longer than the period.", DataType.UINT32),
    _number("ControllerErrors", "Controller failures since start.", DataType.UINT32),
    _text(
        "Strategies",
        "The configured strategies and the decision tree choosing among them, as JSON "
        "(from the site file's control section).",
    ),
    _text("FailSafe", "Why every asset is in its fail-safe state; empty in normal operation."),
    _text("LastError", "The last controller or write error, with its time."),
    _text(
        "ExternalDemands",
        "Demands of external parties (operator, marketer, grid operator) as JSON: a list of "
        "{resource, owner, priority, reason, target, low, high, expires}.",
    ),
)
"""Children of ``Site.Control``."""

DECISION_POINTS = (
    _number("Value", "The value decided in the last cycle, in the setpoint's unit."),
    _text("Owner", "Whose demand set the value (a controller, operator, marketer, failsafe)."),
    _text("Priority", "The class of that demand in the priority order (empty: nobody's)."),
    _text("Reason", "Why, in words an operator understands."),
    _text("LimitedBy", "The owner whose limit clamped the value, if one did."),
    _text("WriteStatus", "Result of the last write to the device (Good or the error)."),
)
"""Children of ``Site.Control.Setpoints.<asset>.<Setpoint>``."""


@dataclass
class _WriteState:
    value: float | None = None
    at: datetime = NEVER
    ok: bool = False
    task: asyncio.Task[None] | None = None
    pending: float | None = None
    """The latest value decided while ``task`` was writing another one; sent when it ends."""


@dataclass
class ControlRuntime:
    """Runs one site's control cycle against the address space.

    Args:
        cycle: the control cycle (config, controllers, external demands).
        writer: the node writer (snapshot source and where node-only setpoints go).
        targets: ``<asset>.<Setpoint>`` -> where a value goes (driver write or node only).
        site_id: the site's asset id (``Site.Control`` is ``<site-id>.Control``).
        clock: UTC now (injectable for tests).
    """

    cycle: ControlCycle
    writer: NodeWriter
    targets: Mapping[str, SetpointTarget]
    site_id: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    resources: tuple[str, ...] = ()
    after_step: list[Callable[[CycleResult, datetime], None]] = field(default_factory=list)
    """Called after every cycle (read-backs of external interfaces)."""
    _keys: list[str] = field(default_factory=list)
    _current: set[str] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _writes: dict[str, _WriteState] = field(default_factory=dict)
    _write_logs: dict[str, FailureLog] = field(default_factory=dict)
    _last_error: str = ""
    _missing: set[str] = field(default_factory=set)
    _stepping: asyncio.Lock = field(default_factory=asyncio.Lock)
    _last_urgent: datetime | None = None

    def __post_init__(self) -> None:
        config = self.cycle.config
        specs = [
            *(f"{b.id}.BatteryPowerSetpoint" for b in config.batteries),
            *(f"{pv.id}.ActivePowerLimit" for pv in config.pv),
            *(f"{cp.id}.{cp.setpoint}" for cp in config.charge_points),
            *(f"{unit.id}.PowerSetpoint" for unit in config.heating_rods),
            *(f"{unit.id}.PowerSetpoint" for unit in config.electrolysers),
            *(f"{unit.id}.PowerSetpoint" for unit in config.generators),
            *(f"{hp.id}.SgReadyState" for hp in config.heat_pumps),
        ]
        modes = [
            f"{cp.id}.{point}"
            for cp in self.cycle.config.charge_points
            for point in ("ChargeMode", "PhaseSetting")
            if f"{cp.id}.{point}" in self.targets
        ]
        self.resources = tuple(dict.fromkeys([*specs, *modes]))

    # --- nodes ----------------------------------------------------------------------------------

    @property
    def control_key(self) -> str:
        return f"{self.site_id}.Control"

    def declare_nodes(self, builder: AddressSpaceBuilder) -> None:
        """Queue ``Site.Control`` and one object per controlled setpoint (before ``commit``)."""
        builder.add_object(
            self.site_id,
            self.control_key,
            "Control",
            "The energy management: strategy, cycle, fail-safe state and who owns each setpoint.",
        )
        for point in CONTROL_POINTS:
            builder.add_variable(self.control_key, point)
        folder = f"{self.control_key}.Setpoints"
        builder.add_object(
            self.control_key, folder, "Setpoints", "Every controlled setpoint and why it is set."
        )
        for resource in self.resources:
            key = f"{folder}.{resource}"
            builder.add_object(folder, key, resource, f"The control's decision for {resource}.")
            for point in DECISION_POINTS:
                builder.add_variable(key, point)

    def initial_readings(self, now: datetime) -> list[Reading]:
        """What the ``Control`` nodes show before the first cycle."""
        config = self.cycle.config
        values: dict[str, PointValue] = {
            "Strategy": config.strategy if isinstance(config.strategy, str) else "",
            "Strategies": json.dumps(
                {
                    "strategies": {
                        name: strategy.model_dump(mode="json")
                        for name, strategy in config.all_strategies().items()
                    },
                    "strategy": config.model_dump(mode="json", by_alias=True)["strategy"],
                }
            ),
            "CyclePeriod": config.cycle_s,
            "LastCycleDuration": 0.0,
            "Cycles": 0,
            "Overruns": 0,
            "ControllerErrors": 0,
            "FailSafe": "",
            "LastError": "",
            "ExternalDemands": "[]",
        }
        readings = [
            Reading(self.control_key, name, value, Quality.GOOD, now)
            for name, value in values.items()
        ]
        for resource in self.resources:
            readings.append(
                Reading(
                    f"{self.control_key}.Setpoints.{resource}", "WriteStatus", "", Quality.GOOD, now
                )
            )
        return readings

    # --- inputs ---------------------------------------------------------------------------------

    def watch(self, keys: Iterable[str], event_assets: Iterable[str] = ()) -> None:
        """The node keys the snapshot holds: every point of the assets the control refers to.

        Args:
            keys: every node key of the site.
            event_assets: assets whose values change on events, not by polling (tariffs,
                ripple-control receivers): a Good value of theirs is current however old.
        """
        referenced = _strings(self.cycle.config.model_dump(mode="json"))
        referenced.add(self.site_id)
        self._keys = [
            key
            for key in keys
            if (key.split(".", 1)[0] in referenced or key in referenced)
            and not key.startswith(self.control_key)
        ]
        events = set(event_assets) | {self.site_id}
        node_only = {k for k, t in self.targets.items() if t.device_write is None}
        self._current = {
            k
            for k in self._keys
            if k in node_only
            or k.split(".", 1)[0] in events
            or k.rsplit(".", 1)[-1] in RATING_POINTS
        }

    def snapshot(self, now: datetime) -> Snapshot:
        """The control's view of the site now: value, quality and read time per watched key.
        Server-owned values (modes, site limits), event-driven assets and ratings count as
        current while Good."""
        samples = {}
        for key in self._keys:
            slot = self.writer.slot(key)
            read = now if key in self._current else slot.source_time or NEVER
            samples[key] = Sample(slot.value, slot.quality, read)
        return Snapshot(now, samples, self.cycle.config.stale_after_s)

    def trigger(self) -> None:
        """Run a cycle now (an external demand or a signal arrived)."""
        self._wake.set()

    def put(self, demand: Demand) -> None:
        """An external demand (marketer, grid operator, operator); acts at once."""
        self.cycle.put(demand)
        self.trigger()

    def withdraw(self, owner: str, resource: str | None = None) -> None:
        self.cycle.withdraw(owner, resource)
        self.trigger()

    def on_change(self, reading: Reading) -> None:
        """Writer listener: a mode, limit or contact changed -> cycle at once."""
        if reading.point in TRIGGER_POINTS and reading.node_key in self._keys:
            self._wake.set()
        elif (
            reading.asset_id == self.cycle.config.grid_meter
            and reading.point == "ActivePower"
            and reading.quality.is_good
        ):
            self._ready.set()
            value = reading.value
            # a reading outside the range the last cycle allowed (a load jump past the import
            # limit less its margin): act on this update, not on the next tick
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and self.cycle.urgent(float(value))
                and self._urgent_allowed()
            ):
                self._wake.set()

    def _urgent_allowed(self) -> bool:
        """At most one meter-triggered cycle per ``URGENT_GAP_S`` (a 10 Hz meter above a limit
        the batteries cannot hold must not run the cycle at 10 Hz)."""
        now = self.clock()
        if self._last_urgent is not None and (now - self._last_urgent).total_seconds() < (
            URGENT_GAP_S
        ):
            return False
        self._last_urgent = now
        return True

    def on_operator_write(
        self, key: str, old: PointValue, requested: PointValue, status: ua.StatusCode, user: User
    ) -> None:
        """Setpoint-write observer: a client's good write to a controlled setpoint is held."""
        if not status.is_good() or key not in self.resources:
            return
        asset_id, point = key.rsplit(".", 1)
        if point == "ChargeMode":
            # A new mode is the operator's newer wish: manual currents on that charge point end.
            for demand in list(self.cycle.external.values()):
                if demand.owner == OPERATOR and demand.resource.startswith(f"{asset_id}."):
                    self.cycle.withdraw(OPERATOR, demand.resource)
            self.trigger()  # the EV controller reads the mode from the node
            return
        if isinstance(requested, bool) or not isinstance(requested, int | float):
            return
        now = self.clock()
        until = now + timedelta(seconds=self.cycle.config.manual_override_s)
        who = getattr(user, "name", None) or "a client"
        reason = f"manual setpoint by {who} until {until:%H:%M:%S} UTC"
        self.put(Demand(key, OPERATOR, Priority.OPERATOR, reason, float(requested), expires=until))

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Cycle every ``cycle_s`` and whenever triggered, until cancelled."""
        loop = asyncio.get_running_loop()
        config = self.cycle.config
        period = config.cycle_s
        # The first cycle waits for the grid meter's first reading (at most the stale time), so
        # a normal start does not pass through the fail-safe state.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), config.stale_after_s)
        due = loop.time()
        try:
            while True:
                delay = due - loop.time()
                if delay > 0 and not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                await self.step()
                now = loop.time()
                if now >= due:
                    due = max(due + period, now + period / 2)  # never a burst after a stall
        finally:
            for state in self._writes.values():
                if state.task is not None:
                    state.task.cancel()

    async def step(self) -> CycleResult | None:
        """One cycle: snapshot, decide, publish the decisions, start the device writes."""
        async with self._stepping:
            now = self.clock()
            try:
                result = self.cycle.step(self.snapshot(now), now)
            except Exception as exc:  # a bug in the cycle must not stop the server
                log.exception("control cycle failed")
                self._error(now, f"cycle: {type(exc).__name__}: {exc}")
                return None
            for error in result.errors:
                self._error(now, f"controller {error.controller}: {error.error}")
            self._publish(result, now)
            self._dispatch(result.decisions, now)
            for hook in self.after_step:
                try:
                    hook(result, now)
                except Exception:
                    log.exception("after-step hook failed")
            return result

    # --- outputs --------------------------------------------------------------------------------

    def _error(self, now: datetime, text: str) -> None:
        self._last_error = f"{now:%Y-%m-%d %H:%M:%S} UTC {text}"
        self.writer.publish(
            [Reading(self.control_key, "LastError", self._last_error, Quality.GOOD, now)]
        )

    def _publish(self, result: CycleResult, now: datetime) -> None:
        stats = self.cycle.stats
        key = self.control_key
        readings = [
            Reading(key, "Strategy", result.strategy, Quality.GOOD, now),
            Reading(
                key, "LastCycleDuration", round(result.duration_s * 1000, 3), Quality.GOOD, now
            ),
            Reading(key, "Cycles", stats.cycles, Quality.GOOD, now),
            Reading(key, "Overruns", stats.overruns, Quality.GOOD, now),
            Reading(key, "ControllerErrors", stats.errors, Quality.GOOD, now),
            Reading(key, "FailSafe", result.failsafe or "", Quality.GOOD, now),
            Reading(key, "ExternalDemands", self.external_json(), Quality.GOOD, now),
        ]
        for resource, decision in result.decisions.items():
            if resource in self.resources:
                readings += _decision_readings(f"{key}.Setpoints.{resource}", decision, now)
        self.writer.publish(readings)

    def external_json(self) -> str:
        """The external demands in force, as JSON (what ``ExternalDemands`` shows)."""
        return json.dumps([_demand_dict(d) for d in self.cycle.external.values()])

    def _dispatch(self, decisions: Mapping[str, Decision], now: datetime) -> None:
        for resource, decision in decisions.items():
            target = self.targets.get(resource)
            if target is None:
                if resource not in self._missing:
                    self._missing.add(resource)
                    log.warning("control decides %s, but the site has no such setpoint", resource)
                continue
            state = self._writes.setdefault(resource, _WriteState())
            value = decision.value
            unchanged = state.value is not None and math.isclose(
                state.value, value, rel_tol=1e-6, abs_tol=1e-3
            )
            if state.task is not None and not state.task.done():
                state.pending = None if unchanged else value
                continue
            if unchanged and state.ok and (now - state.at).total_seconds() < REWRITE_S:
                continue
            state.value, state.at = value, now
            state.task = asyncio.create_task(
                self._write(resource, target, value, state), name=f"control-write:{resource}"
            )

    def _write_log(self, resource: str) -> FailureLog:
        """One line when a setpoint's writes start failing and one when they work again, not
        one per cycle."""
        failures = self._write_logs.get(resource)
        if failures is None:
            failures = self._write_logs[resource] = FailureLog(log, resource, "control write")
        return failures

    async def _write(
        self, resource: str, target: SetpointTarget, value: float, state: _WriteState
    ) -> None:
        model_value: PointValue = value
        if target.spec.data_type in (DataType.INT32, DataType.UINT32):
            model_value = round(value)
        status = "Good"
        shown: PointValue = model_value
        try:
            if target.device_write is not None:
                result = await asyncio.wait_for(
                    target.device_write(target.asset_id, target.point, model_value),
                    WRITE_TIMEOUT_S,
                )
                shown = result.read_back if result.read_back is not None else result.written
            state.ok = True
        except (OutOfRangeError, WriteError, TimeoutError) as exc:
            state.ok = False
            status = f"{type(exc).__name__}: {exc or 'no answer'}"
            self._write_log(resource).failed(f"{value:g}: {status}", self.clock().timestamp())
            self._error(self.clock(), f"write {resource} = {value:g}: {status}")
        except Exception as exc:  # a driver bug: reported, never fatal
            state.ok = False
            status = f"{type(exc).__name__}: {exc}"
            log.exception("control write %s failed", resource)
            self._error(self.clock(), f"write {resource}: {status}")
        now = self.clock()
        self.cycle.write_result(resource, state.ok)  # a refused PV limit is redistributed
        readings = [
            Reading(
                f"{self.control_key}.Setpoints.{resource}", "WriteStatus", status, Quality.GOOD, now
            )
        ]
        if state.ok:
            self._write_log(resource).recovered(self.clock().timestamp())
            readings.append(Reading(target.asset_id, target.point, shown, Quality.GOOD, now))
        self.writer.publish(readings)
        pending, state.pending = state.pending, None
        if pending is not None:  # decided while this write was on its way: at once, not next cycle
            state.value, state.at = pending, now
            state.task = asyncio.create_task(
                self._write(resource, target, pending, state), name=f"control-write:{resource}"
            )


def _decision_readings(key: str, decision: Decision, now: datetime) -> list[Reading]:
    values: dict[str, PointValue] = {
        "Value": decision.value,
        "Owner": decision.owner,
        "Priority": decision.priority.name if decision.priority is not None else "",
        "Reason": decision.reason,
        "LimitedBy": decision.limited_by or "",
    }
    return [Reading(key, name, value, Quality.GOOD, now) for name, value in values.items()]


def _demand_dict(demand: Demand) -> dict[str, Any]:
    def finite(x: float | None) -> float | None:
        return x if x is not None and math.isfinite(x) else None

    return {
        "resource": demand.resource,
        "owner": demand.owner,
        "priority": demand.priority.name,
        "reason": demand.reason,
        "target": demand.target,
        "low": finite(demand.low),
        "high": finite(demand.high),
        "expires": demand.expires.isoformat() if demand.expires else None,
    }


def _strings(value: Any) -> set[str]:
    """Every string in a JSON-like structure (the ids a config refers to)."""
    found: set[str] = set()
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            found.add(str(k))
            found |= _strings(v)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _strings(item)
    return found
