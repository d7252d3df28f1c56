"""Variant conversion between model values and OPC UA values."""

from __future__ import annotations

from datetime import datetime

from ampacity.assets import DataType, PointValue
from asyncua import ua

VARIANT_TYPES: dict[DataType, ua.VariantType] = {
    DataType.DOUBLE: ua.VariantType.Double,
    DataType.BOOLEAN: ua.VariantType.Boolean,
    DataType.INT32: ua.VariantType.Int32,
    DataType.UINT32: ua.VariantType.UInt32,
    DataType.STRING: ua.VariantType.String,
    DataType.DATETIME: ua.VariantType.DateTime,
}

DATA_TYPE_IDS: dict[DataType, int] = {
    DataType.DOUBLE: ua.ObjectIds.Double,
    DataType.BOOLEAN: ua.ObjectIds.Boolean,
    DataType.INT32: ua.ObjectIds.Int32,
    DataType.UINT32: ua.ObjectIds.UInt32,
    DataType.STRING: ua.ObjectIds.String,
    DataType.DATETIME: ua.ObjectIds.DateTime,
}


def to_variant(value: PointValue, data_type: DataType) -> ua.Variant:
    """A model value as a Variant of the point's type (``None`` -> a Null variant)."""
    vtype = VARIANT_TYPES[data_type]
    if value is None:
        return ua.Variant(None, ua.VariantType.Null)
    if data_type is DataType.DOUBLE:
        return ua.Variant(float(value), vtype)  # type: ignore[arg-type]
    if data_type in (DataType.INT32, DataType.UINT32):
        return ua.Variant(int(value), vtype)  # type: ignore[arg-type]
    if data_type is DataType.BOOLEAN:
        return ua.Variant(bool(value), vtype)
    if data_type is DataType.DATETIME:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {value!r}")
        return ua.Variant(value, vtype)
    return ua.Variant(str(value), vtype)


def from_variant(variant: ua.Variant, data_type: DataType) -> PointValue:
    """A client-written Variant as a model value.

    Raises:
        TypeError: the variant does not fit the point's type (-> BadTypeMismatch).
    """
    value = variant.Value
    if data_type is DataType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {variant.VariantType.name}")
        return float(value)
    if data_type in (DataType.INT32, DataType.UINT32):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TypeError(f"expected an integer, got {variant.VariantType.name}")
        return value
    if data_type is DataType.BOOLEAN:
        if not isinstance(value, bool):
            raise TypeError(f"expected a boolean, got {variant.VariantType.name}")
        return value
    if data_type is DataType.STRING:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {variant.VariantType.name}")
        return value
    if not isinstance(value, datetime):
        raise TypeError(f"expected a DateTime, got {variant.VariantType.name}")
    return value
