"""The vocabulary of the site: asset kinds, their points, units, quality, readings.

This package imports nothing else of Ampacity; everything else imports it.
"""

from .kinds import (
    DEVICE_KINDS,
    HEALTH_POINTS,
    IDENTIFICATION_POINTS,
    SPECS,
    AssetKind,
    AssetSpec,
    spec_for,
)
from .points import Access, DataType, PointSpec, ValueKind
from .quality import Quality
from .readings import (
    OutOfRangeError,
    PointValue,
    Reading,
    ReadingSink,
    WriteError,
    WriteResult,
)
from .units import Unit

__all__ = [
    "DEVICE_KINDS",
    "HEALTH_POINTS",
    "IDENTIFICATION_POINTS",
    "SPECS",
    "Access",
    "AssetKind",
    "AssetSpec",
    "DataType",
    "OutOfRangeError",
    "PointSpec",
    "PointValue",
    "Quality",
    "Reading",
    "ReadingSink",
    "Unit",
    "ValueKind",
    "WriteError",
    "WriteResult",
    "spec_for",
]
