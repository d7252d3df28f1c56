"""``ampacity run`` as systemd runs it (``Type=notify``, ``WatchdogSec=``), without systemd.

The process gets ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` as systemd sets them; a local unix
datagram socket receives what it sends. Shown here: ``READY=1`` only once the OPC UA port
accepts connections, ``WATCHDOG=1`` pings while the process runs, none while it is frozen
(``SIGSTOP``: a hung process, which systemd's watchdog would kill and restart), ``STOPPING=1`` and
exit 0 on ``SIGTERM``. That systemd then restarts the unit (after ``kill -9`` or the watchdog)
is its ``Restart=on-failure``; on a machine without systemd that part is the README's manual check.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port


def messages(sock: socket.socket, until: float) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return out
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except TimeoutError:
            return out
        out.append((time.monotonic(), data.decode()))


def wait_for(sock: socket.socket, message: str, count: int, timeout_s: float) -> list[float]:
    """Times at which ``message`` arrived, returning as soon as ``count`` of them did (at most
    ``timeout_s``: a loaded machine may delay a ping, which is not what is tested here)."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout_s
    while len(seen) < count and time.monotonic() < deadline:
        got = messages(sock, min(deadline, time.monotonic() + 0.2))
        seen += [t for t, m in got if m == message]
    return seen


def stopped(pid: int) -> bool:
    """The kernel has stopped the process (state ``T`` in ``/proc/PID/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] == "T"


def drain(sock: socket.socket) -> None:
    """Drops the datagrams already queued (sent before the moment that matters)."""
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


@pytest.mark.timeout(180)
def test_ready_after_the_port_listens_pings_stop_while_frozen_stopping_on_sigterm(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    port = free_port()
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "1000000",  # WatchdogSec=1: a ping every 0.5 s
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ampacity.server.cli",
            "run",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        first = ""
        deadline = time.monotonic() + 90
        while not first and time.monotonic() < deadline:
            assert process.poll() is None, f"ampacity run ended with {process.returncode}"
            first = next((m for _, m in messages(sock, time.monotonic() + 0.5)), "")
        assert first.startswith("READY=1\nSTATUS=serving opc.tcp://127.0.0.1:")
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # it does listen
        assert len(wait_for(sock, "WATCHDOG=1", count=2, timeout_s=10.0)) == 2
        process.send_signal(signal.SIGSTOP)  # the process hangs
        deadline = time.monotonic() + 10
        while not stopped(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stopped(process.pid)
        drain(sock)  # a ping sent just before the stop is not one sent while frozen
        frozen = messages(sock, time.monotonic() + 2.0)
        assert frozen == [], "a frozen process must not ping the watchdog"
        process.send_signal(signal.SIGCONT)
        assert wait_for(sock, "WATCHDOG=1", count=1, timeout_s=10.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        rest = [m for _, m in messages(sock, time.monotonic() + 0.5)]
        assert "STOPPING=1" in rest
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()
        sock.close()
