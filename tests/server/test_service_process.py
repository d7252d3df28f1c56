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
        pings = [t for t, m in messages(sock, time.monotonic() + 1.6) if m == "WATCHDOG=1"]
        assert len(pings) >= 2
        process.send_signal(signal.SIGSTOP)  # the process hangs
        frozen = messages(sock, time.monotonic() + 2.0)
        assert frozen == [], "a frozen process must not ping the watchdog"
        process.send_signal(signal.SIGCONT)
        resumed = [m for _, m in messages(sock, time.monotonic() + 1.6)]
        assert "WATCHDOG=1" in resumed
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
