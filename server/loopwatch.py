"""What stops the event loop: garbage-collection pauses and event-loop stalls.

A 10k-point site holds several hundred MB of small, long-lived objects (nodes, attributes,
references). Python's full collection walks all of them: without ``freeze_long_lived`` a full
collection under load stopped the server for 1.7-1.9 s, dropping clients. ``freeze_long_lived``
moves everything alive after start-up into the permanent generation, where the collector no
longer looks; ``GcPauses`` measures the pauses that remain and ``LoopStalls`` the time the loop
could not run a ready callback. Both are read by the data-path benchmark and the metrics endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

STALL_PROBE_S = 0.02
"""How often the stall probe asks the loop to wake it (s)."""
STALL_LIMIT_S = 0.1
"""A wake-up later than this is a stall (s)."""


def freeze_long_lived(collect: bool = True) -> None:
    """Collect once (unless not ``collect``), then exempt every object alive now from later
    collections.

    Call it when start-up (or a reconfiguration) has built the address space; objects made later
    are collected as usual (``gc.get_freeze_count()`` counts the frozen ones: it walks them, 0.03 s
    for a 10,000-point site, so it is left to the debug log). Without ``collect`` whatever
    cyclic garbage exists now is frozen with the rest and never freed: for a start-up that makes
    little of it (``start_site``: 35 objects of 1.26 million at 10,000 points) that is cheaper
    than a full collection walking them all (0.75-0.83 s of CPU there).
    """
    if collect:
        gc.collect()
    gc.freeze()
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%d long-lived objects frozen out of garbage collection", gc.get_freeze_count())


YOUNG_THRESHOLD = 50_000
"""Net new container objects between two collections of the youngest generation (Python's
default is 700)."""


def collect_young_less_often() -> None:
    """Let the youngest generation grow to ``YOUNG_THRESHOLD`` before it is collected.

    At 10,000 changes a second the data path makes tens of thousands of objects a second that
    live for up to a publishing interval (notifications, DataValues, historian samples). With
    Python's default of 700, they were scanned and promoted several times before they died, and
    dying in the oldest generation they triggered a full collection every few seconds (57 ms a
    second in collections with three clients; pauses up to 136 ms). Collected less often, most of
    them die young; a young collection of 50,000 objects takes a few milliseconds.
    """
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the collector's automatic runs for the block (start-up), as they were after it.

    Start-up allocates millions of objects that all stay alive; every automatic full collection
    walks everything made so far (a 10,000-point site ran ten of them, 3.5 s of a 10 s start-up)
    and frees nothing. ``freeze_long_lived`` collects once at the end, explicitly.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class GcPauses:
    """Durations of the garbage collector's runs, by generation (via ``gc.callbacks``).

    ``recent`` keeps the last ``keep`` pauses as ``(generation, seconds)``.
    """

    keep: int = 1000
    count: list[int] = field(default_factory=lambda: [0, 0, 0])
    total_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    max_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    recent: deque[tuple[int, float]] = field(default_factory=deque)
    _started: float = 0.0

    def install(self) -> GcPauses:
        self.recent = deque(maxlen=self.keep)
        gc.callbacks.append(self._callback)
        return self

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = int(info.get("generation", 2))
        self.count[generation] += 1
        self.total_s[generation] += pause
        self.max_s[generation] = max(self.max_s[generation], pause)
        self.recent.append((generation, pause))

    def pauses_since(self, mark: int) -> list[float]:
        """Pauses (s) recorded after the ``mark``-th pause overall (see ``total_count``)."""
        new = self.total_count - mark
        if new <= 0:
            return []
        return [pause for _, pause in list(self.recent)[-new:]]

    @property
    def total_count(self) -> int:
        return sum(self.count)


@dataclass
class LoopStalls:
    """Wakes every ``probe_s`` and records how late it woke beyond ``limit_s`` (s).

    ``run`` is a task beside the site; ``stalls`` keeps the last ``keep`` stalls (s late).
    """

    probe_s: float = STALL_PROBE_S
    limit_s: float = STALL_LIMIT_S
    keep: int = 1000
    count: int = 0
    max_s: float = 0.0
    stalls: deque[float] = field(default_factory=deque)

    async def run(self) -> None:
        self.stalls = deque(maxlen=self.keep)
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.probe_s)
            late = loop.time() - before - self.probe_s
            self.max_s = max(self.max_s, late)
            if late > self.limit_s:
                self.count += 1
                self.stalls.append(late)
                log.debug("event loop stalled for %.0f ms", late * 1e3)
