"""What the store knows about a recorded point."""

from __future__ import annotations

from dataclasses import dataclass

from ampacity.assets import DataType, PointSpec, ValueKind

STEPPED_KINDS = (ValueKind.SETPOINT, ValueKind.DISCRETE, ValueKind.ENUM, ValueKind.INFO)
"""Kinds whose value holds until the next sample (OPC UA ``Stepped``); analog values and
counters are interpolated linearly between samples."""


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """A series' metadata (the ``series`` table row without its id).

    Attributes:
        key: NodeId string ``<asset-id>.<Point>``.
        kind: ``ValueKind`` value (``analog``, ``counter`` ...), ``None`` if never registered.
        data_type: ``DataType`` value (``Double``, ``Boolean`` ...).
        unit: unit symbol.
        stepped: values hold until the next sample (no interpolation).
    """

    key: str
    kind: str | None = None
    data_type: str | None = None
    unit: str | None = None
    description: str | None = None
    stepped: bool = False

    @classmethod
    def from_spec(cls, key: str, spec: PointSpec) -> SeriesInfo:
        return cls(
            key,
            spec.kind.value,
            spec.data_type.value,
            spec.unit.symbol if spec.unit else None,
            spec.description,
            spec.kind in STEPPED_KINDS or spec.data_type in (DataType.BOOLEAN, DataType.STRING),
        )

    @property
    def numeric(self) -> bool:
        return self.data_type not in (DataType.STRING.value, DataType.DATETIME.value)

    def row(self) -> dict[str, object]:
        return {
            "key": self.key,
            "kind": self.kind,
            "data_type": self.data_type,
            "unit": self.unit,
            "description": self.description,
            "stepped": self.stepped,
        }
