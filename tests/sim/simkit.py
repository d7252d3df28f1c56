"""Test helpers: serve a profile from a model, read points back with a plain pymodbus client and
decode them with ``drivers.codec`` exactly as the profile says (independently of the engine)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ampacity.assets import SPECS, DataType, PointValue
from ampacity.drivers.codec import NOT_AVAILABLE, WireType, decode, raw_bits
from ampacity.drivers.profile import AssetMap, Function, PointMap, Profile
from ampacity.sim import SimServer, SimulatedDevice, StaticModel
from pymodbus.client import AsyncModbusTcpClient


@dataclass(frozen=True)
class Mapped:
    """One readable point of a profile."""

    asset: AssetMap
    name: str
    """Model point name or ``Identification.<name>``."""
    pmap: PointMap
    unit: int
    function: Function


def readable_points(profile: Profile) -> list[Mapped]:
    found = []
    for asset in profile.assets:
        items = [*asset.points.items()]
        items += [(f"Identification.{n}", p) for n, p in asset.identification.items()]
        for name, pmap in items:
            if pmap.address is None:
                continue
            unit = pmap.unit_id or asset.unit_id or profile.transport.unit_id
            function = pmap.function or profile.transport.default_function
            found.append(Mapped(asset, name, pmap, unit, function))
    return found


def _is_sentinel(pmap: PointMap, profile: Profile, value: float | str, pattern: int) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return True
    if pattern in pmap.sentinels or value in pmap.sentinels:
        return True
    return profile.transport.nan_sentinels and NOT_AVAILABLE.get(pmap.type) == pattern


def decode_words(profile: Profile, pmap: PointMap, words: list[int]) -> PointValue:
    """Registers -> model value per the profile (``None`` for a sentinel)."""
    order = pmap.word_order or profile.transport.word_order
    swap = profile.transport.byte_swap
    value = decode(words, pmap.type, order, swap)
    if isinstance(value, str):
        if pmap.true_values is not None:
            return value in pmap.true_values
        if pmap.enum is not None:
            return pmap.enum.get(value)
        return value
    pattern = raw_bits(words, order, swap)
    if _is_sentinel(pmap, profile, value, pattern):
        return None
    if pmap.bit is not None:
        value = (pattern >> pmap.bit) & 1
    if pmap.true_values is not None:
        return value in pmap.true_values
    if pmap.enum is not None:
        return pmap.enum.get(int(value))
    return (value * pmap.scale + pmap.offset) * pmap.sign


async def read_point(client: AsyncModbusTcpClient, profile: Profile, point: Mapped) -> PointValue:
    """Read and decode one point (summing ``add_addresses`` parts, sentinel parts as 0)."""
    total: PointValue = None
    for address in (point.pmap.address, *point.pmap.add_addresses):
        assert address is not None
        reader = (
            client.read_input_registers
            if point.function is Function.INPUT
            else client.read_holding_registers
        )
        response = await reader(address, count=point.pmap.word_count, device_id=point.unit)
        assert not response.isError(), f"{point.name}: {response}"
        part = decode_words(profile, point.pmap, list(response.registers))
        if not point.pmap.add_addresses:
            return part
        if isinstance(part, int | float) and not isinstance(part, bool):
            total = (total or 0.0) + part  # type: ignore[operator]
    return total


def sample_value(profile: Profile, point: Mapped, index: int) -> PointValue:
    """A value the profile can carry exactly, negative where the register and model allow."""
    pmap = point.pmap
    if point.name.startswith("Identification."):
        # the same for every asset: the Alfen sockets share the station's identification
        short = point.name.split(".", 1)[1][:3]
        return f"SIM{short}" if pmap.type is WireType.STRING else 3000000000 + len(short)
    spec = SPECS[point.asset.kind].point(point.name)
    if pmap.true_values is not None or spec.data_type is DataType.BOOLEAN:
        return index % 2 == 0
    if pmap.enum is not None:
        return sorted(set(pmap.enum.values()))[index % len(set(pmap.enum.values()))]
    signed = pmap.type in (WireType.S16, WireType.S32, WireType.S64, WireType.F32, WireType.F64)
    low = spec.value_range[0] if spec.value_range else 0.0
    negative = signed and low < 0 and index % 3 == 0
    raw: float = 1234.5 if pmap.type.is_float else 1234 + index
    if pmap.type is WireType.F64:
        raw = 12_345_678.25
    if pmap.type is WireType.U16 and spec.value_range and spec.value_range[1] < 1000:
        raw = min(raw, spec.value_range[1] / pmap.scale)  # e.g. 3 phases
    if pmap.add_addresses:
        raw = 2 * round(raw)  # split evenly over the parts
    value = (raw * pmap.scale + pmap.offset) * pmap.sign
    if spec.value_range and not spec.value_range[0] <= value <= spec.value_range[1]:
        value = spec.value_range[1]
    return -value if negative else value


def sample_model(profile: Profile) -> StaticModel:
    """Every readable point of ``profile`` with a sample value; shared registers agree."""
    model = StaticModel()
    for i, point in enumerate(readable_points(profile)):
        model.values[(point.asset.key, point.name)] = sample_value(profile, point, i)
    for asset in profile.assets:  # a charging state can be "charging" only with a vehicle
        if model.values.get((asset.key, "Charging")):
            model.values[(asset.key, "VehicleConnected")] = True
    return model


@asynccontextmanager
async def serving(
    profile: Profile, model: StaticModel, unit_id: int | None = None
) -> AsyncIterator[tuple[SimulatedDevice, AsyncModbusTcpClient]]:
    """A simulated device on a free loopback port and a connected plain pymodbus client."""
    device = SimulatedDevice(profile, model, unit_id=unit_id)
    server = SimServer([device])
    host, port = await server.start_tcp()
    client = AsyncModbusTcpClient(host, port=port, timeout=0.5, retries=0, reconnect_delay=0)
    await client.connect()
    try:
        yield device, client
    finally:
        client.close()
        await server.stop()
