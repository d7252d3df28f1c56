"""Sharing links: every user of one TCP endpoint or one serial bus gets the same link."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ampacity.drivers.runtime.backoff import SYSTEM_CLOCK, Backoff, Clock

from .link import QueuedLink
from .rtu import RtuLink, SerialSettings
from .tcp import TcpLink


@dataclass(slots=True)
class _Entry:
    link: QueuedLink
    users: int = 0
    key: tuple[str, ...] = field(default=())
    loop: asyncio.AbstractEventLoop | None = None
    """The event loop the link was handed out in (its lock and connection belong to it)."""


class LinkRegistry:
    """Hands out shared, reference-counted links.

    ``tcp``/``rtu`` return the existing link for the endpoint (the first caller's timeout and
    serial settings win) and count a user; ``release`` closes the link when its last user is gone.
    The server keeps one registry for the whole site; drivers default to ``DEFAULT_REGISTRY``.

    Args:
        clock: time source given to every link.
        backoff_initial_s: first pause after a failed connect, seconds.
        backoff_cap_s: longest pause between reconnect attempts, seconds.
    """

    def __init__(
        self,
        clock: Clock = SYSTEM_CLOCK,
        backoff_initial_s: float = 0.5,
        backoff_cap_s: float = 30.0,
    ) -> None:
        self.clock = clock
        self.backoff_initial_s = backoff_initial_s
        self.backoff_cap_s = backoff_cap_s
        self._entries: dict[tuple[str, ...], _Entry] = {}

    def tcp(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float = 1.0,
        request_gap_s: float = 0.0,
        connect_delay_s: float = 0.0,
    ) -> TcpLink:
        """The shared link to ``host:port`` (one more user; the first user's timeout, request
        gap and connect delay win)."""
        key = ("tcp", host.lower(), str(port))
        entry = self._current(key)
        if entry is None:
            link = TcpLink(
                host,
                port,
                timeout_s=timeout_s,
                backoff=self._backoff(),
                clock=self.clock,
                request_gap_s=request_gap_s,
                connect_delay_s=connect_delay_s,
            )
            entry = self._entries[key] = _Entry(link, key=key, loop=_running_loop())
        entry.users += 1
        assert isinstance(entry.link, TcpLink)
        return entry.link

    def rtu(
        self,
        device: str,
        settings: SerialSettings,
        *,
        inter_frame_gap_s: float = 0.005,
        timeout_s: float = 1.0,
    ) -> RtuLink:
        """The shared link to the bus on ``device`` (one more user).

        Raises:
            ValueError: the bus is already open with other line settings.
        """
        key = ("rtu", device)
        entry = self._current(key)
        if entry is None:
            link = RtuLink(
                device,
                settings,
                inter_frame_gap_s=inter_frame_gap_s,
                timeout_s=timeout_s,
                backoff=self._backoff(),
                clock=self.clock,
            )
            entry = self._entries[key] = _Entry(link, key=key, loop=_running_loop())
        assert isinstance(entry.link, RtuLink)
        if entry.link.settings != settings:
            raise ValueError(
                f"RS485 bus {device} is already open with {entry.link.settings}, "
                f"a device on it asks for {settings}"
            )
        entry.users += 1
        return entry.link

    def _current(self, key: tuple[str, ...]) -> _Entry | None:
        """The entry for ``key`` if it belongs to the running event loop. One left by another
        loop (a process that ran several loops one after the other, as a test run does) is
        forgotten: its lock and connection cannot serve this loop (a request would fail or wait
        for ever)."""
        entry = self._entries.get(key)
        if entry is not None and entry.loop is not _running_loop():
            del self._entries[key]
            return None
        return entry

    def _backoff(self) -> Backoff:
        return Backoff(initial_s=self.backoff_initial_s, cap_s=self.backoff_cap_s)

    async def release(self, link: QueuedLink) -> None:
        """One user fewer; the last one closes the link."""
        for key, entry in list(self._entries.items()):
            if entry.link is link:
                entry.users -= 1
                if entry.users <= 0:
                    del self._entries[key]
                    await link.close()
                return

    def users(self, link: QueuedLink) -> int:
        """How many users share ``link`` now."""
        return next((e.users for e in self._entries.values() if e.link is link), 0)

    async def aclose(self) -> None:
        """Close every link (server shutdown)."""
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            await entry.link.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


DEFAULT_REGISTRY = LinkRegistry()
"""The process-wide registry drivers use when none is given."""
