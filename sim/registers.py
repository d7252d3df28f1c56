"""A device's register image: model values encoded the way the device sends them, writes decoded.

``RegisterImage`` inverts a ``Profile`` (``drivers.profile``): for every mapped point it asks a
``DeviceModel`` for the value in model units and sign, and stores the registers the real device
would hold (``raw = (value * sign - offset) / scale``, then ``drivers.codec.encode`` with the
point's wire type and word order). Booleans and enumerations pick a raw value the profile decodes
back to the model's value; several points that share one register (a charging state read as
``VehicleConnected`` and ``Charging``) get one raw value that satisfies all of them, preferring the
values the profile declares (``true_values``, ``enum`` keys, then ``false_value``, so an idle
Heidelberg shows state 2 "A1, no vehicle" and an idle Alfen socket mode-3 state "A") over a bare
0 / empty string. A ``None`` from the model is sent as the type's "not available" pattern (NaN for
floats).

A point with ``add_addresses`` (DC power of several MPP trackers) is split evenly over its
registers, so that decoding every part and adding them gives the model's value back. For integer
registers each further part carries the whole raw share rounded down and the first part the rest,
so the sum is exact (5001 W over two trackers: 2501 + 2500); float registers get equal shares.

Writes of a client into a ``write:`` register are checked against the device limits
(``min``/``max``, ``zero_means_off``), decoded back into model units and handed to
``DeviceModel.write`` - but only while the setpoint's ``before`` registers hold their values
(an SMA setpoint without its enable flag 802 is ignored, as by the device).

This module knows no Modbus library; ``sim.server`` serves the image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from ampacity.assets import SPECS, PointSpec, PointValue
from ampacity.drivers.codec import NOT_AVAILABLE, CodecError, WireType, decode, encode
from ampacity.drivers.profile import AssetMap, Function, PointMap, Profile, WriteSpec, WriteStep

TableKey = tuple[int, Function]
"""(unit id, Modbus data table)."""

_TOLERANCE = 1e-6


class DeviceModel(Protocol):
    """The physical side of one simulated device, in model units and sign conventions.

    ``point`` is a model point name (``ActivePower``) or ``Identification.<name>``.
    """

    def read(self, asset: str, point: str) -> PointValue:
        """The point's value now; ``None`` = the device reports "not available"."""
        ...

    def write(self, asset: str, point: str, value: PointValue) -> None:
        """A client wrote a setpoint (already decoded and checked against the device limits)."""
        ...


@dataclass
class StaticModel:
    """A ``DeviceModel`` backed by a dict ``{(asset, point): value}``; writes are stored."""

    values: dict[tuple[str, str], PointValue] = field(default_factory=dict)
    written: list[tuple[str, str, PointValue]] = field(default_factory=list)

    def read(self, asset: str, point: str) -> PointValue:
        return self.values.get((asset, point))

    def write(self, asset: str, point: str, value: PointValue) -> None:
        self.values[(asset, point)] = value
        self.written.append((asset, point, value))


class WriteRefused(Exception):
    """Raised by a ``DeviceModel.write`` when the device refuses a valid setpoint (a unit locked
    for maintenance); the client gets Modbus exception 4 (server device failure)."""


class WriteOutcome(Enum):
    """What the device answers to a write request."""

    OK = "ok"
    ILLEGAL_ADDRESS = "illegal_address"
    """No writable register there (Modbus exception 2)."""
    ILLEGAL_VALUE = "illegal_value"
    """The value is outside the device's limits (Modbus exception 3)."""
    REFUSED = "refused"
    """The device cannot carry the setpoint out now (Modbus exception 4)."""


@dataclass(frozen=True, slots=True)
class _Slot:
    """One point (or one part of an ``add_addresses`` point) placed in a table."""

    asset: str
    point: str
    """Model point name, or ``Identification.<name>``."""
    pmap: PointMap
    spec: PointSpec | None
    key: TableKey
    address: int
    parts: int = 1
    """Registers the point's value is split over (``address`` and ``add_addresses``)."""
    part: int = 0
    """Which of them this slot is (0 = ``address``)."""


@dataclass(frozen=True, slots=True)
class _WriteSlot:
    asset: str
    point: str
    pmap: PointMap
    write: WriteSpec
    key: TableKey
    words: int


class RegisterImage:
    """The registers of one simulated device, kept in step with its model.

    Args:
        profile: the device profile (``protocol: modbus``).
        model: the physical model the values come from and setpoints go to.
        unit_id: replaces the profile's default unit id (``transport.unit_id``), as a site config
            does; asset and point unit ids stay as the profile says.
    """

    def __init__(self, profile: Profile, model: DeviceModel, *, unit_id: int | None = None) -> None:
        self.profile = profile
        self.model = model
        self.default_unit = profile.transport.unit_id if unit_id is None else unit_id
        self.tables: dict[TableKey, dict[int, int]] = {}
        self._groups: dict[tuple[TableKey, int], list[_Slot]] = {}
        self._writes: list[_WriteSlot] = []
        self._writable: dict[TableKey, set[int]] = {}
        for asset in profile.assets:
            self._place_asset(asset)
        for key in self._writable:
            self.tables.setdefault(key, {})
        self.refresh()

    # --- layout -------------------------------------------------------------------------------

    def unit_for(self, asset: AssetMap, pmap: PointMap | None = None) -> int:
        """Unit id of a point: the point's, else the asset's, else the (overridden) default."""
        if pmap is not None and pmap.unit_id is not None:
            return pmap.unit_id
        if asset.unit_id is not None:
            return asset.unit_id
        return self.default_unit

    @property
    def unit_ids(self) -> set[int]:
        """Every unit id the device answers on."""
        return {unit for unit, _ in self.tables}

    def _function(self, pmap: PointMap) -> Function:
        return pmap.function or self.profile.transport.default_function

    def _place_asset(self, asset: AssetMap) -> None:
        spec = SPECS[asset.kind]
        named: list[tuple[str, PointMap, PointSpec | None]] = [
            (name, pmap, spec.point(name)) for name, pmap in asset.points.items()
        ]
        named += [(f"Identification.{n}", p, None) for n, p in asset.identification.items()]
        for name, pmap, pspec in named:
            unit = self.unit_for(asset, pmap)
            if pmap.address is not None:
                key = (unit, self._function(pmap))
                addresses = pmap.addresses
                for part, address in enumerate(addresses):
                    slot = _Slot(asset.key, name, pmap, pspec, key, address, len(addresses), part)
                    self._groups.setdefault((key, address), []).append(slot)
                    self.tables.setdefault(key, {})
            if pmap.write is not None:
                self._place_write(asset, name, pmap, pmap.write)

    def _place_write(self, asset: AssetMap, name: str, pmap: PointMap, write: WriteSpec) -> None:
        unit = self.unit_for(asset, pmap)
        key = (unit, Function.COIL if write.function == "coil" else Function.HOLDING)
        words = 1 if write.function == "coil" else write.type.word_count
        self._writes.append(_WriteSlot(asset.key, name, pmap, write, key, words))
        writable = self._writable.setdefault(key, set())
        writable.update(range(write.address, write.address + words))
        for step in (*write.before, *write.off_steps):
            steps = self._writable.setdefault((unit, Function.HOLDING), set())
            steps.update(range(step.address, step.address + step.type.word_count))
        if write.enable_coil is not None:
            self._writable.setdefault((unit, Function.COIL), set()).add(write.enable_coil)

    # --- model -> registers ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-encode every mapped point from the model."""
        for (key, address), slots in self._groups.items():
            words = self._encode_group(slots)
            table = self.tables[key]
            for i, word in enumerate(words):
                table[address + i] = word

    def _encode_group(self, slots: list[_Slot]) -> list[int]:
        first = slots[0]
        pmap = first.pmap
        values = [self.model.read(s.asset, s.point) for s in slots]
        if any(s.pmap.bit is not None for s in slots):
            raw_bits = 0
            for slot, value in zip(slots, values, strict=True):
                if slot.pmap.bit is not None and value:
                    raw_bits |= 1 << slot.pmap.bit
            return self._encode_raw(pmap, raw_bits)
        if any(s.pmap.true_values is not None or s.pmap.enum is not None for s in slots):
            if all(v is None for v in values):
                return self._not_available(pmap)
            return self._encode_raw(pmap, _pick_state(slots, values))
        value = values[0]
        if value is None:
            return self._not_available(pmap)
        if pmap.type is WireType.STRING or isinstance(value, str):
            return self._encode_raw(pmap, str(value))
        if isinstance(value, bool):
            return self._encode_raw(pmap, int(value))
        if not isinstance(value, int | float):
            return self._not_available(pmap)
        number = _share(first, float(value))
        raw = (number * pmap.sign - pmap.offset) / pmap.scale
        try:
            return self._encode_raw(pmap, raw)
        except CodecError:
            return self._not_available(pmap)

    def _encode_raw(self, pmap: PointMap, raw: float | int | str) -> list[int]:
        transport = self.profile.transport
        order = pmap.word_order or transport.word_order
        if pmap.type is WireType.STRING:
            return encode(str(raw), WireType.STRING, order, transport.byte_swap, pmap.length or 1)
        if isinstance(raw, str):
            raise CodecError(f"text {raw!r} for a numeric register")
        return encode(raw, pmap.type, order, transport.byte_swap)

    def _not_available(self, pmap: PointMap) -> list[int]:
        transport = self.profile.transport
        if pmap.type is WireType.STRING:
            return [0] * (pmap.length or 1)
        if pmap.type.is_float:
            return self._encode_raw(pmap, math.nan)
        pattern = NOT_AVAILABLE.get(pmap.type, 0) if transport.nan_sentinels else 0
        words = pmap.type.word_count
        plain = [(pattern >> (16 * (words - 1 - i))) & 0xFFFF for i in range(words)]
        if (pmap.word_order or transport.word_order) == "little":
            plain.reverse()
        return plain

    # --- Modbus requests ------------------------------------------------------------------------

    def read(self, unit: int, function: Function, address: int, count: int) -> list[int] | None:
        """Registers (or bits) ``address .. address + count - 1``; ``None`` = illegal address.

        Addresses inside a table's mapped span that no point uses read as 0; a request reaching
        outside the span is refused, as devices do.
        """
        table = self.tables.get((unit, function))
        if not table or count < 1:
            return None
        if address < min(table) or address + count - 1 > max(table):
            return None
        return [table.get(a, 0) for a in range(address, address + count)]

    def write(self, unit: int, function: Function, address: int, values: list[int]) -> WriteOutcome:
        """Apply a client's write (FC5/6/15/16) and pass changed setpoints to the model."""
        key = (unit, function)
        writable = self._writable.get(key, set())
        span = range(address, address + len(values))
        if not values or any(a not in writable for a in span):
            return WriteOutcome.ILLEGAL_ADDRESS
        table = self.tables.setdefault(key, {})
        previous = {a: table.get(a, 0) for a in span}
        for a, word in zip(span, values, strict=True):
            table[a] = int(word)
        touched = [
            w
            for w in self._writes
            if w.key == key
            and w.write.address < span.stop
            and w.write.address + w.words > span.start
        ]
        decoded: list[tuple[_WriteSlot, PointValue]] = []
        for slot in touched:
            value = self._decode_write(slot)
            if value is None:
                table.update(previous)
                return WriteOutcome.ILLEGAL_VALUE
            decoded.append((slot, value))
        for slot, value in decoded:
            if self._enabled(slot):
                try:
                    self.model.write(slot.asset, slot.point, value)
                except WriteRefused:
                    table.update(previous)
                    return WriteOutcome.REFUSED
        if function is Function.COIL:  # a pause through the setpoint's enable coil
            for slot in self._writes:
                coil = slot.write.enable_coil
                if coil is not None and slot.key[0] == unit and coil in span and not table[coil]:
                    self.model.write(slot.asset, slot.point, 0.0)
        if function is Function.HOLDING:  # a pause through the setpoint's off registers
            for slot in self._writes:
                off = slot.write.off_steps
                if (
                    off
                    and slot.key[0] == unit
                    and any(step.address in span for step in off)
                    and self._hold(slot, off)
                ):
                    self.model.write(slot.asset, slot.point, 0.0)
        return WriteOutcome.OK

    def _decode_write(self, slot: _WriteSlot) -> PointValue:
        table = self.tables[slot.key]
        write, pmap = slot.write, slot.pmap
        if write.function == "coil":
            return bool(table.get(write.address, 0))
        words = [table.get(write.address + i, 0) for i in range(slot.words)]
        order = pmap.word_order or self.profile.transport.word_order
        raw = decode(words, write.type, order, self.profile.transport.byte_swap)
        if isinstance(raw, str) or (isinstance(raw, float) and not math.isfinite(raw)):
            return None
        if pmap.enum is not None:
            return next((m for r, m in pmap.enum.items() if r == raw), None)
        if write.percent_of is not None:
            percent = raw * write.scale
            reference = self.model.read(slot.asset, write.percent_of)
            if not 0 <= percent <= 100 + _TOLERANCE or not isinstance(reference, int | float):
                return None
            return percent / 100.0 * float(reference)
        value = (raw * write.scale + pmap.offset) * pmap.sign
        return value if _within(value, write) else None

    def _enabled(self, slot: _WriteSlot) -> bool:
        return self._hold(slot, slot.write.before)

    def _hold(self, slot: _WriteSlot, steps: tuple[WriteStep, ...]) -> bool:
        """Every register of ``steps`` holds the step's value."""
        table = self.tables.get((slot.key[0], Function.HOLDING), {})
        order = slot.pmap.word_order or self.profile.transport.word_order
        for step in steps:
            words = [table.get(step.address + i, 0) for i in range(step.type.word_count)]
            held = decode(words, step.type, order, self.profile.transport.byte_swap)
            if isinstance(held, str) or not math.isclose(held, step.value, abs_tol=_TOLERANCE):
                return False
        return True


def _share(slot: _Slot, value: float) -> float:
    """The part of ``value`` (model units) the slot's register carries (see the module notes)."""
    if slot.parts == 1:
        return value
    pmap = slot.pmap
    share = value / slot.parts
    if pmap.type.is_float:
        return share
    raw_share = math.floor((share * pmap.sign - pmap.offset) / pmap.scale + _TOLERANCE)
    other = (raw_share * pmap.scale + pmap.offset) * pmap.sign
    return other if slot.part > 0 else value - other * (slot.parts - 1)


def _within(value: float, write: WriteSpec) -> bool:
    """The device accepts ``value`` (model units) under its limits."""
    if write.zero_means_off and abs(value) <= _TOLERANCE:
        return True
    if write.min is not None and value < write.min - _TOLERANCE:
        return False
    return not (write.max is not None and value > write.max + _TOLERANCE)


def _decodes_to(pmap: PointMap, raw: int | str) -> PointValue:
    """What the profile makes of ``raw`` for a boolean or enumerated point."""
    if pmap.true_values is not None:
        return any(_same(candidate, raw) for candidate in pmap.true_values)
    if pmap.enum is not None:
        return next((m for r, m in pmap.enum.items() if _same(r, raw)), None)
    return raw


def _same(candidate: int | str, raw: int | str) -> bool:
    if isinstance(candidate, str) or isinstance(raw, str):
        return str(candidate) == str(raw)
    return candidate == raw


def _wanted(slot: _Slot, value: PointValue) -> PointValue:
    if slot.pmap.true_values is not None:
        return bool(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _pick_state(slots: list[_Slot], values: list[PointValue]) -> int | str:
    """One raw value that every point of a shared register decodes to the model's value."""
    text = slots[0].pmap.type is WireType.STRING
    candidates: list[int | str] = []
    for slot in slots:
        keys: Iterable[int | str] = slot.pmap.true_values or ()
        if slot.pmap.enum is not None:
            keys = [*keys, *slot.pmap.enum]
        candidates += [k for k in keys if k not in candidates]
    for slot in slots:
        idle = slot.pmap.false_value
        if idle is not None and idle not in candidates:
            candidates.append(idle)
    candidates.append("" if text else 0)
    wanted = [_wanted(s, v) for s, v in zip(slots, values, strict=True)]
    for candidate in candidates:
        decoded = [_decodes_to(s.pmap, candidate) for s in slots]
        if all(w is None or d == w for d, w in zip(decoded, wanted, strict=True)):
            return candidate
    return candidates[0]
