"""``SolarEdgeDriver``: a SolarEdge inverter's SunSpec values plus its own power control.

SolarEdge inverters publish SunSpec models 1, 101/102/103 (int + scale factors; 160 on some
units) and their meters 201-204, but no model 120/121/123: neither the nominal power nor a
limit is in the SunSpec chain. Both come from SolarEdge's *Enhanced Dynamic Power Control*
(EDPC) registers, a holding-register block at 0xF300 whose 32-bit values are word-swapped
(low word first):

=========  ===========================  =======  ==========================================
address    register                     type     meaning
=========  ===========================  =======  ==========================================
0xF300     EnableDynamicPowerControl    U16      1 = EDPC on (a setting: written only when
                                                 it differs)
0xF304     MaxActivePower               F32      W, the inverter's rating -> NominalPower
0xF310     CommandTimeout               U32      s; without a new limit for this long the
                                                 inverter falls back (a setting)
0xF312     FallbackActivePowerLimit     F32      % of MaxActivePower after the timeout
                                                 (a setting)
0xF322     DynamicActivePowerLimit      F32      % of MaxActivePower, applied at once, kept
                                                 in RAM only -> ActivePowerLimit
=========  ===========================  =======  ==========================================

``ActivePowerLimit`` (W) is written as ``DynamicActivePowerLimit`` = W / MaxActivePower × 100
and re-sent after half the command timeout (``sunspec.revert_s``) by the SunSpec driver's
refresh. The settings (enable, timeout, fallback) are read before every limit write and written
only when they differ from what the profile asks, so nothing persisted is written cyclically.
The older 0xF001 "active power limit" + 0xF100 commit path is not used: it has no timeout.

Leader/follower installations: every inverter is its own unit id behind the leader's TCP
endpoint; configure one device per unit id with the same host (they share one connection).
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from ampacity.assets import (
    SPECS,
    AssetKind,
    OutOfRangeError,
    PointValue,
    Quality,
    ReadingSink,
    WriteError,
    WriteResult,
)
from ampacity.drivers.base import AssetInfo
from ampacity.drivers.modbus.transport import ModbusExceptionResponse, ModbusIOError, ModbusLink
from ampacity.drivers.sunspec.chain import Chain, ModelInstance
from ampacity.drivers.sunspec.decode import MISSING, ModelBlock, Value
from ampacity.drivers.sunspec.driver import SunSpecDriver, _Binding
from ampacity.drivers.sunspec.mapping import AssetPlan

ENABLE = 0xF300
MAX_ACTIVE_POWER = 0xF304
COMMAND_TIMEOUT = 0xF310
FALLBACK_LIMIT = 0xF312
DYNAMIC_LIMIT = 0xF322

_IO_ERRORS = (ModbusIOError, TimeoutError, OSError)
_EXCEPTION_HINTS = {
    1: "the inverter does not accept this function",
    2: "no such register: firmware without dynamic power control",
    3: "value refused: is advanced power control enabled (SetApp)?",
    4: "the inverter failed to apply it",
}


def f32_words(value: float) -> list[int]:
    """A float32 as two registers, low word first (SolarEdge's proprietary blocks)."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def f32_value(words: list[int]) -> float:
    """A float32 from two registers, low word first."""
    value: float = struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0]
    return value


def u32_words(value: int) -> list[int]:
    """A uint32 as two registers, low word first."""
    return [value & 0xFFFF, (value >> 16) & 0xFFFF]


def u32_value(words: list[int]) -> int:
    return words[0] | (words[1] << 16)


@dataclass(slots=True)
class Edpc:
    """What a unit's EDPC block said at the last read.

    Attributes:
        max_w: MaxActivePower, W (``None`` when not a finite positive number).
        limit_pct: DynamicActivePowerLimit, % (``None`` when unread or not finite).
        enabled: EnableDynamicPowerControl is 1.
    """

    max_w: float | None
    limit_pct: float | None = None
    enabled: bool = False

    @property
    def limit_w(self) -> Value:
        """The limit in force, W: the dynamic limit while EDPC is on, else the rating."""
        if self.max_w is None:
            return MISSING
        if not self.enabled:
            return Value(self.max_w, Quality.GOOD)
        if self.limit_pct is None:
            return MISSING
        pct = min(max(self.limit_pct, 0.0), 100.0)
        return Value(round(pct * self.max_w / 100.0, 3), Quality.GOOD)


class SolarEdgeDriver(SunSpecDriver):
    """The SunSpec driver with SolarEdge's EDPC block for ``NominalPower`` and
    ``ActivePowerLimit``.

    Args:
        fallback_pct: ``FallbackActivePowerLimit`` the inverter applies when the limit is not
            refreshed within the command timeout, % of its rating.
        (the rest as ``SunSpecDriver``; ``sunspec.revert_s`` of the profile is the command
        timeout, s)
    """

    def __init__(self, *args: object, fallback_pct: float = 100.0, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._fallback_pct = fallback_pct
        self._edpc: dict[int, Edpc] = {}

    # --- discovery and polling -------------------------------------------------------------

    async def _build(self, link: ModbusLink, chains: dict[int, Chain], absent: set[int]) -> None:
        for unit in chains:
            await self._probe(link, unit)
        await super()._build(link, chains, absent)

    async def _probe(self, link: ModbusLink, unit: int) -> None:
        """Read MaxActivePower; a unit that refuses it has no EDPC (no limit, no rating)."""
        try:
            words = await self._read(link, unit, MAX_ACTIVE_POWER, 2)
        except ModbusExceptionResponse:
            self._edpc.pop(unit, None)
            return
        max_w = f32_value(words)
        state = Edpc(max_w if math.isfinite(max_w) and max_w > 0 else None)
        self._edpc[unit] = state
        try:
            await self._read_limit(link, unit, state)
        except ModbusExceptionResponse:
            state.limit_pct = None  # the rating is known; the limit is refused when written

    async def _read_limit(self, link: ModbusLink, unit: int, state: Edpc) -> None:
        enable = await self._read(link, unit, ENABLE, 1)
        limit = f32_value(await self._read(link, unit, DYNAMIC_LIMIT, 2))
        state.enabled = enable[0] == 1
        state.limit_pct = limit if math.isfinite(limit) else None

    async def _poll(self, sink: ReadingSink) -> bool:
        if self._edpc and self.discovered:
            try:
                link = await self._get_link()
                for unit, state in self._edpc.items():
                    await self._read_limit(link, unit, state)
            except _IO_ERRORS:
                for state in self._edpc.values():
                    state.limit_pct = None  # the SunSpec poll below reports the failure
        return await super()._poll(sink)

    def _values(
        self, binding: _Binding, blocks: Mapping[ModelInstance, ModelBlock]
    ) -> dict[str, Value]:
        values = super()._values(binding, blocks)
        state = self._edpc.get(binding.unit_id)
        if binding.kind is AssetKind.PV_INVERTER and state is not None:
            values["NominalPower"] = (
                Value(state.max_w, Quality.GOOD) if state.max_w is not None else MISSING
            )
            values["ActivePowerLimit"] = state.limit_w
        return values

    def _info(
        self,
        key: str,
        kind: AssetKind,
        points: tuple[str, ...],
        plan: AssetPlan | None,
        blocks: Mapping[ModelInstance, ModelBlock],
    ) -> AssetInfo:
        info = super()._info(key, kind, points, plan, blocks)
        state = self._edpc.get(plan.unit_id) if plan is not None else None
        if kind is not AssetKind.PV_INVERTER or state is None:
            return info
        extra = tuple(p for p in ("NominalPower", "ActivePowerLimit") if p not in info.points)
        ranges = dict(info.ranges)
        if state.max_w is not None:
            ranges["ActivePowerLimit"] = (0.0, state.max_w)
        return AssetInfo(info.asset_id, kind, info.points + extra, ranges, info.identification)

    # --- the limit -------------------------------------------------------------------------

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Write ``ActivePowerLimit`` (W) through EDPC; other points as the SunSpec driver.

        Raises:
            OutOfRangeError: not a number, or outside 0..MaxActivePower; nothing written.
            WriteError: no EDPC on the unit, or the inverter refused or did not answer (the
                message names the register and the Modbus exception).
        """
        if point != "ActivePowerLimit":
            return await super().write(asset_id, point, value)
        binding = self._binding(asset_id)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OutOfRangeError(f"{asset_id}.{point}: {value!r} is not a number")
        number = float(value)
        low, high = (
            binding.info.ranges.get(point)
            or SPECS[binding.kind].point(point).value_range
            or (0.0, math.inf)
        )
        if not math.isfinite(number) or not low <= number <= high:
            raise OutOfRangeError(f"{asset_id}.{point}: {value} outside [{low}, {high}]")
        state = self._edpc.get(binding.unit_id)
        if state is None:
            raise WriteError(
                f"{asset_id}.{point}: unit {binding.unit_id} has no SolarEdge dynamic power "
                "control (0xF300 block); firmware too old or not discovered yet"
            )
        if state.max_w is None:
            raise WriteError(
                f"{asset_id}.{point}: unit {binding.unit_id} reports no usable MaxActivePower "
                "(0xF304), the base of the limit; nothing written"
            )
        pct = min(max(number / state.max_w * 100.0, 0.0), 100.0)
        register = "DynamicActivePowerLimit 0xF322"
        try:
            link = await self._get_link()
            register = "EDPC settings 0xF300/0xF310/0xF312"
            await self._settings(link, binding.unit_id)
            register = "DynamicActivePowerLimit 0xF322"
            await self._write(link, binding.unit_id, DYNAMIC_LIMIT, f32_words(pct))
            await self._read_limit(link, binding.unit_id, state)
        except ModbusExceptionResponse as exc:
            hint = _EXCEPTION_HINTS.get(exc.code, "refused")
            raise self._write_failed(binding, f"{register}: {exc}: {hint}") from exc
        except _IO_ERRORS as exc:
            raise self._write_failed(binding, f"{register}: {exc or type(exc).__name__}") from exc
        written = round(pct * state.max_w / 100.0, 3)
        read_back = state.limit_w
        self._held[(asset_id, point)] = (number, asyncio.get_running_loop().time())
        return WriteResult(
            value,
            written,
            read_back.value if read_back.ok else None,
            not math.isclose(written, number, abs_tol=0.01),
        )

    async def release(self, asset_id: str, point: str) -> None:
        """Stop holding the limit: DynamicActivePowerLimit = 100 %."""
        if point != "ActivePowerLimit":
            await super().release(asset_id, point)
            return
        binding = self._binding(asset_id)
        self._held.pop((asset_id, point), None)
        if binding.unit_id not in self._edpc:
            raise WriteError(f"{asset_id}.{point}: nothing to release")
        try:
            link = await self._get_link()
            await self._write(link, binding.unit_id, DYNAMIC_LIMIT, f32_words(100))
        except _IO_ERRORS as exc:
            raise WriteError(f"{self._endpoint()}: releasing {asset_id}.{point}: {exc}") from exc

    async def _settings(self, link: ModbusLink, unit: int) -> None:
        """Timeout, fallback and enable as the profile asks; each written only if it differs."""
        timeout = self._options.revert_s
        current = await self._read(link, unit, COMMAND_TIMEOUT, 4)
        if timeout > 0 and u32_value(current[:2]) != timeout:
            await self._write(link, unit, COMMAND_TIMEOUT, u32_words(timeout))
        fallback = f32_value(current[2:])
        if not (math.isfinite(fallback) and math.isclose(fallback, self._fallback_pct)):
            await self._write(link, unit, FALLBACK_LIMIT, f32_words(self._fallback_pct))
        if (await self._read(link, unit, ENABLE, 1))[0] != 1:
            await self._write(link, unit, ENABLE, [1])

    def _write_failed(self, binding: _Binding, detail: str) -> WriteError:
        message = f"{self._endpoint()} unit {binding.unit_id}: writing ActivePowerLimit: {detail}"
        binding.state.health.error_count += 1
        binding.state.health.last_error = message
        return WriteError(message)

    async def _read(self, link: ModbusLink, unit: int, address: int, count: int) -> list[int]:
        async with asyncio.timeout(self._timeout):
            return await link.read_holding_registers(unit, address, count)

    async def _write(self, link: ModbusLink, unit: int, address: int, words: list[int]) -> None:
        async with asyncio.timeout(self._timeout):
            await link.write_registers(unit, address, words)


__all__ = ["SolarEdgeDriver", "f32_value", "f32_words"]
