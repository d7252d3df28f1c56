"""Point specifications: one named value of an asset with unit, sign, range and access."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .units import Unit


class DataType(Enum):
    """OPC UA built-in data type of a point (the enum value is the type's BrowseName)."""

    DOUBLE = "Double"
    BOOLEAN = "Boolean"
    INT32 = "Int32"
    UINT32 = "UInt32"
    STRING = "String"
    DATETIME = "DateTime"


class Access(Enum):
    READ = "read"
    """Measured or reported by the device; clients read it."""
    READ_WRITE = "read_write"
    """A setpoint or mode: clients and control write it; its driver sends it to the device."""


class ValueKind(Enum):
    """What kind of quantity a point is; drives OPC UA typing and recording defaults."""

    ANALOG = "analog"
    """A continuously varying value (power, current, temperature): AnalogItemType."""
    COUNTER = "counter"
    """A monotonically increasing total (energy, volume): AnalogItemType, always recorded."""
    SETPOINT = "setpoint"
    """A writable analog target: AnalogItemType with a writable value."""
    DISCRETE = "discrete"
    """A boolean state: TwoStateDiscreteType."""
    ENUM = "enum"
    """One of named integer states: MultiStateValueDiscreteType with EnumValues."""
    INFO = "info"
    """Text or a plain number without engineering meaning: BaseDataVariableType."""


@dataclass(frozen=True, slots=True)
class PointSpec:
    """One point of an asset kind.

    Attributes:
        name: the BrowseName, also the last part of the NodeId (``<asset-id>.<name>``).
        kind: what kind of quantity it is.
        data_type: the OPC UA data type.
        description: what it is, including its sign convention where it has one.
        unit: engineering unit for analog values and counters.
        value_range: the EURange ``(low, high)`` a sensible device stays inside; for setpoints the
            writable range (a profile may narrow it to the device's own limits).
        access: read, or read and write.
        enum_values: for ENUM points, ``value -> display name``.
        true_label / false_label: for DISCRETE points, the TrueState / FalseState texts.
    """

    name: str
    kind: ValueKind
    data_type: DataType
    description: str
    unit: Unit | None = None
    value_range: tuple[float, float] | None = None
    access: Access = Access.READ
    enum_values: dict[int, str] = field(default_factory=dict)
    true_label: str = "True"
    false_label: str = "False"

    @property
    def writable(self) -> bool:
        return self.access is Access.READ_WRITE

    @property
    def is_analog(self) -> bool:
        return self.kind in (ValueKind.ANALOG, ValueKind.COUNTER, ValueKind.SETPOINT)
