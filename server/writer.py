"""The node writer: the one place readings enter the address space.

Drivers call ``publish`` (never blocking); a single task applies the readings to the nodes, on
change only (value or status), with SourceTimestamp = device read time and ServerTimestamp = when
the node changed. Listeners (the site aggregator, the historian) see every applied change.

The ServerTimestamp of a change is the time its flush took at most ``SLICE_CHECK`` readings
earlier (read again whenever the flush resumes after yielding, so it never precedes the
reading's publication).

A flush applies its queue in slices of at most ``SLICE_S`` (checked every ``SLICE_CHECK``
readings) and yields to the event loop between them: a burst of 10k readings must not hold up
the clients' publish responses, the control cycle or the drivers. At the end of a slice the
slice's changes go out in batches: each batch listener (the historian) gets them in one call,
and each client subscription gets its data changes in one call (``subscriptions.FanOut``)
instead of one awaited callback per monitored item per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ampacity.assets import DataType, PointSpec, PointValue, Quality, Reading
from asyncua import ua
from asyncua.server.address_space import AddressSpace

from .nodes import to_variant
from .subscriptions import GOOD, FanOut

log = logging.getLogger(__name__)

SLICE_S = 0.01
"""Longest stretch (s) a flush applies readings before it lets the event loop run."""
SLICE_CHECK = 64
"""Readings applied between two looks at the clock."""

STATUS = {quality: ua.StatusCode(quality.value) for quality in Quality}
"""One StatusCode per quality, shared by every DataValue the writer makes (never mutated)."""
_GOOD = Quality.GOOD
_GOOD_STATUS = STATUS[_GOOD]


@dataclass(slots=True)
class NodeSlot:
    """A variable node the writer keeps current, with the last value it wrote."""

    node_id: ua.NodeId
    spec: PointSpec
    value: PointValue = None
    quality: Quality = Quality.BAD_WAITING_FOR_INITIAL_DATA
    source_time: datetime | None = None


ChangeListener = Callable[[Reading], None]
"""Called (synchronously, must be cheap) with every reading that changed a node."""
BatchListener = Callable[[list[Reading]], None]
"""Called (synchronously) with the readings that changed a node in one slice, in order."""


class NodeWriter:
    """Applies readings to nodes; implements ``ampacity.assets.ReadingSink``."""

    def __init__(self, aspace: AddressSpace) -> None:
        self._aspace = aspace
        self._slots: dict[str, NodeSlot] = {}
        self._pending: deque[Reading] = deque()
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._listeners: list[ChangeListener] = []
        self._batch_listeners: list[BatchListener] = []
        self._fanout = FanOut(aspace)
        self.applied = 0
        """Node changes written since start (for the data-path benchmark)."""
        self.unknown_keys: set[str] = set()
        self._server_time = datetime.now(UTC)
        """ServerTimestamp of the changes applied now: taken after every ``SLICE_CHECK``
        readings and whenever the flush resumes, so it is never before a reading was published
        (one ``datetime`` for up to 64 changes instead of one each)."""

    def add_slot(self, key: str, node_id: ua.NodeId, spec: PointSpec) -> None:
        self._slots[key] = NodeSlot(node_id, spec)

    def slot(self, key: str) -> NodeSlot:
        return self._slots[key]

    def has(self, key: str) -> bool:
        return key in self._slots

    @property
    def keys(self) -> list[str]:
        return list(self._slots)

    def add_listener(self, listener: ChangeListener) -> None:
        """``listener`` is called with each reading right after it changed its node."""
        self._listeners.append(listener)

    def add_batch_listener(self, listener: BatchListener) -> None:
        """``listener`` is called once per slice of a flush with the readings that changed
        their node (in order, never empty), before the slice's data changes go to clients."""
        self._batch_listeners.append(listener)

    def publish(self, readings: list[Reading]) -> None:
        """Queue readings; they are applied by ``run`` in order."""
        self._pending.extend(readings)
        self._wakeup.set()

    async def run(self) -> None:
        """Apply queued readings until cancelled."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.flush()

    async def flush(self) -> None:
        """Apply everything queued now, in order (one flush at a time).

        Yields to the event loop at least every ``SLICE_S``; readings published meanwhile are
        applied by the same flush, after the ones queued before them.
        """
        async with self._lock:
            pending = self._pending
            clock = time.perf_counter
            slice_end = clock() + SLICE_S
            applied = 0
            changed: list[Reading] = []
            while True:
                self._server_time = datetime.now(UTC)
                while pending:
                    reading = pending.popleft()
                    try:
                        if self._apply(reading):
                            changed.append(reading)
                    except Exception:  # a bad reading must never stop the writer
                        log.exception("cannot apply %s", reading)
                    applied += 1
                    if applied % SLICE_CHECK == 0:
                        if clock() > slice_end:
                            await self._deliver(changed)
                            changed = []
                            await asyncio.sleep(0)
                            slice_end = clock() + SLICE_S
                        self._server_time = datetime.now(UTC)
                await self._deliver(changed)
                changed = []
                if not pending:  # nothing was published while the last changes went out
                    return

    async def _deliver(self, changed: list[Reading]) -> None:
        """The batch listeners and the clients' subscriptions get a slice's changes."""
        if changed:
            for listener in self._batch_listeners:
                try:
                    listener(changed)
                except Exception:
                    log.exception("batch listener failed for %d changes", len(changed))
        await self._fanout.dispatch()

    def _apply(self, reading: Reading) -> bool:
        """Write one reading to its node if it changes it; whether it did."""
        key = reading.node_key
        slot = self._slots.get(key)
        if slot is None:
            if key not in self.unknown_keys:
                self.unknown_keys.add(key)
                log.debug("no node for %s", key)
            return False
        quality = reading.quality
        if reading.value == slot.value and quality is slot.quality:
            if quality is not _GOOD or slot.source_time == reading.source_time:
                return False
            # Same good value read again: only the source timestamp moved. Clients subscribed
            # with the default StatusValue trigger see no notification; keep the node as is.
            slot.source_time = reading.source_time
            return False
        if quality is _GOOD:  # most readings: no enum lookups
            bad, status_code = False, _GOOD_STATUS
        else:
            bad, status_code = quality.is_bad, STATUS[quality]
        value = None if bad else reading.value
        data_type = slot.spec.data_type
        if value is not None and data_type is DataType.DOUBLE:
            variant = ua.Variant(float(value), ua.VariantType.Double)  # type: ignore[arg-type]
        else:
            variant = to_variant(value, data_type)
        data_value = ua.DataValue(
            Value=variant,
            StatusCode=status_code,
            SourceTimestamp=reading.source_time,
            ServerTimestamp=self._server_time,
        )
        status = self._fanout.write(slot.node_id, data_value)
        if status is not GOOD and not status.is_good():
            log.warning("writing %s failed: %s", key, status.name)
            return False
        if not bad:
            slot.value = value
        slot.quality = quality
        slot.source_time = reading.source_time
        self.applied += 1
        for listener in self._listeners:
            try:
                listener(reading)
            except Exception:
                log.exception("change listener failed for %s", key)
        return True
