"""SunSpec model definitions, taken from pysunspec2's JSON models (no hand-written register tables).

A model instance on the wire is ``ID`` (U16), ``L`` (U16, length of the body), then ``L`` registers.
Point offsets below count from the ``ID`` register (offset 0), as in the SunSpec model JSON.
Repeating groups (e.g. the modules of model 160) follow the fixed part; their count is whatever
fits into ``L``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from ampacity.drivers.codec import WireType

END_MODEL_ID = 0xFFFF
"""ID of the end marker of a model chain (its ``L`` is 0)."""

SUNS_MARKER = (0x5375, 0x6E53)
"""The two registers "SunS" that start a SunSpec map."""

_WORDS = {
    "int16": 1, "uint16": 1, "count": 1, "acc16": 1, "enum16": 1, "bitfield16": 1, "pad": 1,
    "sunssf": 1, "int32": 2, "uint32": 2, "acc32": 2, "enum32": 2, "bitfield32": 2, "ipaddr": 2,
    "float32": 2, "int64": 4, "uint64": 4, "acc64": 4, "float64": 4, "eui48": 4, "ipv6addr": 8,
}  # fmt: skip

_WIRE = {
    "int16": WireType.S16, "sunssf": WireType.S16, "uint16": WireType.U16, "count": WireType.U16,
    "acc16": WireType.U16, "enum16": WireType.U16, "bitfield16": WireType.U16, "pad": WireType.U16,
    "int32": WireType.S32, "uint32": WireType.U32, "acc32": WireType.U32, "enum32": WireType.U32,
    "bitfield32": WireType.U32, "ipaddr": WireType.U32, "float32": WireType.F32,
    "int64": WireType.S64, "uint64": WireType.U64, "acc64": WireType.U64, "float64": WireType.F64,
    "string": WireType.STRING,
}  # fmt: skip


class UnknownModelError(KeyError):
    """pysunspec2 ships no definition for this model id."""


@dataclass(frozen=True, slots=True)
class PointDef:
    """One point of a model.

    Attributes:
        name: SunSpec point name (``W``, ``WMaxLimPct``); in a repeating group
            ``<group>[<n>].<name>`` with ``n`` from 1.
        offset: registers from the model's ``ID`` register.
        type: SunSpec type name (``int16``, ``acc32``, ``float32``, ``sunssf``, ``string`` ...).
        size: registers it occupies.
        sf: name of its scale-factor point, if any (an integer SF is stored as ``str(int)``).
        units: SunSpec unit text (``W``, ``Wh``, ``% WMax``), informative.
        mandatory: the model marks it mandatory.
        writable: access ``RW``.
    """

    name: str
    offset: int
    type: str
    size: int
    sf: str | None = None
    units: str | None = None
    mandatory: bool = False
    writable: bool = False

    @property
    def wire_type(self) -> WireType:
        return _WIRE.get(self.type, WireType.U16)


@dataclass(frozen=True, slots=True)
class ModelDef:
    """A model's fixed part and its optional repeating group.

    Attributes:
        model_id: the SunSpec model id.
        name: the model's group name (``inverter_three_phase``).
        points: fixed points by name.
        fixed_len: registers of the fixed part including ``ID`` and ``L``.
        group_name: name of the repeating group, if the model has one.
        group_points: the group's points with offsets relative to the group's start.
        group_len: registers per group instance.
    """

    model_id: int
    name: str
    points: dict[str, PointDef]
    fixed_len: int
    group_name: str | None = None
    group_points: tuple[PointDef, ...] = ()
    group_len: int = 0

    @property
    def default_length(self) -> int:
        """``L`` of the model without repeating groups, as the specification defines it."""
        return self.fixed_len - 2

    def repeat_count(self, length: int) -> int:
        """How many repeating-group instances fit a model body of ``length`` registers."""
        if not self.group_len:
            return 0
        return max(0, (length + 2 - self.fixed_len) // self.group_len)

    def layout(self, length: int) -> dict[str, PointDef]:
        """Every point of an instance with body length ``length``, repeating groups unrolled.

        Points that do not fit into ``2 + length`` registers (a device with a shorter,
        older revision of the model) are left out.
        """
        end = 2 + length
        result = {n: p for n, p in self.points.items() if p.offset + p.size <= end}
        for index in range(self.repeat_count(length)):
            start = self.fixed_len + index * self.group_len
            for point in self.group_points:
                name = f"{self.group_name}[{index + 1}].{point.name}"
                result[name] = replace(point, name=name, offset=start + point.offset)
        return result


def _points(raw: list[dict[str, Any]], start: int) -> tuple[list[PointDef], int]:
    points: list[PointDef] = []
    offset = start
    for item in raw:
        kind = str(item["type"])
        size = int(item.get("size") or _WORDS.get(kind, 1)) if kind == "string" else _WORDS[kind]
        sf = item.get("sf")
        points.append(
            PointDef(
                name=str(item["name"]),
                offset=offset,
                type=kind,
                size=size,
                sf=None if sf is None else str(sf),
                units=item.get("units"),
                mandatory=item.get("mandatory") == "M",
                writable=item.get("access") == "RW",
            )
        )
        offset += size
    return points, offset


def _from_json(data: dict[str, Any]) -> ModelDef:
    group = data["group"]
    fixed, fixed_len = _points(group["points"], 0)
    sub = group.get("groups") or []
    group_name = None
    group_points: list[PointDef] = []
    group_len = 0
    if sub:
        # The models Ampacity maps have at most one repeating group (160: "module").
        group_name = str(sub[0]["name"])
        group_points, group_len = _points(sub[0]["points"], 0)
    return ModelDef(
        model_id=int(data["id"]),
        name=str(group["name"]),
        points={p.name: p for p in fixed},
        fixed_len=fixed_len,
        group_name=group_name,
        group_points=tuple(group_points),
        group_len=group_len,
    )


@cache
def layout_of(model_id: int, length: int) -> dict[str, PointDef]:
    """``model_def(model_id).layout(length)``, cached; treat the result as read-only."""
    return model_def(model_id).layout(length)


@cache
def model_def(model_id: int) -> ModelDef:
    """The definition of a model, read from pysunspec2's ``models/json/model_<id>.json``.

    Raises:
        UnknownModelError: pysunspec2 has no such model.
    """
    path = resources.files("sunspec2").joinpath("models", "json", f"model_{model_id}.json")
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise UnknownModelError(model_id) from exc
    return _from_json(json.loads(text))
