"""A simulated SolarEdge inverter: the SunSpec chain (``SunSpecSimulator``) plus SolarEdge's
Enhanced Dynamic Power Control block at 0xF300 (32-bit values low word first).

The limit acts as on the device: while ``EnableDynamicPowerControl`` (0xF300) is 1, the AC output
is capped at ``DynamicActivePowerLimit`` (0xF322, % of ``MaxActivePower`` 0xF304); when no new
limit arrives within ``CommandTimeout`` (0xF310, s) the inverter applies
``FallbackActivePowerLimit`` (0xF312, %) until the next write. Without the EDPC block
(``edpc=False``, older firmware) every access there answers exception 2.

Example::

    sim = SolarEdgeSimulator(ConstantSource(pv_available_w=9000, load_w=800), rated_w=10000)
    await sim.start()   # 127.0.0.1:sim.port, unit 1: models 1, 103, 1, 203 and the EDPC block
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from pymodbus.constants import ExcCodes

from .sunspec import SunSpecSimulator, ValuesSource, _Unit

EDPC_START = 0xF300
EDPC_END = 0xF324
ENABLE = 0xF300
MAX_ACTIVE_POWER = 0xF304
COMMAND_TIMEOUT = 0xF310
FALLBACK_LIMIT = 0xF312
DYNAMIC_LIMIT = 0xF322
_WRITABLE = {ENABLE: 1, COMMAND_TIMEOUT: 2, FALLBACK_LIMIT: 2, DYNAMIC_LIMIT: 2}
"""Writable EDPC registers and their sizes."""


def _f32(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def _from_f32(words: list[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0]
    return value


class SolarEdgeSimulator(SunSpecSimulator):
    """A SolarEdge SE…K inverter with a SolarEdge meter on unit 1 (models 1, 103, 1, 203).

    Args:
        source: the site physics.
        rated_w: the inverter's rating (``MaxActivePower``), W.
        edpc: the firmware has the EDPC block.
        single_phase: model 101 instead of 103 (SE…H HD Wave).
        port: TCP port (0: any free port).
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        source: ValuesSource,
        *,
        rated_w: float = 10000.0,
        edpc: bool = True,
        single_phase: bool = False,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._edpc = edpc
        self._edpc_written_at: float | None = None
        identity = {
            1: {
                "Mn": "SolarEdge",
                "Md": "SE10K-RWS48BEN4",
                "Vr": "0004.0022.0039",
                "SN": "SIM7E068E",
            }
        }
        super().__init__(
            {1: [1, 101 if single_phase else 103, 1, 203]},
            source,
            rated_w=rated_w,
            identity=identity,
            meter_sign=-1,
            port=port,
            clock=clock,
        )
        unit = self._units[1]
        unit.image.extend([0] * (EDPC_END - unit.base - len(unit.image)))
        self._put_edpc(ENABLE, [0])
        self._put_edpc(MAX_ACTIVE_POWER, _f32(rated_w))
        self._put_edpc(COMMAND_TIMEOUT, [60, 0])
        self._put_edpc(FALLBACK_LIMIT, _f32(100.0))
        self._put_edpc(DYNAMIC_LIMIT, _f32(100.0))
        self.refresh()

    def _put_edpc(self, address: int, words: list[int]) -> None:
        unit = self._units[1]
        start = address - unit.base
        unit.image[start : start + len(words)] = words

    def _edpc_words(self, address: int, count: int) -> list[int]:
        unit = self._units[1]
        start = address - unit.base
        return unit.image[start : start + count]

    @property
    def limit_w(self) -> float:
        """The AC limit in force now, W: the dynamic limit while EDPC is on, the fallback once
        the command timeout passed without a new limit, else the rating."""
        units = getattr(self, "_units", {})
        if not getattr(self, "_edpc", False) or 1 not in units:
            return self.rated_w
        image = units[1].image
        if len(image) < EDPC_END - units[1].base or self._edpc_words(ENABLE, 1)[0] != 1:
            return self.rated_w
        pct = _from_f32(self._edpc_words(DYNAMIC_LIMIT, 2))
        timeout = self._edpc_words(COMMAND_TIMEOUT, 2)
        timeout_s = timeout[0] | timeout[1] << 16
        written = self._edpc_written_at
        if timeout_s and (written is None or self._clock() - written > timeout_s):
            pct = _from_f32(self._edpc_words(FALLBACK_LIMIT, 2))
        return max(0.0, min(100.0, pct)) / 100.0 * self.rated_w

    def _write(self, unit: _Unit, address: int, words: list[int]) -> ExcCodes | None:
        if address < EDPC_START:
            return super()._write(unit, address, words)
        if not self._edpc or _WRITABLE.get(address) != len(words):
            return ExcCodes.ILLEGAL_ADDRESS
        if address in (FALLBACK_LIMIT, DYNAMIC_LIMIT) and not 0.0 <= _from_f32(words) <= 100.0:
            return ExcCodes.ILLEGAL_VALUE
        if address == DYNAMIC_LIMIT:
            self._edpc_written_at = self._clock()
        self._put_edpc(address, words)
        self.refresh()
        return None

    async def _action(
        self,
        unit_id: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if address + count > EDPC_START and not self._edpc:
            return ExcCodes.ILLEGAL_ADDRESS
        return await super()._action(
            unit_id, function_code, start_address, address, count, registers, set_values
        )
