"""A simulated SunSpec device on loopback (pymodbus server), built from pysunspec2's models.

Give it the model chain per unit id and a values source; it lays the chain out at the base
address (40000 by default: "SunS", the models with their specification lengths, the end marker),
serves it with pymodbus, and refreshes the registers from the source on every read. Writes to
model 123 act on the simulated power: ``WMaxLimPct`` × ``WMax`` / 100 caps the AC output while
``WMaxLim_Ena`` is 1, until ``WMaxLimPct_RvrtTms`` seconds pass without a new write (then the
device reverts to no limit, as a real one does). Writes to other writable points are stored and
read back.

Demo / manual use::

    sim = SunSpecSimulator.fronius_symo(ConstantSource(pv_available_w=6000, load_w=1500))
    await sim.start()            # 127.0.0.1, sim.port (any free port unless given)
    ...
    await sim.stop()

Signs in the registers follow SunSpec: inverter ``W`` + = production; the meter's ``W`` + = import
for ``meter_sign=1`` (Fronius), + = export for ``meter_sign=-1`` (SolarEdge).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from ampacity.drivers.codec import NOT_AVAILABLE, WireType, encode
from ampacity.drivers.sunspec.models import (
    SUNS_MARKER,
    PointDef,
    UnknownModelError,
    layout_of,
    model_def,
)
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

SCALE_FACTORS: dict[str, int] = {
    "A_SF": -2, "V_SF": -1, "W_SF": 0, "Hz_SF": -2, "VA_SF": 0, "VAr_SF": 0, "VAR_SF": 0,
    "PF_SF": -2, "WH_SF": 0, "DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 0, "Tmp_SF": -1,
    "WRtg_SF": 0, "VARtg_SF": 0, "WMax_SF": 0, "WMaxLimPct_SF": -2, "TotWh_SF": 0,
    "DCWH_SF": 0, "InOutWRte_SF": -2, "WChaMax_SF": 0, "ChaState_SF": -1, "SoC_SF": -1,
    "WHRtg_SF": 0, "WChaDisChaMax_SF": 0,
}  # fmt: skip
"""Scale factors the simulator reports (10000 = 100.00 % for WMaxLimPct, as Fronius does)."""


@dataclass(slots=True)
class SunSpecInputs:
    """What the site physics tells the device now.

    Attributes:
        pv_available_w: AC power the PV array could deliver now before any limit, W (≥ 0).
        load_w: consumption behind the grid meter, W (≥ 0).
        voltage_v: phase-to-neutral voltage, V.
        frequency_hz: grid frequency, Hz.
    """

    pv_available_w: float = 0.0
    load_w: float = 0.0
    voltage_v: float = 230.0
    frequency_hz: float = 50.0


class ValuesSource(Protocol):
    """Site physics behind the simulator: called on every read, returns the present inputs."""

    def __call__(self) -> SunSpecInputs: ...


@dataclass(slots=True)
class ConstantSource:
    """A values source that returns what it holds (tests and the demo change it in place)."""

    pv_available_w: float = 0.0
    load_w: float = 0.0
    voltage_v: float = 230.0
    frequency_hz: float = 50.0

    def __call__(self) -> SunSpecInputs:
        return SunSpecInputs(self.pv_available_w, self.load_w, self.voltage_v, self.frequency_hz)


ModelSpec = int | tuple[int, int]
"""A model id (laid out with its specification length), or ``(id, L)``; model 160's length
sets its number of MPPT modules."""


@dataclass(slots=True)
class _Unit:
    unit_id: int
    base: int
    image: list[int]
    models: dict[int, tuple[int, int]]  # model id -> (address, length), first instance
    identity: dict[str, str]
    overrides: dict[tuple[int, str], list[int]] = field(default_factory=dict)


def _layout(model_id: int, length: int) -> dict[str, PointDef]:
    """The model's points; none for a model pysunspec2 does not know."""
    try:
        return layout_of(model_id, length)
    except UnknownModelError:
        return {}


def _sentinel(point: PointDef) -> list[int]:
    wire = point.wire_type
    if point.type in ("acc16", "acc32", "acc64", "pad"):
        return [0] * point.size
    if wire is WireType.STRING:
        return [0] * point.size
    if wire.is_float:
        return encode(math.nan, wire)
    pattern = NOT_AVAILABLE.get(wire, 0xFFFF)
    return [(pattern >> (16 * (point.size - 1 - i))) & 0xFFFF for i in range(point.size)]


def layout_chain(
    models: Sequence[ModelSpec], base: int = 40000
) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """Registers of a chain from ``base``: "SunS", the models (unset points hold their "not
    implemented" pattern), the end marker. Returns the words and ``model id -> (address, L)``."""
    words = list(SUNS_MARKER)
    where: dict[int, tuple[int, int]] = {}
    for spec in models:
        model_id, length = spec if isinstance(spec, tuple) else (spec, -1)
        try:
            definition = model_def(model_id)
        except UnknownModelError:  # a vendor model: an opaque body of zeros
            address = base + len(words)
            words += [model_id, max(length, 0), *([0] * max(length, 0))]
            where.setdefault(model_id, (address, max(length, 0)))
            continue
        if length < 0:
            length = definition.default_length
            if definition.group_len and model_id == 160:
                length += 2 * definition.group_len  # two MPPT trackers by default
        address = base + len(words)
        body = [0] * length
        for point in _layout(model_id, length).values():
            if point.offset >= 2:
                body[point.offset - 2 : point.offset - 2 + point.size] = _sentinel(point)
        words += [model_id, length, *body]
        where.setdefault(model_id, (address, length))
    words += [0xFFFF, 0]
    return words, where


class SunSpecSimulator:
    """A SunSpec device: one or more unit ids, each with its own model chain.

    Args:
        units: unit id -> its models in chain order (e.g. ``{1: [1, 103, 120, 123, 160],
            240: [1, 203]}``).
        source: the site physics.
        base: where "SunS" starts (40000, 0 or 50000).
        rated_w: the inverter's WRtg (and WMax), W.
        identity: unit id -> model 1 strings (``Mn``, ``Md``, ``Opt``, ``Vr``, ``SN``).
        meter_sign: +1: the meter's W is + = import; -1: + = export.
        host, port: where to listen (port 0: any free port, see ``port`` after ``start``).
        clock: monotonic seconds (tests may pass a fake one).
        energy_wh, imported_wh, exported_wh: the counters' start values, Wh.
    """

    def __init__(
        self,
        units: Mapping[int, Sequence[ModelSpec]],
        source: ValuesSource,
        *,
        base: int = 40000,
        rated_w: float = 8200.0,
        identity: Mapping[int, Mapping[str, str]] | None = None,
        meter_sign: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        energy_wh: float = 26_320_000.0,
        imported_wh: float = 4_150_000.0,
        exported_wh: float = 12_730_000.0,
    ) -> None:
        self.source = source
        self.rated_w = rated_w
        self.meter_sign = meter_sign
        self.host = host
        self.port = port
        self.answering = True
        """False: requests are received but never answered (the device hangs)."""
        self._clock = clock
        self._units: dict[int, _Unit] = {}
        for unit_id, models in units.items():
            image, where = layout_chain(models, base)
            ident = dict((identity or {}).get(unit_id, {}))
            ident.setdefault("Mn", "Ampacity")
            ident.setdefault("Md", "SunSpec simulator")
            ident.setdefault("SN", f"SIM{unit_id:05d}")
            ident.setdefault("Vr", "1.0.0")
            self._units[unit_id] = _Unit(unit_id, base, image, where, ident)
        self._server: ModbusTcpServer | None = None
        self._last_t: float | None = None
        self._limit_written_at: float | None = None
        self.energy_wh = energy_wh
        """AC energy produced, Wh (a SunSpec counter at 0 reads as "not accumulated")."""
        self.imported_wh = imported_wh
        """Energy imported through the meter, Wh."""
        self.exported_wh = exported_wh
        """Energy exported through the meter, Wh."""
        self.inverter_power_w = 0.0
        """AC power produced after the limit, W."""
        self.grid_power_w = 0.0
        """Power at the meter, W, + = import."""
        for unit in self._units.values():
            self._static(unit)
        self.refresh()

    @classmethod
    def fronius_symo(
        cls,
        source: ValuesSource,
        *,
        float_models: bool = False,
        meter: bool = True,
        base: int = 40000,
        port: int = 0,
    ) -> SunSpecSimulator:
        """A Fronius Symo 8.2-3-M behind a Datamanager: int+SF (1, 103, 120, 123, 160 on unit 1,
        1 + 203 on 240) or float (113 and 213 instead) models."""
        inverter: list[ModelSpec] = [1, 113 if float_models else 103, 120, 123, 160]
        units: dict[int, Sequence[ModelSpec]] = {1: inverter}
        if meter:
            units[240] = [1, 213 if float_models else 203]
        identity = {
            1: {"Mn": "Fronius", "Md": "Symo 8.2-3-M", "Opt": "3.31.1-5", "Vr": "0.3.30.1",
                "SN": "SIM31329509"},
            240: {"Mn": "Fronius", "Md": "Smart Meter 63A", "Vr": "1.1", "SN": "SIM00240"},
        }  # fmt: skip
        return cls(units, source, base=base, rated_w=8200.0, identity=identity, port=port)

    # --- serving ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port`` (the port is fixed after the first start)."""
        devices = [
            SimDevice(
                id=unit.unit_id,
                simdata=[SimData(unit.base, values=list(unit.image), datatype=DataType.REGISTERS)],
                action=partial(self._action, unit.unit_id),
            )
            for unit in self._units.values()
        ]
        self._server = ModbusTcpServer(
            devices, address=(self.host, self.port), trace_packet=self._trace_packet
        )
        await self._server.serve_forever(background=True)
        if not self.port:
            sockets = getattr(self._server.transport, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop the connections (the device is off)."""
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        return b"" if sending and not self.answering else data

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
        unit = self._units[unit_id]
        if set_values:
            words = [int(v) for v in set_values]
            error = self._write(unit, address, words)
            if error is not None:
                return error
        else:
            self.refresh()
        registers[: len(unit.image)] = unit.image
        return None

    # --- registers -------------------------------------------------------------------------

    def point(self, unit_id: int, model_id: int, name: str) -> tuple[int, PointDef]:
        """The address of a point and its definition."""
        address, length = self._units[unit_id].models[model_id]
        point = _layout(model_id, length)[name]
        return address + point.offset, point

    def registers(self, unit_id: int, model_id: int) -> list[int]:
        """A copy of a model instance's registers (``ID`` and ``L`` first)."""
        unit = self._units[unit_id]
        address, length = unit.models[model_id]
        start = address - unit.base
        return unit.image[start : start + 2 + length]

    def address(self, unit_id: int, model_id: int) -> int:
        return self._units[unit_id].models[model_id][0]

    def set_raw(self, unit_id: int, model_id: int, name: str, words: Iterable[int]) -> None:
        """Hold a point at raw registers (a sentinel, a fixture value) until ``clear``."""
        self._units[unit_id].overrides[(model_id, name)] = list(words)
        self.refresh()

    def set_value(self, unit_id: int, model_id: int, name: str, value: float | str) -> None:
        """Hold a point at a value in its SunSpec unit, scale factor applied."""
        _, point = self.point(unit_id, model_id, name)
        self.set_raw(
            unit_id, model_id, name, self._encode(self._units[unit_id], model_id, point, value)
        )

    def clear(self) -> None:
        """Drop every ``set_raw``/``set_value`` override."""
        for unit in self._units.values():
            unit.overrides.clear()
        self.refresh()

    def _put(self, unit: _Unit, model_id: int, name: str, value: float | str | None) -> None:
        if model_id not in unit.models:
            return
        address, length = unit.models[model_id]
        point = _layout(model_id, length).get(name)
        if point is None:
            return
        words = _sentinel(point) if value is None else self._encode(unit, model_id, point, value)
        start = address - unit.base + point.offset
        unit.image[start : start + point.size] = words

    def _get(self, unit: _Unit, model_id: int, name: str) -> int | None:
        if model_id not in unit.models:
            return None
        address, length = unit.models[model_id]
        point = _layout(model_id, length).get(name)
        if point is None or point.size != 1:
            return None
        word = unit.image[address - unit.base + point.offset]
        return word - 0x10000 if point.wire_type is WireType.S16 and word & 0x8000 else word

    def _encode(self, unit: _Unit, model_id: int, point: PointDef, value: float | str) -> list[int]:
        wire = point.wire_type
        if wire is WireType.STRING:
            return encode(str(value), wire, string_words=point.size)
        if isinstance(value, str):
            raise ValueError(f"{point.name} is numeric")
        if wire.is_float:
            return encode(value, wire)
        sf = 0
        if point.sf is not None and point.sf.lstrip("-").isdigit():
            sf = int(point.sf)
        elif point.sf is not None:
            sf = self._get(unit, model_id, point.sf) or 0
        sf = sf if -10 <= sf <= 10 else 0  # a "not implemented" SF: write unscaled
        raw = round(value / 10**sf) if sf else round(value)
        if wire in (WireType.U16, WireType.U32, WireType.U64):
            raw = max(0, raw)
        return encode(raw, wire)

    def _static(self, unit: _Unit) -> None:
        """Identity, scale factors, nameplate and control defaults."""
        for name, text in unit.identity.items():
            self._put(unit, 1, name, text)
        self._put(unit, 1, "DA", unit.unit_id)
        for model_id, (_, length) in unit.models.items():
            for point in _layout(model_id, length).values():
                if point.type == "sunssf":
                    bare = point.name.split(".")[-1]
                    self._put(unit, model_id, point.name, SCALE_FACTORS.get(bare, 0))
        self._put(unit, 120, "DERTyp", 4)
        self._put(unit, 120, "WRtg", self.rated_w)
        self._put(unit, 120, "VARtg", self.rated_w)
        self._put(unit, 121, "WMax", self.rated_w)
        for name, value in (
            ("Conn", 1),
            ("WMaxLimPct", 100.0),
            ("WMaxLim_Ena", 0),
            ("WMaxLimPct_WinTms", 0),
            ("WMaxLimPct_RvrtTms", 0),
            ("WMaxLimPct_RmpTms", 0),
            ("OutPFSet_Ena", 0),
            ("VArPct_Ena", 0),
        ):
            self._put(unit, 123, name, value)  # fmt: skip
        if 160 in unit.models:
            count = model_def(160).repeat_count(unit.models[160][1])
            self._put(unit, 160, "N", count)
            for i in range(count):
                self._put(unit, 160, f"module[{i + 1}].ID", i + 1)
                self._put(unit, 160, f"module[{i + 1}].IDStr", f"MPPT {i + 1}")

    # --- physics ---------------------------------------------------------------------------

    @property
    def limit_w(self) -> float:
        """The AC limit the device applies now, W (``rated_w`` when none)."""
        for unit in self._units.values():
            if 123 not in unit.models:
                continue
            if self._get(unit, 123, "WMaxLim_Ena") != 1:
                return self.rated_w
            raw = self._get(unit, 123, "WMaxLimPct")
            sf = self._get(unit, 123, "WMaxLimPct_SF") or 0
            if raw is None:
                return self.rated_w
            return min(self.rated_w, raw * 10.0**sf / 100 * self.rated_w)
        return self.rated_w

    def refresh(self) -> None:
        """Bring every register up to date with the source (called on every read)."""
        now = self._clock()
        dt_h = 0.0 if self._last_t is None else max(0.0, now - self._last_t) / 3600.0
        self._last_t = now
        self._revert(now)
        inputs = self.source()
        available = max(0.0, inputs.pv_available_w)
        limit = self.limit_w
        self.inverter_power_w = min(available, limit, self.rated_w)
        self.grid_power_w = max(0.0, inputs.load_w) - self.inverter_power_w
        self.energy_wh += self.inverter_power_w * dt_h
        if self.grid_power_w >= 0:
            self.imported_wh += self.grid_power_w * dt_h
        else:
            self.exported_wh -= self.grid_power_w * dt_h
        state = 2 if self.inverter_power_w <= 0 else (5 if available > limit else 4)
        for unit in self._units.values():
            self._inverter(unit, inputs, state)
            self._meter(unit, inputs)
            for (model_id, name), words in unit.overrides.items():
                address, length = unit.models[model_id]
                point = _layout(model_id, length)[name]
                start = address - unit.base + point.offset
                unit.image[start : start + point.size] = words[: point.size]

    def _inverter(self, unit: _Unit, inputs: SunSpecInputs, state: int) -> None:
        model_id = next((m for m in (101, 102, 103, 111, 112, 113) if m in unit.models), None)
        if model_id is None:
            return
        phases = {101: 1, 111: 1, 102: 2, 112: 2}.get(model_id, 3)
        power = self.inverter_power_w
        current = power / (inputs.voltage_v * phases) if inputs.voltage_v else 0.0
        dc = power / 0.97 if power > 0 else 0.0
        put = partial(self._put, unit, model_id)
        put("W", power)
        put("VA", power)
        put("VAr", 0.0)
        put("PF", 100.0)
        put("A", current * phases)
        for i, p in enumerate("ABC"):
            put(f"Aph{p}", current if i < phases else None)
            put(f"PhVph{p}", inputs.voltage_v if i < phases else None)
        for pair in ("AB", "BC", "CA"):
            put(f"PPVph{pair}", inputs.voltage_v * math.sqrt(3) if phases == 3 else None)
        put("Hz", inputs.frequency_hz)
        put("WH", self.energy_wh)
        put("DCW", dc)
        put("DCV", 600.0 if dc else 0.0)
        put("DCA", dc / 600.0)
        put("TmpCab", 35.0)
        put("St", state)
        put("StVnd", state)
        if 160 in unit.models:
            count = model_def(160).repeat_count(unit.models[160][1])
            for i in range(count):
                self._put(unit, 160, f"module[{i + 1}].DCW", dc / count)
                self._put(unit, 160, f"module[{i + 1}].DCV", 600.0 if dc else 0.0)
                self._put(unit, 160, f"module[{i + 1}].DCA", dc / count / 600.0)
                self._put(unit, 160, f"module[{i + 1}].DCWH", self.energy_wh / 0.97 / count)
                self._put(unit, 160, f"module[{i + 1}].DCSt", state)

    def _meter(self, unit: _Unit, inputs: SunSpecInputs) -> None:
        model_id = next(
            (m for m in (201, 202, 203, 204, 211, 212, 213, 214) if m in unit.models), None
        )
        if model_id is None:
            return
        phases = {201: 1, 211: 1, 202: 2, 212: 2}.get(model_id, 3)
        power = self.grid_power_w * self.meter_sign
        put = partial(self._put, unit, model_id)
        put("W", power)
        put("VAR", 0.0)
        put("PF", 100.0)
        put("Hz", inputs.frequency_hz)
        put("PhV", inputs.voltage_v)
        put("A", self.grid_power_w / inputs.voltage_v if inputs.voltage_v else 0.0)
        for i, p in enumerate("ABC"):
            here = i < phases
            put(f"Wph{p}", power / phases if here else None)
            put(f"Aph{p}", self.grid_power_w / phases / inputs.voltage_v if here else None)
            put(f"PhVph{p}", inputs.voltage_v if here else None)
        put("TotWhImp", self.imported_wh)
        put("TotWhExp", self.exported_wh)

    # --- writes ----------------------------------------------------------------------------

    def _write(self, unit: _Unit, address: int, words: list[int]) -> ExcCodes | None:
        """Check and store a write (only writable points of known models; a WMaxLimPct above
        100 % is refused); acts on model 123 (the limit) at once."""
        limit_written = False
        for i, word in enumerate(words):
            found = self._writable_point(unit, address + i)
            if found is None:
                return ExcCodes.ILLEGAL_ADDRESS
            model_id, point = found
            if model_id == 123:
                limit_written = True
                if point.name == "WMaxLimPct":
                    sf = self._get(unit, 123, "WMaxLimPct_SF") or 0
                    if word * 10.0**sf > 100.0:
                        return ExcCodes.ILLEGAL_VALUE
        if limit_written:
            self._limit_written_at = self._clock()
        offset = address - unit.base
        unit.image[offset : offset + len(words)] = words
        self.refresh()
        return None

    def _writable_point(self, unit: _Unit, address: int) -> tuple[int, PointDef] | None:
        for model_id, (start, length) in unit.models.items():
            if start <= address < start + 2 + length:
                for point in _layout(model_id, length).values():
                    if (
                        point.writable
                        and point.offset <= address - start < point.offset + point.size
                    ):
                        return model_id, point
                return None
        return None

    def _revert(self, now: float) -> None:
        """``WMaxLimPct_RvrtTms`` passed without a new write: the limit lapses."""
        written_at = self._limit_written_at
        if written_at is None:
            return
        for unit in self._units.values():
            timeout = self._get(unit, 123, "WMaxLimPct_RvrtTms")
            if timeout and now - written_at > timeout:
                self._put(unit, 123, "WMaxLim_Ena", 0)
                self._limit_written_at = None


async def serve(
    port: int = 5020,
    *,
    float_models: bool = False,
    pv_available_w: float = 6000.0,
    load_w: float = 1500.0,
) -> None:
    """Serve a simulated Fronius Symo with smart meter on 127.0.0.1 until cancelled."""
    sim = SunSpecSimulator.fronius_symo(
        ConstantSource(pv_available_w, load_w), float_models=float_models, port=port
    )
    await sim.start()
    print(f"SunSpec simulator (Fronius Symo, units 1 and 240) on 127.0.0.1:{sim.port}")
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m ampacity.sim.sunspec [--port 5020] [--float] [--pv W] [--load W]``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--float", dest="float_models", action="store_true")
    parser.add_argument("--pv", type=float, default=6000.0, help="PV power available, W")
    parser.add_argument("--load", type=float, default=1500.0, help="site load, W")
    args = parser.parse_args(argv)
    asyncio.run(
        serve(args.port, float_models=args.float_models, pv_available_w=args.pv, load_w=args.load)
    )


if __name__ == "__main__":
    main()
