"""Client writes to setpoint nodes: validated here, sent by the owning driver, read back.

The OPC UA Write service is routed through ``SetpointAttributeService``. For a setpoint node:

* a value of the wrong type -> ``BadTypeMismatch``;
* outside the node's EURange -> ``BadOutOfRange``, nothing written;
* otherwise the owning driver clamps it to the device limits, writes it and reads it back; the node
  then shows the read-back value (Good). A device that refuses or does not answer ->
  ``BadCommunicationError`` (the node keeps its value).

Setpoints without a device register (a charge point's ``ChargeMode``, the site's limits) are
stored in the node and used by control. The site's ``FeedInLimit`` and ``GridImportLimit`` take a
Null value (Good): no limit.

A battery's ``BatteryPowerSetpoint`` range is its rating: the profile's limits, narrowed by the
control configuration's ``max_charge_w`` / ``max_discharge_w``; a side still unknown then
(the model's 1 GW) becomes the largest ``MaxChargePower`` / ``MaxDischargePower`` the device has
reported (``RatingFromDevice``), and the node's EURange follows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ampacity.assets import (
    OutOfRangeError,
    PointSpec,
    PointValue,
    Quality,
    Reading,
    WriteError,
    WriteResult,
)
from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import AddressSpace, AttributeService

from .nodes import from_variant
from .writer import NodeWriter

log = logging.getLogger(__name__)

DeviceWrite = Callable[[str, str, PointValue], Awaitable[WriteResult]]
"""``(asset_id, point, value) -> WriteResult``: a driver's ``write``."""

WRITE_TIMEOUT_S = 10.0
ADMIN = User(role=UserRole.Admin)

WriteObserver = Callable[[str, PointValue, PointValue, ua.StatusCode, User], None]
"""Told of every setpoint write: ``(key, old value, requested value, result, user)`` (audit)."""


@dataclass(slots=True)
class SetpointTarget:
    """Where a writable node's values go."""

    asset_id: str
    point: str
    spec: PointSpec
    value_range: tuple[float, float] | None
    device_write: DeviceWrite | None
    """``None``: the value lives in the node only (modes, site limits)."""
    nullable: bool = False
    """A Null value is accepted and stored: "none" (the site limits: no limit)."""


class SetpointAttributeService(AttributeService):
    """The Write service, with setpoint nodes handed to their drivers."""

    def __init__(self, aspace: AddressSpace, writer: NodeWriter) -> None:
        super().__init__(aspace)
        self._writer = writer
        self._targets: dict[ua.NodeId, SetpointTarget] = {}
        self.observers: list[WriteObserver] = []

    def add_target(self, node_id: ua.NodeId, target: SetpointTarget) -> None:
        self._targets[node_id] = target

    async def write(self, params: ua.WriteParameters, user: User = ADMIN) -> list[ua.StatusCode]:
        results: list[ua.StatusCode] = []
        for write_value in params.NodesToWrite:
            target = self._targets.get(write_value.NodeId)
            if target is None or write_value.AttributeId != ua.AttributeIds.Value:
                single = ua.WriteParameters(NodesToWrite=[write_value])
                results.extend(await super().write(single, user))
                continue
            if user.role != UserRole.Admin and not self._user_may_write(write_value.NodeId):
                results.append(ua.StatusCode(ua.StatusCodes.BadUserAccessDenied))
                continue
            results.append(await self._write_setpoint(write_value, target, user))
        return results

    def _user_may_write(self, node_id: ua.NodeId) -> bool:
        level = self._aspace.read_attribute_value(node_id, ua.AttributeIds.UserAccessLevel)
        if level.Value is None or level.Value.Value is None:
            return False
        return bool(level.Value.Value & ua.AccessLevel.CurrentWrite.mask)

    async def _write_setpoint(
        self, write_value: ua.WriteValue, target: SetpointTarget, user: User
    ) -> ua.StatusCode:
        key = f"{target.asset_id}.{target.point}"
        old = self._writer.slot(key).value if self._writer.has(key) else None
        status, requested = await self._apply(write_value, target)
        for observer in self.observers:
            try:
                observer(key, old, requested, status, user)
            except Exception:
                log.exception("write observer failed for %s", key)
        return status

    async def _apply(
        self, write_value: ua.WriteValue, target: SetpointTarget
    ) -> tuple[ua.StatusCode, PointValue]:
        variant = write_value.Value.Value if write_value.Value else None
        if variant is None:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch), None
        if variant.VariantType == ua.VariantType.Null or variant.Value is None:
            if not target.nullable or target.device_write is not None:
                return ua.StatusCode(ua.StatusCodes.BadTypeMismatch), None
            now = datetime.now(UTC)
            self._writer.publish([Reading(target.asset_id, target.point, None, Quality.GOOD, now)])
            await self._writer.flush()
            return ua.StatusCode(ua.StatusCodes.Good), None
        try:
            value = from_variant(variant, target.spec.data_type)
        except TypeError:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch), variant.Value
        if target.value_range is not None and isinstance(value, int | float):
            low, high = target.value_range
            if isinstance(value, float) and value != value:  # NaN
                return ua.StatusCode(ua.StatusCodes.BadOutOfRange), value
            if not low <= value <= high:
                return ua.StatusCode(ua.StatusCodes.BadOutOfRange), value
        if target.spec.enum_values and value not in target.spec.enum_values:
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange), value
        now = datetime.now(UTC)
        shown: PointValue = value
        if target.device_write is not None:
            try:
                result = await asyncio.wait_for(
                    target.device_write(target.asset_id, target.point, value), WRITE_TIMEOUT_S
                )
            except OutOfRangeError as exc:
                log.info("write %s.%s refused: %s", target.asset_id, target.point, exc)
                return ua.StatusCode(ua.StatusCodes.BadOutOfRange), value
            except (WriteError, TimeoutError) as exc:
                log.warning(
                    "write %s.%s failed: %s", target.asset_id, target.point, exc or "timeout"
                )
                return ua.StatusCode(ua.StatusCodes.BadCommunicationError), value
            shown = result.read_back if result.read_back is not None else result.written
        self._writer.publish([Reading(target.asset_id, target.point, shown, Quality.GOOD, now)])
        await self._writer.flush()
        return ua.StatusCode(ua.StatusCodes.Good), value


RATING_POINTS = {"MaxChargePower": 0, "MaxDischargePower": 1}
"""Which side of ``BatteryPowerSetpoint``'s range each reported maximum sets (0: low, charge)."""


class RatingFromDevice:
    """Writer listener: a battery setpoint's range side that is still the model's (±1 GW) becomes
    the largest charge / discharge power the device has reported so far.

    Args:
        targets: the setpoint targets by node key (their ``value_range`` is updated).
        write_range: writes a node's EURange (``key``, ``(low, high)``).
        unknown: the magnitude of a range side that says "not known" (the model's bound).
    """

    def __init__(
        self,
        targets: dict[str, SetpointTarget],
        write_range: Callable[[str, tuple[float, float]], None],
        unknown: float,
    ) -> None:
        self._targets = targets
        self._write_range = write_range
        self._unknown = unknown
        self._learned: dict[tuple[str, int], float] = {}

    def __call__(self, reading: Reading) -> None:
        side = RATING_POINTS.get(reading.point)
        value = reading.value
        if side is None or not reading.quality.is_good:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            return
        key = f"{reading.asset_id}.BatteryPowerSetpoint"
        target = self._targets.get(key)
        if target is None or target.value_range is None:
            return
        bounds = list(target.value_range)
        learned = self._learned.get((reading.asset_id, side))
        if learned is None and abs(bounds[side]) < self._unknown:
            return  # the rating is known (profile or configuration)
        if learned is not None and value <= learned:
            return
        self._learned[(reading.asset_id, side)] = float(value)
        bounds[side] = -float(value) if side == 0 else float(value)
        target.value_range = (bounds[0], bounds[1])
        self._write_range(key, target.value_range)
