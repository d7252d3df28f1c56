"""Failure causes in words: what a user reads in ``Health.LastError`` and in the log."""

from __future__ import annotations

import errno
import os
import socket

_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNRESET: "connection reset by the device",
    errno.ETIMEDOUT: "connection timed out",
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "address not available on this machine",
    errno.EACCES: "permission denied",
    errno.ENOENT: "no such file or device",
}


def describe(exc: BaseException, endpoint: str = "") -> str:
    """One line saying what went wrong, e.g. ``connection refused 192.0.2.10:502``.

    Args:
        exc: the failure.
        endpoint: where the device was reached (``host:port``, ``/dev/ttyUSB0``, a URL).
    """
    at = f" {endpoint}" if endpoint else ""
    if isinstance(exc, TimeoutError):
        return f"no answer from{at or ' the device'} in time"
    if isinstance(exc, socket.gaierror):
        return f"unknown host{at}"
    if isinstance(exc, FileNotFoundError):
        return f"no such serial device {exc.filename or endpoint}".rstrip()
    if isinstance(exc, PermissionError):
        name = exc.filename or endpoint
        return f"no permission to open {name} (is the user in the dialout group?)"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_WORDS:
        return f"{_ERRNO_WORDS[exc.errno]}{at}"
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    if not text:
        return f"{type(exc).__name__}{at}"
    return f"{text}{at}" if endpoint and endpoint not in text else text


def serial_device_problem(device: str) -> str | None:
    """Why a serial device cannot be opened, or ``None`` when it looks usable."""
    if not os.path.exists(device):
        return f"no such serial device {device}"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"no permission to open {device} (is the user in the dialout group?)"
    return None
