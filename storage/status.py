"""OPC UA StatusCodes the historian stores and returns (OPC UA Part 4 §7.39, Part 11, Part 13).

Stored samples keep the node's 32-bit StatusCode. Processed values carry the historian info bits:
InfoType ``DataValue`` (bit 10) plus ``Calculated``/``Interpolated`` (bits 0–1) and ``Partial``
(bit 2) — a ``Good`` average over a partial interval is ``0x00000405``.
"""

from __future__ import annotations

GOOD = 0x00000000
GOOD_NO_DATA = 0x00A50000
GOOD_MORE_DATA = 0x00A60000
UNCERTAIN_DATA_SUB_NORMAL = 0x40A40000
BAD_NO_DATA = 0x809B0000
BAD_BOUND_NOT_FOUND = 0x80D70000

UNCERTAIN_MIN = 0x40000000
"""Status codes at or above this are Uncertain (bit 30) or Bad (bit 31)."""
BAD_MIN = 0x80000000

INFO_TYPE_DATA_VALUE = 0x00000400
CALCULATED = 0x00000001
INTERPOLATED = 0x00000002
PARTIAL = 0x00000004
STATUS_MASK = 0xFFFF0000
"""The code part (severity, sub-code) without info bits."""


def is_good(status: int) -> bool:
    return status < UNCERTAIN_MIN


def is_bad(status: int) -> bool:
    return status >= BAD_MIN


def calculated(code: int, partial: bool = False) -> int:
    """``code`` marked as a calculated aggregate value, ``Partial`` when the interval is."""
    return (code & STATUS_MASK) | INFO_TYPE_DATA_VALUE | CALCULATED | (PARTIAL if partial else 0)


def interpolated(code: int, partial: bool = False) -> int:
    """``code`` marked as an interpolated value."""
    return (code & STATUS_MASK) | INFO_TYPE_DATA_VALUE | INTERPOLATED | (PARTIAL if partial else 0)


def has_partial(status: int) -> bool:
    return bool(status & INFO_TYPE_DATA_VALUE) and bool(status & PARTIAL)
