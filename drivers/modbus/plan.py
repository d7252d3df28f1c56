"""Read planning: coalesce the points that are due into as few requests as the device allows.

Points are grouped per (unit id, function) and sorted by address; neighbours are merged into one
block while the block stays within the request limit and the unused registers between two points
stay within ``max_gap``. A block the device refuses with "illegal data address" is split where it
is weakest (its widest gap, else its middle); the split is remembered as a *break* so later plans
never span it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ampacity.drivers.profile import Function

from .link import MAX_READ_BITS, MAX_READ_REGISTERS


@dataclass(frozen=True, slots=True, order=True)
class PointRef:
    """One point of one asset of a device: ``("ev1", "ActivePower")`` or
    ``("ev1", "Identification.SerialNumber")``."""

    asset: str
    point: str

    def __str__(self) -> str:
        return f"{self.asset}.{self.point}"


@dataclass(frozen=True, slots=True)
class ReadItem:
    """What one point needs read: ``count`` registers (or bits) from ``address``."""

    ref: PointRef
    unit_id: int
    function: Function
    address: int
    count: int

    @property
    def end(self) -> int:
        """First address after the point."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One request: ``count`` registers (or bits) from ``address`` covering ``items``."""

    unit_id: int
    function: Function
    address: int
    count: int
    items: tuple[ReadItem, ...]

    @property
    def end(self) -> int:
        return self.address + self.count

    def slice(self, item: ReadItem, data: Sequence[int]) -> list[int]:
        """The part of the block's ``data`` that belongs to ``item``."""
        start = item.address - self.address
        return list(data[start : start + item.count])


BreakKey = tuple[int, Function]
"""(unit id, function): breaks are kept per data table."""


def request_limit(function: Function, max_registers: int) -> int:
    """Largest count of one read request for ``function``."""
    if function.is_bit:
        return MAX_READ_BITS
    return min(max_registers, MAX_READ_REGISTERS)


def plan_blocks(
    items: Iterable[ReadItem],
    *,
    max_registers: int = MAX_READ_REGISTERS,
    max_gap: int = 8,
    breaks: dict[BreakKey, set[int]] | None = None,
) -> list[ReadBlock]:
    """Coalesce ``items`` into read blocks.

    Args:
        items: the points to read.
        max_registers: largest register count per request (the profile's
            ``transport.max_registers_per_read``; capped at 125; bits are capped at 2000).
        max_gap: most unused registers (or bits) a block may span between two points.
        breaks: per (unit id, function), addresses a block must not span: no block contains an
            item below a break and one at or above it.

    Returns:
        Blocks ordered by unit id, function and address.
    """
    groups: dict[BreakKey, list[ReadItem]] = {}
    for item in items:
        groups.setdefault((item.unit_id, item.function), []).append(item)
    blocks: list[ReadBlock] = []
    for (unit_id, function), group in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1].value)
    ):
        limit = request_limit(function, max_registers)
        group_breaks = sorted((breaks or {}).get((unit_id, function), ()))
        current: list[ReadItem] = []
        start = end = 0
        for item in sorted(group, key=lambda i: (i.address, i.end)):
            if current and (
                item.address - end > max_gap
                or max(end, item.end) - start > limit
                or any(start < b <= item.address for b in group_breaks)
            ):
                blocks.append(ReadBlock(unit_id, function, start, end - start, tuple(current)))
                current = []
            if not current:
                start, end = item.address, item.end
            current.append(item)
            end = max(end, item.end)
        if current:
            blocks.append(ReadBlock(unit_id, function, start, end - start, tuple(current)))
    return blocks


def split_point(block: ReadBlock) -> int | None:
    """Where to split a refused block: the start of the item after its widest gap, else of its
    middle item. ``None`` when all items start at one address (nothing left to split)."""
    starts = sorted({item.address for item in block.items})
    if len(starts) < 2:
        return None
    best_gap, best_at = 0, None
    end = block.address
    for item in sorted(block.items, key=lambda i: (i.address, i.end)):
        if item.address > end and item.address - end > best_gap:
            best_gap, best_at = item.address - end, item.address
        end = max(end, item.end)
    if best_at is not None:
        return best_at
    return starts[len(starts) // 2]
