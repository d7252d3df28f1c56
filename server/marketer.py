"""External parties as OPC UA methods: the direct marketer (``Site.Marketer``) and the grid
operator's § 14a dimming (``Site.GridOperator``).

Methods (typed input arguments with descriptions; the security layer lets only ``marketer`` and
``admin`` call the ``Marketer`` methods, ``operator`` and ``admin`` the ``GridOperator`` one):

* ``Marketer.SetActivePowerLimit(Limit: Double, Unit: String "W" | "%", ValidUntil: DateTime)``:
  PV output at most ``Limit`` (W, or % of the installed PV power), shared by nominal power;
* ``Marketer.SetBatterySetpoint(Power: Double W + discharge, ValidUntil: DateTime)``: shared by
  the batteries' power limits;
* ``Marketer.ClearSetpoints()``: local control takes over at once;
* ``GridOperator.SetDimming(Active: Boolean, ValidUntil: DateTime)``: § 14a dimming.

A bad argument gets ``BadInvalidArgument`` (wrong type, unknown unit) or ``BadOutOfRange`` in its
own ``InputArgumentResults`` entry, and the call's status is ``BadInvalidArgument``; nothing is
applied. A Double argument accepts any integer or floating-point variant (Int32 60 is 60.0).
Too few or too many arguments: ``BadArgumentsMissing`` / ``BadTooManyArguments``. ``ValidUntil``
is checked whatever the other arguments say (``SetDimming(False, ...)`` too). An accepted demand
acts at once (a control cycle runs on arrival) and lapses at ``ValidUntil``: local control takes
over. ``Marketer`` holds read-backs for the marketer: PV, battery and grid power (W), mean SoC
(%), the active marketer demands (JSON) and the last call.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ampacity.assets import DataType, PointValue, Quality, Reading, ValueKind
from ampacity.assets.points import PointSpec
from ampacity.control import CycleResult, Demand, Priority, Snapshot, at_most, setpoint
from ampacity.control.controllers.limits import pv_nominal_w
from ampacity.control.dimming import OWNER as DIMMING_OWNER
from ampacity.control.dimming import dimming_demands
from asyncua import Server, ua

from .addressspace import AddressSpaceBuilder
from .control import ControlRuntime

log = logging.getLogger(__name__)

MARKETER = "marketer"
MAX_VALIDITY = timedelta(days=7)
"""The furthest ``ValidUntil`` accepted: a forgotten demand must not rule for months."""

EventSink = Callable[[str, str], None]
"""``(source, message)``: records an audit event (the historian)."""


def _spec(name: str, description: str, data_type: DataType = DataType.DOUBLE) -> PointSpec:
    return PointSpec(name, ValueKind.INFO, data_type, description)


READBACKS = (
    _spec("PvPower", "Sum of PV power, W (+ production)."),
    _spec("BatteryPower", "Sum of battery power, W (+ discharge)."),
    _spec("GridPower", "Power at the grid connection point, W (+ import)."),
    _spec("StateOfCharge", "Mean state of charge of the batteries, %."),
    _spec(
        "ActiveDemands",
        "The marketer's demands in force as JSON: resource, target or limit, expires.",
        DataType.STRING,
    ),
    _spec("LastCall", "When a marketer method was last accepted (UTC).", DataType.DATETIME),
)
MIRRORED = {"PvPower", "BatteryPower", "GridPower"}

GRID_OPERATOR_POINTS = (
    _spec("DimmingActive", "§ 14a EnWG dimming is in force.", DataType.BOOLEAN),
    _spec("DimmingSource", "What dims: the control-box contact or a method call.", DataType.STRING),
)


def _arg(name: str, data_type: int, description: str) -> ua.Argument:
    arg = ua.Argument()
    arg.Name = name
    arg.DataType = ua.NodeId(data_type)
    arg.ValueRank = -1
    arg.Description = ua.LocalizedText(description)
    return arg


class ArgumentErrors(Exception):
    """Input arguments that failed validation: index -> status code."""

    def __init__(self, count: int) -> None:
        super().__init__("invalid arguments")
        self.codes = [ua.StatusCode(ua.StatusCodes.Good) for _ in range(count)]
        self.failed = False

    def bad(self, index: int, code: int) -> None:
        self.codes[index] = ua.StatusCode(code)
        self.failed = True

    def result(self) -> ua.CallMethodResult:
        res = ua.CallMethodResult()
        res.StatusCode = ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        res.InputArgumentResults = self.codes
        return res


def _counted(func: Callable[..., Awaitable[Any]], count: int) -> Callable[..., Awaitable[Any]]:
    """``func`` called only with exactly ``count`` input arguments; otherwise the call's status is
    ``BadArgumentsMissing`` / ``BadTooManyArguments`` (asyncua would log a traceback and answer
    ``BadUnexpectedError``)."""

    async def call(parent: ua.NodeId, *args: ua.Variant) -> Any:
        if len(args) != count:
            res = ua.CallMethodResult()
            code = (
                ua.StatusCodes.BadArgumentsMissing
                if len(args) < count
                else ua.StatusCodes.BadTooManyArguments
            )
            res.StatusCode = ua.StatusCode(code)
            return res
        return await func(parent, *args)

    return call


def _number(value: Any) -> float | None:
    """A Double argument's value: any integer or floating-point variant (an Int32 60 is 60.0);
    None for another type (Boolean, String, ...) or a value that is not finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class ExternalInterfaces:
    """``Site.Marketer`` and ``Site.GridOperator`` of one running site.

    Args:
        control: the control runtime whose cycle takes the demands.
        site_id: the site's asset id.
        on_event: records an audit event (§ 14a dimming changes).
        clock: UTC now.
    """

    def __init__(
        self,
        control: ControlRuntime,
        site_id: str,
        on_event: EventSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.control = control
        self.site_id = site_id
        self.on_event = on_event
        self.clock = clock
        config = control.cycle.config
        self.pv_ids = [pv.id for pv in config.pv]
        self.battery_ids = [b.id for b in config.batteries]
        self.dimming_by_signal = False
        self._shown_marketer: tuple[tuple[str, datetime], ...] = ()
        self._dimmed = False
        control.after_step.append(self.after_step)

    @property
    def marketer_key(self) -> str:
        return f"{self.site_id}.Marketer"

    @property
    def grid_operator_key(self) -> str:
        return f"{self.site_id}.GridOperator"

    # --- nodes ----------------------------------------------------------------------------------

    def declare_nodes(self, builder: AddressSpaceBuilder) -> None:
        builder.add_object(
            self.site_id,
            self.marketer_key,
            "Marketer",
            "The direct marketer's interface: setpoint methods and read-backs.",
        )
        for point in READBACKS:
            builder.add_variable(self.marketer_key, point)
        builder.add_object(
            self.site_id,
            self.grid_operator_key,
            "GridOperator",
            "The grid operator's signals: § 14a EnWG dimming of controllable consumers.",
        )
        for point in GRID_OPERATOR_POINTS:
            builder.add_variable(self.grid_operator_key, point)

    def initial_readings(self, now: datetime) -> list[Reading]:
        return [
            Reading(self.marketer_key, "ActiveDemands", "[]", Quality.GOOD, now),
            Reading(self.grid_operator_key, "DimmingActive", False, Quality.GOOD, now),
            Reading(self.grid_operator_key, "DimmingSource", "", Quality.GOOD, now),
        ]

    async def add_methods(self, server: Server, site_ns: int) -> None:
        """Create the methods (after the builder's commit)."""
        marketer = server.get_node(ua.NodeId(self.marketer_key, site_ns))
        until = _arg(
            "ValidUntil",
            ua.ObjectIds.DateTime,
            "UTC time the demand lapses (future, within 7 days); then local control resumes.",
        )
        methods: list[tuple[Any, str, Any, list[ua.Argument], list[ua.Argument]]] = [
            (
                marketer,
                "SetActivePowerLimit",
                self._set_active_power_limit,
                [
                    _arg("Limit", ua.ObjectIds.Double, "Largest PV output, in Unit (≥ 0)."),
                    _arg("Unit", ua.ObjectIds.String, '"W" or "%" (of the installed PV power).'),
                    until,
                ],
                [_arg("LimitW", ua.ObjectIds.Double, "The limit in W applied to all PV.")],
            ),
            (
                marketer,
                "SetBatterySetpoint",
                self._set_battery_setpoint,
                [
                    _arg(
                        "Power",
                        ua.ObjectIds.Double,
                        "Battery power in W, + discharge, − charge; within the batteries' limits.",
                    ),
                    until,
                ],
                [],
            ),
            (marketer, "ClearSetpoints", self._clear_setpoints, [], []),
            (
                server.get_node(ua.NodeId(self.grid_operator_key, site_ns)),
                "SetDimming",
                self._set_dimming,
                [
                    _arg("Active", ua.ObjectIds.Boolean, "True: dim now; False: end dimming."),
                    until,
                ],
                [],
            ),
        ]
        for parent, name, func, inputs, outputs in methods:
            parent_key = parent.nodeid.Identifier
            await parent.add_method(
                ua.NodeId(f"{parent_key}.{name}", site_ns),
                ua.QualifiedName(name, site_ns),
                _counted(func, len(inputs)),
                inputs,
                outputs,
            )

    # --- read-backs -----------------------------------------------------------------------------

    def after_step(self, result: CycleResult, now: datetime) -> None:
        """Expired demands leave the read-backs (and end a method's dimming)."""
        external = self.control.cycle.external.values()
        marketer = tuple(
            sorted((d.resource, d.expires or now) for d in external if d.owner == MARKETER)
        )
        if marketer != self._shown_marketer:
            self._shown_marketer = marketer
            self._publish_demands(now, called=False)
        dimmed = any(d.owner == DIMMING_OWNER for d in external)
        if self._dimmed and not dimmed:
            self._apply_dimming(False, "method call expired")
        self._dimmed = dimmed

    def on_change(self, reading: Reading) -> None:
        """Writer listener: mirror the site's powers and SoC; follow the dimming contact."""
        if reading.asset_id == self.site_id and reading.point in MIRRORED:
            self.control.writer.publish(
                [
                    Reading(
                        self.marketer_key,
                        reading.point,
                        reading.value,
                        reading.quality,
                        reading.source_time,
                    )
                ]
            )
        elif reading.point == "StateOfCharge" and reading.asset_id in self.battery_ids:
            socs = [self._value(f"{b}.StateOfCharge") for b in self.battery_ids]
            known = [s for s in socs if isinstance(s, int | float)]
            if known:
                mean = sum(known) / len(known)
                self.control.writer.publish(
                    [Reading(self.marketer_key, "StateOfCharge", mean, Quality.GOOD, self.clock())]
                )
        dimming = self.control.cycle.config.dimming
        # a silent control box (value not Good) keeps the last state: no signal loss lifts a dimming
        if (
            dimming is not None
            and dimming.signal == reading.node_key
            and reading.quality.is_good
            and isinstance(reading.value, bool)
        ):
            self._signal_dimming(reading.value)

    def _value(self, key: str) -> PointValue:
        writer = self.control.writer
        return writer.slot(key).value if writer.has(key) else None

    def _publish_demands(self, now: datetime, called: bool = True) -> None:
        mine = [d for d in self.control.cycle.external.values() if d.owner == MARKETER]
        text = json.dumps(
            [
                {
                    "resource": d.resource,
                    "target": d.target,
                    "high": d.high if math.isfinite(d.high) else None,
                    "expires": d.expires.isoformat() if d.expires else None,
                }
                for d in mine
            ]
        )
        readings = [Reading(self.marketer_key, "ActiveDemands", text, Quality.GOOD, now)]
        if called:
            readings.append(Reading(self.marketer_key, "LastCall", now, Quality.GOOD, now))
        self.control.writer.publish(readings)

    # --- argument checks ------------------------------------------------------------------------

    def _valid_until(self, value: Any, index: int, errors: ArgumentErrors) -> datetime | None:
        if not isinstance(value, datetime):
            errors.bad(index, ua.StatusCodes.BadInvalidArgument)
            return None
        until = value if value.tzinfo else value.replace(tzinfo=UTC)
        now = self.clock()
        if until <= now or until - now > MAX_VALIDITY:
            errors.bad(index, ua.StatusCodes.BadOutOfRange)
            return None
        return until

    def _snapshot(self) -> Snapshot:
        return self.control.snapshot(self.clock())

    # --- methods --------------------------------------------------------------------------------

    async def _set_active_power_limit(
        self, _parent: ua.NodeId, limit: ua.Variant, unit: ua.Variant, valid_until: ua.Variant
    ) -> ua.CallMethodResult | list[ua.Variant]:
        errors = ArgumentErrors(3)
        value = _number(limit.Value)
        unit_text = unit.Value.strip() if isinstance(unit.Value, str) else None
        if unit_text not in ("W", "%"):
            errors.bad(1, ua.StatusCodes.BadInvalidArgument)
        snapshot = self._snapshot()
        config = self.control.cycle.config
        nominal = {pv.id: pv_nominal_w(snapshot, pv) for pv in config.pv}
        installed = sum(nominal.values())
        if value is None:
            errors.bad(0, ua.StatusCodes.BadInvalidArgument)
        elif value < 0 or (unit_text == "%" and value > 100):
            errors.bad(0, ua.StatusCodes.BadOutOfRange)
        until = self._valid_until(valid_until.Value, 2, errors)
        if not self.pv_ids:
            errors.bad(0, ua.StatusCodes.BadOutOfRange)  # nothing to limit
        if errors.failed or value is None or until is None:
            return errors.result()
        limit_w = installed * value / 100.0 if unit_text == "%" else value
        reason = f"marketer: PV ≤ {limit_w:.0f} W until {until:%H:%M:%S} UTC"
        for pv in config.pv:
            share = limit_w * nominal[pv.id] / installed if installed > 0 else limit_w
            demand = at_most(
                f"{pv.id}.ActivePowerLimit", share, MARKETER, Priority.MARKETER, reason
            )
            self.control.put(_expiring(demand, until))
        self._publish_demands(self.clock())
        return [ua.Variant(limit_w, ua.VariantType.Double)]

    async def _set_battery_setpoint(
        self, _parent: ua.NodeId, power: ua.Variant, valid_until: ua.Variant
    ) -> ua.CallMethodResult | list[ua.Variant]:
        errors = ArgumentErrors(2)
        value = _number(power.Value)
        specs = self.control.cycle.resource_specs(self._snapshot())
        ranges = {b: specs[f"{b}.BatteryPowerSetpoint"] for b in self.battery_ids}
        low = sum(r.low for r in ranges.values())
        high = sum(r.high for r in ranges.values())
        if value is None:
            errors.bad(0, ua.StatusCodes.BadInvalidArgument)
        elif not ranges or not low <= value <= high:
            errors.bad(0, ua.StatusCodes.BadOutOfRange)
        until = self._valid_until(valid_until.Value, 1, errors)
        if errors.failed or value is None or until is None:
            return errors.result()
        reason = f"marketer: battery {value:+.0f} W until {until:%H:%M:%S} UTC"
        room = high if value >= 0 else -low
        for battery, spec in ranges.items():
            own = spec.high if value >= 0 else -spec.low
            share = value * own / room if room > 0 else 0.0
            demand = setpoint(
                f"{battery}.BatteryPowerSetpoint", share, MARKETER, Priority.MARKETER, reason
            )
            self.control.put(_expiring(demand, until))
        self._publish_demands(self.clock())
        return []

    async def _clear_setpoints(self, _parent: ua.NodeId) -> list[ua.Variant]:
        self.control.withdraw(MARKETER)
        self._publish_demands(self.clock())
        return []

    async def _set_dimming(
        self, _parent: ua.NodeId, active: ua.Variant, valid_until: ua.Variant
    ) -> ua.CallMethodResult | list[ua.Variant]:
        errors = ArgumentErrors(2)
        dimming = self.control.cycle.config.dimming
        if not isinstance(active.Value, bool) or dimming is None:
            errors.bad(0, ua.StatusCodes.BadInvalidArgument)  # no consumers configured
        until = self._valid_until(valid_until.Value, 1, errors)  # checked to end dimming too
        if errors.failed or dimming is None or until is None:
            return errors.result()
        if active.Value:
            self._apply_dimming(True, f"method call until {until:%H:%M:%S} UTC", until)
        elif not self.dimming_by_signal:
            self._apply_dimming(False, "method call")
        return []

    # --- § 14a ----------------------------------------------------------------------------------

    def _signal_dimming(self, active: bool) -> None:
        if active == self.dimming_by_signal:
            return
        self.dimming_by_signal = active
        dimming = self.control.cycle.config.dimming
        assert dimming is not None
        self._apply_dimming(active, f"control-box contact {dimming.signal}")

    def _apply_dimming(self, active: bool, source: str, until: datetime | None = None) -> None:
        dimming = self.control.cycle.config.dimming
        assert dimming is not None
        now = self.clock()
        self.control.cycle.withdraw(DIMMING_OWNER)
        if active:
            for demand in dimming_demands(dimming, source, until):
                self.control.cycle.put(demand)
        self.control.trigger()
        text = f"§14a dimming {'on' if active else 'off'} ({source})"
        log.warning(text)
        self.control.writer.publish(
            [
                Reading(self.grid_operator_key, "DimmingActive", active, Quality.GOOD, now),
                Reading(
                    self.grid_operator_key,
                    "DimmingSource",
                    source if active else "",
                    Quality.GOOD,
                    now,
                ),
            ]
        )
        if self.on_event is not None:
            self.on_event(self.grid_operator_key, text)


def _expiring(demand: Demand, until: datetime) -> Demand:
    return Demand(
        demand.resource,
        demand.owner,
        demand.priority,
        demand.reason,
        demand.target,
        demand.low,
        demand.high,
        until,
    )
