"""Discovery: find the "SunS" marker and walk the model chain of one unit id."""

from __future__ import annotations

from dataclasses import dataclass

from ampacity.drivers.modbus.transport import ModbusExceptionResponse, ModbusIOError, ModbusLink

from .models import END_MODEL_ID, SUNS_MARKER, UnknownModelError, model_def

BASE_ADDRESSES = (40000, 0, 50000)
"""Where the SunSpec specification allows the map to start, in the order they are tried."""

MAX_MODELS = 64
"""A chain longer than this is taken as garbage (a device without an end marker)."""


class DiscoveryError(Exception):
    """The unit has no SunSpec map, or its chain is malformed; the message says where."""


class NoSunSpecError(DiscoveryError):
    """The unit answered, but there is no "SunS" marker at any base address."""


@dataclass(frozen=True, slots=True)
class ModelInstance:
    """One model in a device's chain.

    Attributes:
        model_id: SunSpec model id.
        address: protocol address of its ``ID`` register.
        length: ``L``, registers of the body (after ``ID`` and ``L``).
        unit_id: the unit id whose chain it belongs to.
    """

    model_id: int
    address: int
    length: int
    unit_id: int = 0

    @property
    def end(self) -> int:
        """The address after the last register of the instance."""
        return self.address + 2 + self.length

    @property
    def known(self) -> bool:
        """pysunspec2 has a definition of the model."""
        try:
            model_def(self.model_id)
        except UnknownModelError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Chain:
    """The model chain of one unit id."""

    unit_id: int
    base: int
    models: tuple[ModelInstance, ...]

    @property
    def signature(self) -> tuple[tuple[int, int, int], ...]:
        """What identifies the layout: (id, address, length) of every model."""
        return tuple((m.model_id, m.address, m.length) for m in self.models)

    def ids(self) -> tuple[int, ...]:
        return tuple(m.model_id for m in self.models)


async def find_base(link: ModbusLink, unit_id: int, bases: tuple[int, ...] = BASE_ADDRESSES) -> int:
    """The base address holding "SunS" on ``unit_id``.

    Raises:
        NoSunSpecError: every base answered, none holds the marker (or refused the read).
        ModbusIOError: the device did not answer at all.
    """
    refused: list[str] = []
    for base in bases:
        try:
            words = await link.read_holding_registers(unit_id, base, 2)
        except ModbusExceptionResponse as exc:
            refused.append(f"{base}: exception {exc.code}")
            continue
        if tuple(words[:2]) == SUNS_MARKER:
            return base
        refused.append(f"{base}: {words[:2]!r}")
    raise NoSunSpecError(f"{link.endpoint} unit {unit_id}: no 'SunS' marker ({'; '.join(refused)})")


async def walk_chain(link: ModbusLink, unit_id: int, base: int) -> Chain:
    """Read every model header from ``base + 2`` to the end marker.

    A device that ends its chain without the end marker (an exception response, or ``ID`` 0)
    is accepted as ending there.

    Raises:
        DiscoveryError: the chain loops or never ends.
        ModbusIOError: the device stopped answering.
    """
    models: list[ModelInstance] = []
    address = base + 2
    for _ in range(MAX_MODELS):
        try:
            model_id, length = await link.read_holding_registers(unit_id, address, 2)
        except ModbusExceptionResponse:
            if models:
                break
            raise
        if model_id in (END_MODEL_ID, 0):
            break
        models.append(ModelInstance(model_id, address, length, unit_id))
        address += 2 + length
        if address > 0xFFFF:
            raise DiscoveryError(
                f"{link.endpoint} unit {unit_id}: model {model_id} runs past the address space"
            )
    else:
        raise DiscoveryError(
            f"{link.endpoint} unit {unit_id}: no end marker after {MAX_MODELS} models"
        )
    return Chain(unit_id, base, tuple(models))


async def discover_chain(
    link: ModbusLink, unit_id: int, bases: tuple[int, ...] = BASE_ADDRESSES
) -> Chain:
    """``find_base`` then ``walk_chain``."""
    base = await find_base(link, unit_id, bases)
    return await walk_chain(link, unit_id, base)


__all__ = [
    "BASE_ADDRESSES",
    "Chain",
    "DiscoveryError",
    "ModbusIOError",
    "ModelInstance",
    "NoSunSpecError",
    "discover_chain",
    "find_base",
    "walk_chain",
]
