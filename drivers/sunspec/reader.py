"""Reading model instances of one unit with as few requests as possible."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ampacity.drivers.modbus.transport import ModbusLink

from .chain import ModelInstance
from .decode import ModelBlock
from .models import layout_of

MAX_READ = 125
"""Largest FC3 read (Modbus limit)."""


def read_groups(instances: Iterable[ModelInstance]) -> list[list[ModelInstance]]:
    """Group instances so each group spans at most ``MAX_READ`` registers (a model longer than
    that is a group of its own and is read in pieces)."""
    groups: list[list[ModelInstance]] = []
    for instance in sorted(set(instances), key=lambda m: m.address):
        if groups and instance.end - groups[-1][0].address <= MAX_READ:
            groups[-1].append(instance)
        else:
            groups.append([instance])
    return groups


async def read_span(
    link: ModbusLink, unit_id: int, address: int, count: int, timeout_s: float
) -> list[int]:
    """``count`` holding registers from ``address``, in reads of at most ``MAX_READ``."""
    words: list[int] = []
    while len(words) < count:
        size = min(MAX_READ, count - len(words))
        async with asyncio.timeout(timeout_s):
            part = await link.read_holding_registers(unit_id, address + len(words), size)
        words.extend(part)
    return words


async def read_blocks(
    link: ModbusLink, unit_id: int, instances: Iterable[ModelInstance], timeout_s: float
) -> dict[ModelInstance, ModelBlock]:
    """Read the instances (header included, so scale factors come with their values) and decode
    them lazily.

    Raises:
        ModbusIOError: a request failed.
        TimeoutError: a request took longer than ``timeout_s``.
    """
    blocks: dict[ModelInstance, ModelBlock] = {}
    for group in read_groups(instances):
        start = group[0].address
        end = max(m.end for m in group)
        words = await read_span(link, unit_id, start, end - start, timeout_s)
        for instance in group:
            body = words[instance.address - start : instance.end - start]
            blocks[instance] = ModelBlock(layout_of(instance.model_id, instance.length), body)
    return blocks
