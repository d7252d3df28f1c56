"""An in-process contact bank: the simulated ripple-control receiver of the demo site."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from .table import MAX_CONTACTS


class ContactBank:
    """Contacts a demo (or a test) flips; a ``RippleReceiverDriver`` reads them like wires.

    The driver wakes on every change, so a flip reaches the sink without waiting for the next
    poll. ``fail`` makes reads fail with that message (a source fault) until cleared.

    Args:
        contacts: number of contacts, 1..4.
        closed: initial states, Contact1 first (default all open).
    """

    def __init__(self, contacts: int = MAX_CONTACTS, closed: Sequence[bool] | None = None) -> None:
        if not 1 <= contacts <= MAX_CONTACTS:
            raise ValueError(f"contacts: {contacts} outside 1..{MAX_CONTACTS}")
        initial = list(closed) if closed is not None else [False] * contacts
        if len(initial) != contacts:
            raise ValueError(f"{len(initial)} initial states for {contacts} contacts")
        self._closed = [bool(c) for c in initial]
        self.fail: str | None = None
        self._changed = asyncio.Event()

    @property
    def contacts(self) -> int:
        return len(self._closed)

    @property
    def closed(self) -> tuple[bool, ...]:
        """The states now, Contact1 first."""
        return tuple(self._closed)

    def set_contact(self, n: int, closed: bool) -> None:
        """Close (``True``) or open contact ``n`` (1-based)."""
        if not 1 <= n <= len(self._closed):
            raise ValueError(f"contact {n} outside 1..{len(self._closed)}")
        self._closed[n - 1] = bool(closed)
        self._changed.set()

    def set_fault(self, message: str | None) -> None:
        """Make reads fail with ``message`` (``None`` heals)."""
        self.fail = message
        self._changed.set()

    async def wait_change(self, timeout_s: float) -> None:
        """Return on the next change, or after ``timeout_s`` seconds."""
        if self._changed.is_set():
            self._changed.clear()
            return
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({waiter}, timeout=max(0.0, timeout_s))
        finally:
            waiter.cancel()
        self._changed.clear()
