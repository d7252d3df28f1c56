"""Values the query layer returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class HistValue(NamedTuple):
    """One historical (raw or computed) value (a tuple: cheap to make by the hundred thousand).

    Attributes:
        t_us: its timestamp (µs since the epoch, UTC).
        value: a float for numeric points, a str for text points, ``None`` when there is none.
        status: the 32-bit OPC UA StatusCode, with historian info bits for computed values.
    """

    t_us: int
    value: float | str | None
    status: int


@dataclass(frozen=True, slots=True)
class RawPage:
    """A page of raw values; ``next_t`` is where the next page starts (``None``: no more)."""

    values: list[HistValue]
    next_t: int | None


RawRow = tuple[int, float | str | None, int]
"""A raw value as the database hands it over: (µs since the epoch, number, text or ``None``,
StatusCode); a ``HistValue`` is one too."""


@dataclass(frozen=True, slots=True)
class RawRows:
    """A page of raw values as the database's tuples, for encoders that only unpack them: no
    ``HistValue`` is made per value (for one day at 1 s that took as long as the query)."""

    rows: list[RawRow]
    next_t: int | None

    def page(self) -> RawPage:
        """The same values as ``HistValue``s."""
        return RawPage([HistValue._make(row) for row in self.rows], self.next_t)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored event (the ``events`` row)."""

    id: int
    eid: str
    t_us: int
    kind: str
    source: str
    severity: int
    message: str
    user_name: str | None
    old_value: str | None
    new_value: str | None
    status: int | None
    extra: dict[str, Any]
