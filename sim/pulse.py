"""An I/O module's pulse counter for the simulator: S0 pulses of a meter counted in a register.

``PulseCounterModule`` plugs into ``SimServer`` like a ``SimulatedDevice``: one unit id, one
counter register (16 or 32 bit, high word first) that counts ``pulses_per_kwh`` pulses per kWh
of ``power_w`` on the module's clock, wrapping at 2**bits. ``reset()`` restarts it from 0, as a
module does after a power cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ampacity.drivers.profile import Function

from .faults import FaultSwitch
from .registers import WriteOutcome


class _CounterImage:
    def __init__(self, module: PulseCounterModule) -> None:
        self.module = module

    @property
    def unit_ids(self) -> set[int]:
        return {self.module.unit_id}

    def read(self, unit: int, function: Function, address: int, count: int) -> list[int] | None:
        m = self.module
        if function is not m.function:
            return None
        words = m.words()
        start = address - m.address
        if start < 0 or start + count > len(words):
            return None
        return words[start : start + count]

    def write(self, unit: int, function: Function, address: int, values: list[int]) -> WriteOutcome:
        return WriteOutcome.ILLEGAL_ADDRESS


class PulseCounterModule:
    """A digital input counting a meter's pulses.

    Attributes:
        power_w: the metered power, W (>= 0).
        pulses_per_kwh: the meter's constant.
        bits: register width (16 or 32).
        count: the counter as it stands (set it to start near a wrap).
    """

    def __init__(
        self,
        *,
        pulses_per_kwh: float = 1000.0,
        bits: int = 32,
        address: int = 0,
        unit_id: int = 1,
        function: Function = Function.HOLDING,
        count: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = "pulse counter"
        self.pulses_per_kwh = pulses_per_kwh
        self.bits = bits
        self.address = address
        self.unit_id = unit_id
        self.function = function
        self.count = count
        self.power_w = 0.0
        self.faults = FaultSwitch()
        self.image = _CounterImage(self)
        self._clock = clock
        self._last = clock()
        self._fraction = 0.0

    @property
    def unit_ids(self) -> set[int]:
        return {self.unit_id}

    def advance(self) -> None:
        """Count the pulses of the energy since the last call."""
        now = self._clock()
        kwh = max(self.power_w, 0.0) * (now - self._last) / 3_600_000.0
        self._last = now
        self._fraction += kwh * self.pulses_per_kwh
        whole = int(self._fraction)
        self._fraction -= whole
        self.count = (self.count + whole) % (1 << self.bits)

    def reset(self) -> None:
        self.count = 0
        self._fraction = 0.0

    def words(self) -> list[int]:
        self.advance()
        if self.bits == 16:
            return [self.count]
        return [self.count >> 16 & 0xFFFF, self.count & 0xFFFF]

    def refresh(self) -> None:
        self.advance()
