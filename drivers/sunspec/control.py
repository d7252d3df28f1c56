"""Setpoints: which model registers a setpoint becomes (pure functions; the driver sends them).

* ``ActivePowerLimit`` (W) -> model 123: ``WMaxLimPct`` = limit / WMax × 100 in units of
  ``10^WMaxLimPct_SF`` %, ``WMaxLimPct_RvrtTms`` = the revert timeout (s), ``WMaxLim_Ena`` = 1.
  A limit at or above WMax writes 100 % and ``WMaxLim_Ena`` = 0 (no limit).
* ``BatteryPowerSetpoint`` (W, + = discharge) -> model 124: ``OutWRte`` (% of the discharge
  base) and ``InWRte`` (% of ``WChaMax``) in units of ``10^InOutWRte_SF`` %, set so both limits
  pin the power: discharge P -> OutWRte = +P, InWRte = -P (negative charge limit forces
  discharge); charge P -> InWRte = +P, OutWRte = -P; then ``InOutWRte_RvrtTms`` and
  ``StorCtl_Mod`` = 3 (charge and discharge limits active). Release writes ``StorCtl_Mod`` = 0.

Every write is a list of ``(address, registers)`` FC16 requests in the order to send.
"""

from __future__ import annotations

from dataclasses import dataclass

from ampacity.drivers.codec import WireType, encode

from .chain import ModelInstance
from .decode import ModelBlock
from .models import layout_of

Writes = list[tuple[int, list[int]]]


@dataclass(frozen=True, slots=True)
class SetpointPlan:
    """Registers to send and what they mean in model units.

    Attributes:
        writes: ``(address, registers)`` FC16 requests, in order.
        written: the value the registers represent (after clamping and rounding), model units.
        clamped: the request was outside the device limits and got clamped.
        holds: the device keeps the setpoint only until its revert timer runs out, so the driver
            must refresh it.
    """

    writes: Writes
    written: float
    clamped: bool
    holds: bool


def _offset(instance: ModelInstance, name: str) -> int | None:
    point = layout_of(instance.model_id, instance.length).get(name)
    return None if point is None else instance.address + point.offset


def _sf(block: ModelBlock, name: str) -> int:
    point = block.layout.get(name)
    sf = block.scale_factor(point) if point is not None else 0
    return sf if sf is not None else 0


def limit_plan(
    controls: ModelInstance,
    block: ModelBlock,
    wmax_w: float,
    value_w: float,
    revert_s: int,
) -> SetpointPlan:
    """Registers for ``ActivePowerLimit`` = ``value_w`` (already inside the asset's range)."""
    clamped = value_w > wmax_w or value_w < 0
    limit = min(max(value_w, 0.0), wmax_w)
    sf = _sf(block, "WMaxLimPct")
    full_raw = round(100 / 10**sf)
    raw = min(full_raw, max(0, round(limit / wmax_w * 100 / 10**sf)))
    pct_at = _offset(controls, "WMaxLimPct")
    ena_at = _offset(controls, "WMaxLim_Ena")
    rvrt_at = _offset(controls, "WMaxLimPct_RvrtTms")
    if pct_at is None or ena_at is None:
        raise ValueError(f"model {controls.model_id} at {controls.address} has no WMaxLimPct")
    if raw >= full_raw:
        return SetpointPlan([(pct_at, [full_raw]), (ena_at, [0])], wmax_w, clamped, False)
    writes: Writes = [(pct_at, [raw])]
    if rvrt_at is not None and revert_s > 0:
        writes.append((rvrt_at, [min(revert_s, 0xFFFE)]))
    writes.append((ena_at, [1]))
    written = round(raw * 10.0**sf / 100 * wmax_w, 6)
    return SetpointPlan(writes, written, clamped, revert_s > 0 and rvrt_at is not None)


def battery_plan(
    storage: ModelInstance,
    block: ModelBlock,
    charge_w: float,
    discharge_w: float,
    value_w: float,
    revert_s: int,
) -> SetpointPlan:
    """Registers for ``BatteryPowerSetpoint`` = ``value_w`` (+ = discharge)."""
    clamped = not -charge_w <= value_w <= discharge_w
    power = min(max(value_w, -charge_w), discharge_w)
    sf = _sf(block, "OutWRte")
    out_pct, in_pct = power / discharge_w * 100, -power / charge_w * 100
    out_raw = round(out_pct / 10**sf)
    in_raw = round(in_pct / 10**sf)
    limit = min(0x7FFF, round(100 / 10**sf))
    out_raw = max(-limit, min(limit, out_raw))
    in_raw = max(-limit, min(limit, in_raw))
    out_at = _offset(storage, "OutWRte")
    mode_at = _offset(storage, "StorCtl_Mod")
    rvrt_at = _offset(storage, "InOutWRte_RvrtTms")
    if out_at is None or mode_at is None:
        raise ValueError(f"model {storage.model_id} at {storage.address} has no OutWRte")
    writes: Writes = [(out_at, encode(out_raw, WireType.S16) + encode(in_raw, WireType.S16))]
    if rvrt_at is not None and revert_s > 0:
        writes.append((rvrt_at, [min(revert_s, 0xFFFE)]))
    writes.append((mode_at, [0b11]))
    written = round(out_raw * 10.0**sf / 100 * discharge_w, 6)
    return SetpointPlan(writes, written, clamped, revert_s > 0 and rvrt_at is not None)


def release_plan(instance: ModelInstance) -> Writes:
    """Give control back to the device: ``WMaxLim_Ena`` = 0 (123) or ``StorCtl_Mod`` = 0 (124)."""
    name = "WMaxLim_Ena" if instance.model_id == 123 else "StorCtl_Mod"
    at = _offset(instance, name)
    return [] if at is None else [(at, [0])]
