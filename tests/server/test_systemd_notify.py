"""sd_notify: READY=1, WATCHDOG=1 pings from the event loop (none while it is blocked), STOPPING=1.

A local unix datagram socket stands in for systemd's $NOTIFY_SOCKET.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ampacity.server.systemd import Notifier, ServiceManager, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        yield sock, path
    finally:
        sock.close()


def received(sock: socket.socket) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return out
        out.append((time.monotonic(), data.decode()))


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier("")
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False


def test_an_unreachable_socket_is_logged_once_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "missing"))
    assert notifier.notify("READY=1") is False
    assert notifier.notify("WATCHDOG=1") is False
    assert len([r for r in caplog.records if "cannot notify" in r.getMessage()]) == 1


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_abstract_socket_names_start_with_a_nul_byte() -> None:
    assert Notifier("@ampacity/notify").address == "\0ampacity/notify"


async def test_ready_then_watchdog_pings_that_stop_while_the_loop_is_blocked(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    # WatchdogSec=0.2 s: a ping every 0.1 s
    manager = ServiceManager(Notifier(path), env={"WATCHDOG_USEC": "200000"})
    assert manager.interval_s == pytest.approx(0.1)
    manager.ready("serving opc.tcp://127.0.0.1:4840/ampacity")
    await asyncio.sleep(0.35)
    first = received(sock)
    assert first[0][1] == "READY=1\nSTATUS=serving opc.tcp://127.0.0.1:4840/ampacity"
    pings = [t for t, text in first if text == "WATCHDOG=1"]
    assert len(pings) >= 3
    # a hung event loop (a blocking call) sends nothing: systemd would kill it after 0.2 s
    blocked_at = time.monotonic()
    time.sleep(0.5)  # noqa: ASYNC251  # the point: a blocked loop
    unblocked_at = time.monotonic()
    await asyncio.sleep(0.25)
    later = [t for t, text in received(sock) if text == "WATCHDOG=1"]
    assert later, "the pings resume when the loop runs again"
    # nothing was sent during the block: the first ping after it came after the loop woke up
    assert later[0] >= unblocked_at - 0.01
    assert all(not (blocked_at + 0.01 < t < unblocked_at - 0.01) for t in later)
    await manager.stopping()
    assert received(sock)[-1][1] == "STOPPING=1"
    await asyncio.sleep(0.25)
    assert received(sock) == [], "no pings after STOPPING=1"


async def test_no_watchdog_configured_means_ready_only(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    manager = ServiceManager(Notifier(path), env={})
    manager.ready("serving")
    await asyncio.sleep(0.05)
    assert [text for _, text in received(sock)] == ["READY=1\nSTATUS=serving"]
    await manager.stopping()
