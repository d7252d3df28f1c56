"""A batch: the samples and events of one flush, the unit the disk buffer and the database see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Sample = tuple[str, int, float | None, str | None, int]
"""``(key, t_us, value, text, status)``: one recorded value of a point."""

EventRow = dict[str, Any]
"""An event as stored: the columns of ``schema.events`` except ``id``."""


@dataclass(slots=True)
class Batch:
    samples: list[Sample] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples) + len(self.events)

    def oldest_t(self) -> int | None:
        times = [s[1] for s in self.samples] + [e["t"] for e in self.events]
        return min(times) if times else None

    def extend(self, other: Batch) -> None:
        self.samples.extend(other.samples)
        self.events.extend(other.events)
