"""A virtual RS485 line on one machine: two pseudo-terminals joined like a null-modem cable.

The simulated devices open one end (``server_path``), the client the other (``client_path``);
bytes written on either side come out on the other. Both slave ends are put into raw mode and
kept open, so nothing is echoed or translated and the line survives a client reconnecting.
Baud rate and parity are not emulated (a pty passes bytes at once); both sides may set them.
POSIX only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty


class VirtualSerialLine:
    """A pty pair bridged in both directions on the running event loop."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._masters: tuple[int, int] | None = None
        self.server_path = ""
        self.client_path = ""
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        """Create both ptys and start copying bytes between them."""
        master_a, slave_a = os.openpty()
        master_b, slave_b = os.openpty()
        for fd in (slave_a, slave_b):
            tty.setraw(fd)
        for fd in (master_a, master_b):
            os.set_blocking(fd, False)
        self._fds = [master_a, slave_a, master_b, slave_b]
        self._masters = (master_a, master_b)
        self.server_path = os.ttyname(slave_a)
        self.client_path = os.ttyname(slave_b)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(master_a, self._copy, master_a, master_b)
        self._loop.add_reader(master_b, self._copy, master_b, master_a)

    @staticmethod
    def _copy(source: int, target: int) -> None:
        try:
            data = os.read(source, 4096)
        except (BlockingIOError, OSError):
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(target, data)

    def close(self) -> None:
        """Stop the bridge and close every descriptor."""
        if self._loop is not None and self._masters is not None:
            for fd in self._masters:
                self._loop.remove_reader(fd)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        self._masters = None
