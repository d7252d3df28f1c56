"""Helpers of the SunSpec tests (an in-memory ModbusLink, register images, a collecting sink),
and the few tests of the helpers themselves.

Other ``test_sunspec_*`` modules import this one by name (pytest puts the test folder on the path).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from ampacity.assets import Reading
from ampacity.drivers.codec import WireType, encode
from ampacity.drivers.modbus.transport import ModbusExceptionResponse, ModbusIOError
from ampacity.drivers.sunspec.driver import SunSpecDriver
from ampacity.drivers.sunspec.models import layout_of
from ampacity.sim.sunspec import ModelSpec, layout_chain


class MemoryLink:
    """A ``ModbusLink`` over dicts of registers per unit id.

    A missing address answers exception 2 (illegal data address); a unit id without registers,
    or any request while ``silent``, raises ``ModbusIOError`` (as a timeout would).
    """

    def __init__(self, units: dict[int, dict[int, int]]) -> None:
        self.units = units
        self.silent = False
        self.reads: list[tuple[int, int, int]] = []
        self.writes: list[tuple[int, int, list[int]]] = []

    @property
    def endpoint(self) -> str:
        return "memory"

    def _regs(self, unit_id: int) -> dict[int, int]:
        regs = self.units.get(unit_id)
        if self.silent or regs is None:
            raise ModbusIOError(f"memory unit {unit_id}: no answer")
        return regs

    async def read_holding_registers(self, unit_id: int, address: int, count: int) -> list[int]:
        regs = self._regs(unit_id)
        self.reads.append((unit_id, address, count))
        if any(a not in regs for a in range(address, address + count)):
            raise ModbusExceptionResponse(f"memory unit {unit_id} at {address}: exception 2", 2)
        return [regs[a] for a in range(address, address + count)]

    async def read_input_registers(self, unit_id: int, address: int, count: int) -> list[int]:
        return await self.read_holding_registers(unit_id, address, count)

    async def read_coils(self, unit_id: int, address: int, count: int) -> list[bool]:
        raise ModbusExceptionResponse("memory: coils not supported", 1)

    async def read_discrete_inputs(self, unit_id: int, address: int, count: int) -> list[bool]:
        raise ModbusExceptionResponse("memory: discrete inputs not supported", 1)

    async def write_registers(self, unit_id: int, address: int, values: list[int]) -> None:
        regs = self._regs(unit_id)
        if any(a not in regs for a in range(address, address + len(values))):
            raise ModbusExceptionResponse(f"memory unit {unit_id} at {address}: exception 2", 2)
        self.writes.append((unit_id, address, list(values)))
        for i, value in enumerate(values):
            regs[address + i] = value

    async def write_register(self, unit_id: int, address: int, value: int) -> None:
        await self.write_registers(unit_id, address, [value])

    async def write_coil(self, unit_id: int, address: int, value: bool) -> None:
        raise ModbusExceptionResponse("memory: coils not supported", 1)


class Chain:
    """A register image of one unit's SunSpec map, built from pysunspec2's model definitions."""

    def __init__(self, models: Sequence[ModelSpec], base: int = 40000) -> None:
        words, self.where = layout_chain(models, base)
        self.regs = {base + i: w for i, w in enumerate(words)}

    def address(self, model_id: int, name: str) -> int:
        start, length = self.where[model_id]
        return start + layout_of(model_id, length)[name].offset

    def put(self, model_id: int, name: str, value: float | str | list[int]) -> None:
        """Set a point: a list is raw words; a number/str is encoded with the point's wire type
        (no scale factor: give raw integers)."""
        start, length = self.where[model_id]
        point = layout_of(model_id, length)[name]
        if isinstance(value, list):
            words = value
        elif point.wire_type is WireType.STRING:
            words = encode(str(value), WireType.STRING, string_words=point.size)
        else:
            words = encode(value, point.wire_type)
        for i, word in enumerate(words):
            self.regs[start + point.offset + i] = word

    def get(self, model_id: int, name: str) -> list[int]:
        start, length = self.where[model_id]
        point = layout_of(model_id, length)[name]
        at = start + point.offset
        return [self.regs[at + i] for i in range(point.size)]


class Sink:
    """Collects published readings; ``latest`` keeps the newest per node key."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.latest: dict[str, Reading] = {}

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)
        for reading in readings:
            self.latest[reading.node_key] = reading


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` every 10 ms until it holds."""
    async with asyncio.timeout(timeout_s):
        for _ in iter(condition, True):  # calls condition() until it returns True
            await asyncio.sleep(0.01)


async def poll_once(driver: SunSpecDriver, key: str, timeout_s: float = 5.0) -> Sink:
    """Run the driver until the node ``key`` has been published, then stop it."""
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await wait_for(lambda: key in sink.latest, timeout_s)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return sink


async def test_memory_link_answers_exception_2_outside_the_map() -> None:
    link = MemoryLink({1: {40000: 0x5375, 40001: 0x6E53}})
    assert await link.read_holding_registers(1, 40000, 2) == [0x5375, 0x6E53]
    with pytest.raises(ModbusExceptionResponse) as info:
        await link.read_holding_registers(1, 40001, 2)
    assert info.value.code == 2
    with pytest.raises(ModbusIOError):
        await link.read_holding_registers(2, 40000, 2)


def test_chain_image_starts_with_suns_and_ends_with_the_end_marker() -> None:
    chain = Chain([1, 103])
    assert [chain.regs[40000], chain.regs[40001]] == [0x5375, 0x6E53]
    assert chain.where == {1: (40002, 66), 103: (40070, 50)}
    assert [chain.regs[40122], chain.regs[40123]] == [0xFFFF, 0]
