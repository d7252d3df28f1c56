"""systemd integration: ``Type=notify`` readiness and watchdog pings from the event loop.

systemd gives a ``Type=notify`` service the address of a datagram socket in ``$NOTIFY_SOCKET``
(a path, or ``@name`` in the abstract namespace). The server sends ``READY=1`` once the OPC UA
endpoint listens, ``STOPPING=1`` when it shuts down, and, when the unit sets ``WatchdogSec=``
(systemd then exports ``$WATCHDOG_USEC``), ``WATCHDOG=1`` at half that interval. The pings come
from a task on the event loop: a loop that hangs (a blocking call, a busy loop) stops pinging and
systemd kills and restarts the service.

Without ``$NOTIFY_SOCKET`` (a shell, a container) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to the service manager (``sd_notify``), never raising.

    Args:
        address: the socket (``$NOTIFY_SOCKET`` when ``None``); empty or unset: disabled.
    """

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self.address = address
        self.sent = 0
        self._failed = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *states: str) -> bool:
        """Send ``states`` (e.g. ``"READY=1"``, ``"STATUS=serving"``) as one datagram.

        Returns:
            whether it was sent (``False`` when disabled or the socket refused it; the first
            failure is logged once).
        """
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto("\n".join(states).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify the service manager at %s: %s", self.address, exc)
                self._failed = True
            return False
        self.sent += 1
        return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """How often to ping the watchdog, s: half of ``$WATCHDOG_USEC``, or ``None`` when the unit
    has no watchdog (or ``$WATCHDOG_PID`` names another process)."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


async def ping_watchdog(notifier: Notifier, interval_s: float) -> None:
    """Send ``WATCHDOG=1`` every ``interval_s`` until cancelled (only while the loop runs)."""
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)


class ServiceManager:
    """What ``ampacity run`` tells systemd: ready, watchdog pings, stopping."""

    def __init__(self, notifier: Notifier | None = None, env: Mapping[str, str] | None = None):
        self.notifier = notifier or Notifier()
        self.interval_s = watchdog_interval(env) if self.notifier.enabled else None
        self._task: asyncio.Task[None] | None = None

    def ready(self, status: str) -> None:
        """The server serves: ``READY=1`` and start the watchdog pings (if the unit has one)."""
        self.notifier.notify("READY=1", f"STATUS={status}")
        if self.interval_s is not None and self._task is None:
            self._task = asyncio.create_task(
                ping_watchdog(self.notifier, self.interval_s), name="systemd-watchdog"
            )

    async def stopping(self) -> None:
        """``STOPPING=1`` and no more pings."""
        self.notifier.notify("STOPPING=1")
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
