"""Simulated Modbus hybrids for the ``hybrid`` driver's families, on loopback.

Each simulator serves the family's registers (as the family reads them) from one physical
model: a battery (``BatterySim``) that follows the device's own setpoint mechanism (Sungrow
forced mode, GoodWe EMS mode, SMA 40149/40151) with a ramp of ``ramp_w_per_s`` and stops at its
SoC limits, or else evens out the grid (the device's self-consumption), plus fixed PV and load.
Writes land in the holding registers; everything else a client reads is recomputed from the
model at every request. Unknown addresses read 0.

Signs of the model: battery + = discharge, grid + = import, PV + = production.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer

from .battery import BatterySim

UNITS = {"sungrow_sh": 1, "goodwe_et": 247, "sma_stp_se": 3}
"""The unit id each family's profile uses."""


def _lw32(value: int) -> list[int]:
    """32-bit, low word first (Sungrow)."""
    raw = value & 0xFFFF_FFFF
    return [raw & 0xFFFF, raw >> 16]


def _hw(value: int, words: int) -> list[int]:
    """``words`` words, high word first."""
    raw = value & ((1 << (16 * words)) - 1)
    return [(raw >> (16 * (words - 1 - i))) & 0xFFFF for i in range(words)]


class HybridSimulator:
    """One hybrid inverter with a battery, PV and a house load.

    Args:
        family: ``sungrow_sh``, ``goodwe_et`` or ``sma_stp_se``.
        capacity_wh: usable battery energy, Wh.
        max_power_w: the battery's charge and discharge limit, W.
        ramp_w_per_s: how fast the battery power follows its target, W/s.
        soc: initial state of charge, %.
        pv_w / load_w: PV power and house load, W (changeable).
        clock: monotonic seconds (a fake clock in tests).
    """

    def __init__(
        self,
        family: str,
        *,
        capacity_wh: float = 10_000.0,
        max_power_w: float = 5_000.0,
        ramp_w_per_s: float = 2_500.0,
        soc: float = 50.0,
        pv_w: float = 0.0,
        load_w: float = 500.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if family not in UNITS:
            raise ValueError(f"unknown family {family!r}; known: {', '.join(UNITS)}")
        self.family = family
        self.unit_id = UNITS[family]
        self.battery = BatterySim(
            capacity_wh=capacity_wh,
            max_charge_w=max_power_w,
            max_discharge_w=max_power_w,
            soc=soc,
            min_soc=5.0,
            max_soc=100.0,
            setpoint_timeout_s=math.inf,
            control_lag_s=0.0,
        )
        self.ramp_w_per_s = ramp_w_per_s
        self.pv_w = pv_w
        self.load_w = load_w
        self.clock = clock
        self.holding: dict[int, int] = {
            "sungrow_sh": {13049: 0, 13050: 0xCC, 13051: 0},
            "goodwe_et": {47511: 1, 47512: 0},
            "sma_stp_se": {40149: 0, 40150: 0, 40151: 0, 40152: 803},
        }[family]
        self.writes: list[tuple[int, list[int]]] = []
        self._grid_wh = [0.0, 0.0]
        self._pv_wh = 0.0
        self._last = clock()
        self._server: ModbusTcpServer | None = None
        self.port = 0

    # --- the device's own control ----------------------------------------------------------------

    def target_w(self) -> float | None:
        """The battery power the device's setpoint asks for (+ = discharge), or ``None`` when
        the device runs its own self-consumption control."""
        h = self.holding
        if self.family == "sungrow_sh":
            if h[13049] != 2:
                return None
            return {0xBB: 1.0, 0xAA: -1.0}.get(h[13050], 0.0) * h[13051]
        if self.family == "goodwe_et":
            mode = h[47511]
            if mode == 12:
                return float(h[47512])
            if mode == 11:
                return -float(h[47512])
            return 0.0 if mode == 8 else None
        if h[40151] << 16 | h[40152] != 802:  # SMA: 40151 U32
            return None
        raw = h[40149] << 16 | h[40150]
        return float(raw - 0x1_0000_0000 if raw & 0x8000_0000 else raw)

    def step(self) -> None:
        """Advance the physics to the clock's now."""
        now = self.clock()
        dt = max(0.0, now - self._last)
        self._last = now
        if dt == 0:
            return
        bat = self.battery
        target = self.target_w()
        if target is None:
            target = self.load_w - self.pv_w  # self-consumption: grid to zero
        reach = self.ramp_w_per_s * dt
        bat.set_setpoint(min(bat.power_w + reach, max(bat.power_w - reach, target)))
        power = bat.step(dt)
        hours = dt / 3600.0
        grid = self.load_w - self.pv_w - power
        self._grid_wh[0 if grid > 0 else 1] += abs(grid) * hours
        self._pv_wh += self.pv_w * hours

    @property
    def grid_w(self) -> float:
        return self.load_w - self.pv_w - self.battery.power_w

    # --- registers -------------------------------------------------------------------------------

    def image(self) -> tuple[dict[int, int], dict[int, int]]:
        """``(holding, input)`` as the device would answer now."""
        bat = self.battery
        power = round(bat.power_w)
        hold = dict(self.holding)
        inp: dict[int, int] = {}

        def put(table: dict[int, int], address: int, words: list[int]) -> None:
            for i, word in enumerate(words):
                table[address + i] = word

        if self.family == "sungrow_sh":
            state = 0x0002 if power < 0 else 0x0004 if power > 0 else 0
            put(inp, 13000, [state])
            put(inp, 13002, _lw32(round(self._pv_wh / 100)))
            put(inp, 13009, _lw32(-round(self.grid_w)))  # + = export
            put(inp, 13021, [abs(power)])
            put(inp, 13022, [round(bat.soc * 10)])
            put(inp, 13026, _lw32(round(bat.energy_discharged_wh / 100)))
            put(inp, 13036, _lw32(round(self._grid_wh[0] / 100)))
            put(inp, 13040, _lw32(round(bat.energy_charged_wh / 100)))
            put(inp, 13045, _lw32(round(self._grid_wh[1] / 100)))
            put(inp, 5016, _lw32(round(self.pv_w)))
        elif self.family == "goodwe_et":
            put(hold, 35105, _hw(round(self.pv_w), 2))
            put(hold, 35182, _hw(power, 2))
            put(hold, 35206, _hw(round(bat.energy_charged_wh / 100), 2))
            put(hold, 35209, _hw(round(bat.energy_discharged_wh / 100), 2))
            put(hold, 37007, [round(bat.soc)])
        else:
            put(hold, 30773, _hw(round(self.pv_w), 2))
            put(hold, 30961, _hw(0, 2))
            put(hold, 30845, _hw(round(bat.soc), 2))
            put(hold, 31393, _hw(max(0, -power), 2))
            put(hold, 31395, _hw(max(0, power), 2))
            put(hold, 31397, _hw(round(bat.energy_charged_wh), 4))
            put(hold, 31401, _hw(round(bat.energy_discharged_wh), 4))
            put(hold, 40187, _hw(round(bat.capacity_wh), 2))
        return hold, inp

    def write(self, address: int, values: list[int]) -> None:
        self.step()
        self.writes.append((address, list(values)))
        for i, word in enumerate(values):
            self.holding[address + i] = word

    # --- serving ---------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        server = ModbusTcpServer(_Context(self), address=(host, port), ignore_missing_devices=True)
        await server.serve_forever(background=True)
        self._server = server
        sockets = getattr(server.transport, "sockets", None) or ()
        self.port = int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


class _Context(ModbusServerContext):
    """What pymodbus' request handlers call: answers from the simulator's register image."""

    def __init__(self, sim: HybridSimulator) -> None:  # the base needs no devices here
        self.sim = sim
        self.old_simulator = True
        self.simdevices = []

    def _check(self, device_id: int) -> None:
        if device_id != self.sim.unit_id:
            raise NoSuchIdException(f"unit {device_id} is not served")

    async def async_getValues(self, device_id: Any, func_code: Any, address: Any, count: Any = 1):
        self._check(device_id)
        if func_code not in (3, 4, 6, 16):  # 6/16: pymodbus reads the written words back
            return ExcCodes.ILLEGAL_FUNCTION
        self.sim.step()
        hold, inp = self.sim.image()
        table = inp if func_code == 4 else hold
        return [table.get(a, 0) for a in range(address, address + count)]

    async def async_setValues(self, device_id: Any, func_code: Any, address: Any, values: Any):
        self._check(device_id)
        if func_code not in (6, 16):
            return ExcCodes.ILLEGAL_FUNCTION
        self.sim.write(int(address), [int(v) for v in values])
        return None

    def device_ids(self) -> list[int]:
        return [self.sim.unit_id]
