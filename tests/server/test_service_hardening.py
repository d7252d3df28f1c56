"""The server under the unit's file-system hardening, without systemd.

``ProtectSystem=strict`` + ``ReadWritePaths=/var/lib/ampacity`` make every file system read-only
except the data folder. Emulated here with a private mount namespace (``unshare -m``) in which
every mount is remounted read-only and only the data folder stays writable: the server started
as the unit starts it (``run --config <site> --data-dir <data>``) serves; started without
``--data-dir`` (the site file's default ``data_dir`` is relative to ``/etc/ampacity``) it stops
with one clear line — the trap the unit avoids. Skips where mount namespaces are not allowed.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port

READ_ONLY_EXCEPT_DATA = r"""
set -e
DATA="$1"; shift
mount --bind "$DATA" "$DATA"
for target in $(awk '{print $2}' /proc/self/mounts | sort -u); do
  case "$target" in /proc*|/sys*|/dev*|"$DATA") continue;; esac
  mount -o remount,bind,ro "$target" 2>/dev/null || true
done
exec "$@"
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp",
        ],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespaces_work(), reason="no mount namespaces here (unshare -m needs CAP_SYS_ADMIN)"
)


def hardened(data: Path, *args: str) -> list[str]:
    return [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        READ_ONLY_EXCEPT_DATA,
        "sh",
        str(data),
        sys.executable,
        "-m",
        "ampacity.server.cli",
        *args,
    ]


def site_file(tmp_path: Path, port: int, metrics_port: int | None = None) -> Path:
    etc = tmp_path / "etc" / "ampacity"
    etc.mkdir(parents=True)
    site = etc / "site.yaml"
    metrics = f"metrics: {{listen: 127.0.0.1:{metrics_port}}}\n" if metrics_port else ""
    site.write_text(
        f"site: {{id: site, name: Hardened}}\nserver: {{host: 127.0.0.1, port: {port}}}\n"
        f"{metrics}devices: []\n"
    )
    return site


@pytest.mark.timeout(180)
def test_the_server_runs_with_only_its_data_folder_writable(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    site = site_file(tmp_path, port, metrics_port)
    data = tmp_path / "var" / "lib" / "ampacity"
    data.mkdir(parents=True)
    process = subprocess.Popen(
        hardened(data, "run", "--config", str(site), "--data-dir", str(data)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )
    try:
        assert process.stdout is not None
        served = False
        for line in process.stdout:
            if "Ampacity serves" in line:
                served = True
                break
        assert served, f"ended with {process.wait()}"
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        # metrics.listen of the site file
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert 'ampacity_info{site="site",version=' in text
        assert "ampacity_historian_database_connected 1.0" in text
        assert (data / "history.sqlite").exists()
        assert (data / "pki" / "own" / "cert.der").exists()
        assert not (site.parent / "ampacity-data").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(120)
def test_without_data_dir_the_read_only_etc_is_one_clear_error(tmp_path: Path) -> None:
    site = site_file(tmp_path, free_port())
    data = tmp_path / "var" / "lib" / "ampacity"
    data.mkdir(parents=True)
    done = subprocess.run(
        hardened(data, "run", "--config", str(site)),
        capture_output=True,
        text=True,
        timeout=100,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
    )
    assert done.returncode == 1
    expected = f"ampacity: cannot create the data folder {site.parent / 'ampacity-data'}: "
    assert expected + "Read-only file system" in done.stderr
    assert "Traceback" not in done.stderr
