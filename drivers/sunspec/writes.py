"""Sending setpoints: fresh read of the models involved, the registers from ``control``, the
writes, and the read-back."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from ampacity.assets import AssetKind, PointValue
from ampacity.drivers.modbus.transport import ModbusLink

from .chain import ModelInstance
from .control import SetpointPlan, Writes, battery_plan, limit_plan, release_plan
from .decode import ModelBlock, Value
from .mapping import AssetPlan, battery_values, charge_base_w, pv_values, wmax
from .reader import read_blocks


@dataclass(frozen=True, slots=True)
class Written:
    """What a setpoint write did.

    Attributes:
        written: the value the registers sent represent (after clamping), model units.
        read_back: the value the device reports afterwards (``None`` if not readable).
        clamped: the request was outside the device limits.
        holds: the device reverts unless the setpoint is sent again within its revert timeout.
    """

    written: float
    read_back: PointValue
    clamped: bool
    holds: bool


class SetpointWriter:
    """Writes ``ActivePowerLimit`` and ``BatteryPowerSetpoint`` of a discovered asset.

    Args:
        blocks: the driver's cache of the last read model blocks (updated here too).
        timeout_s: per request.
        single: write one register per request (FC6) instead of FC16.

    Raises (every write method):
        ModbusIOError, TimeoutError: the device failed or did not answer.
        ValueError: a model the setpoint needs is not readable (e.g. WMax not implemented).
    """

    def __init__(
        self, blocks: dict[ModelInstance, ModelBlock], timeout_s: float, *, single: bool = False
    ) -> None:
        self.blocks = blocks
        self.timeout_s = timeout_s
        self.single = single

    def role_blocks(
        self, plan: AssetPlan, fresh: Mapping[ModelInstance, ModelBlock] | None = None
    ) -> dict[str, ModelBlock]:
        """The plan's blocks by role: from ``fresh`` where given, else the last read ones."""
        out: dict[str, ModelBlock] = {}
        for role, instance in plan.sources.items():
            block = (fresh or {}).get(instance) or self.blocks.get(instance)
            if block is not None:
                out[role] = block
        return out

    async def active_power_limit(
        self, link: ModbusLink, plan: AssetPlan, value_w: float, revert_s: int
    ) -> Written:
        """Model 123: WMaxLimPct (% of WMax), its revert timeout, WMaxLim_Ena."""
        blocks = await self._fresh(link, plan, ("controls", "settings", "nameplate"))
        base = wmax(blocks)
        if base is None or "controls" not in blocks:
            raise ValueError("WMax (model 121/120) or model 123 not readable")
        setpoint = limit_plan(plan.sources["controls"], blocks["controls"], base, value_w, revert_s)
        return await self._apply(link, plan, setpoint, "ActivePowerLimit", "controls")

    async def battery_power(
        self, link: ModbusLink, plan: AssetPlan, value_w: float, revert_s: int
    ) -> Written:
        """Model 124: OutWRte/InWRte pinning the power, their revert timeout, StorCtl_Mod."""
        blocks = await self._fresh(link, plan, ("storage", "battery", "nameplate"))
        charge, discharge = charge_base_w(blocks)
        if not charge or not discharge or "storage" not in blocks:
            raise ValueError("WChaMax (model 124) not readable")
        storage = plan.sources["storage"]
        setpoint = battery_plan(storage, blocks["storage"], charge, discharge, value_w, revert_s)
        return await self._apply(link, plan, setpoint, "BatteryPowerSetpoint", "storage")

    async def release(self, link: ModbusLink, instance: ModelInstance) -> None:
        """WMaxLim_Ena = 0 (model 123) or StorCtl_Mod = 0 (model 124)."""
        await self._send(link, instance, release_plan(instance))

    async def _fresh(
        self, link: ModbusLink, plan: AssetPlan, roles: tuple[str, ...]
    ) -> dict[str, ModelBlock]:
        instances = [plan.sources[r] for r in roles if r in plan.sources]
        blocks = await read_blocks(link, plan.unit_id, instances, self.timeout_s)
        self.blocks.update(blocks)
        return self.role_blocks(plan, blocks)

    async def _apply(
        self, link: ModbusLink, plan: AssetPlan, setpoint: SetpointPlan, point: str, role: str
    ) -> Written:
        await self._send(link, plan.sources[role], setpoint.writes)
        await self._fresh(link, plan, (role,))
        by_role = self.role_blocks(plan)
        values: dict[str, Value] = (
            pv_values(by_role, plan.phases)
            if plan.kind is AssetKind.PV_INVERTER
            else battery_values(by_role)
        )
        read_back = values.get(point)
        return Written(
            setpoint.written,
            read_back.value if read_back is not None and read_back.ok else None,
            setpoint.clamped,
            setpoint.holds,
        )

    async def _send(self, link: ModbusLink, instance: ModelInstance, writes: Writes) -> None:
        for address, words in writes:
            if self.single:
                for i, word in enumerate(words):
                    async with asyncio.timeout(self.timeout_s):
                        await link.write_register(instance.unit_id, address + i, word)
                continue
            async with asyncio.timeout(self.timeout_s):
                await link.write_registers(instance.unit_id, address, words)
