"""``ampacity install-service`` into a temporary root; the unit; files root writes for the service.

What these tests cannot show on a machine without a running systemd: that systemd starts the
unit, restarts it after ``kill -9`` and after a watchdog timeout. The unit's directives for that
(``Type=notify``, ``WatchdogSec=``, ``Restart=on-failure``) are checked here, the pings in
test_systemd_notify.py; the README's "Install on a device" says how to check the rest by hand.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ampacity.server.cli import main
from ampacity.server.install import InstallOptions, lookup_user, render_unit

ROOT = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creates users and chowns: needs root")
needs_tools = pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None and shutil.which("useradd") is None,
    reason="neither systemd-sysusers nor useradd is installed",
)


def unit_directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_shipped_unit_is_what_install_service_writes_by_default() -> None:
    shipped = (ROOT / "deploy" / "ampacity.service").read_text(encoding="utf-8")
    assert shipped == render_unit(InstallOptions())


def test_the_unit_is_notify_with_watchdog_restart_and_the_data_folder_on_the_command_line() -> None:
    unit = unit_directives(render_unit(InstallOptions()))
    assert unit["Type"] == ["notify"]
    assert unit["WatchdogSec"] == ["30"]
    assert unit["Restart"] == ["on-failure"]  # kill -9 and a watchdog timeout are failures
    assert unit["User"] == ["ampacity"]
    assert unit["SupplementaryGroups"] == ["dialout"]
    # ProtectSystem=strict makes /etc read-only: the data folder must not be relative to the
    # site file, so it is given explicitly and is the one writable path
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["ExecStart"] == [
        "/opt/ampacity/bin/ampacity run --config /etc/ampacity/site.yaml "
        "--data-dir /var/lib/ampacity"
    ]
    assert unit["ReadWritePaths"] == ["/var/lib/ampacity"]
    # serial adapters stay reachable, multicast (Speedwire) and TCP too
    assert "PrivateDevices" not in unit
    assert "AF_INET" in unit["RestrictAddressFamilies"][0].split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    executable = tmp_path / "ampacity"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    unit = tmp_path / "ampacity.service"
    unit.write_text(render_unit(InstallOptions(executable=executable)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Unknown key" not in done.stderr and "Unknown section" not in done.stderr, done.stderr
    # and it can fail: a misspelt directive is reported
    unit.write_text(render_unit(InstallOptions(executable=executable)).replace("Type=", "Tpye="))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "Tpye" in done.stderr


@needs_root
@needs_tools
def test_install_creates_user_folders_site_file_and_unit_and_a_second_run_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    code = main(
        ["install-service", "--root", str(root), "--executable", "/opt/ampacity/bin/ampacity"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("created") == 6, out
    ids = lookup_user(root, "ampacity")
    assert ids is not None
    uid, gid = ids
    assert uid != 0 and gid != 0
    group = (root / "etc/group").read_text()
    assert any(
        line.startswith("dialout:") and "ampacity" in line.split(":")[3].split(",")
        for line in group.splitlines()
    ), group
    data = (root / "var/lib/ampacity").stat()
    assert (data.st_uid, data.st_gid, stat.S_IMODE(data.st_mode)) == (uid, gid, 0o750)
    etc = (root / "etc/ampacity").stat()
    assert (etc.st_uid, etc.st_gid, stat.S_IMODE(etc.st_mode)) == (0, gid, 0o750)
    site = root / "etc/ampacity/site.yaml"
    assert (site.stat().st_gid, stat.S_IMODE(site.stat().st_mode)) == (gid, 0o640)
    unit = (root / "etc/systemd/system/ampacity.service").read_text()
    assert unit == render_unit(InstallOptions(root=root))
    # the starter site file is valid and keeps the data in /var/lib/ampacity
    from ampacity.server.config import load_config

    config = load_config(site)
    assert config.server.data_dir == Path("/var/lib/ampacity")
    # idempotent: nothing changes, a site file the installer finds is never overwritten
    site.write_text(site.read_text() + "# edited by the installer's user\n")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert (
        main(["install-service", "--root", str(root), "--executable", "/opt/ampacity/bin/ampacity"])
        == 0
    )
    out = capsys.readouterr().out
    assert "created" not in out and "updated" not in out, out
    assert out.count("unchanged") == 6
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
    # a changed option updates the unit only
    assert (
        main(["install-service", "--root", str(root), "--executable", "/usr/local/bin/ampacity"])
        == 0
    )
    out = capsys.readouterr().out
    assert "updated   /etc/systemd/system/ampacity.service" in out
    assert out.count("unchanged") == 5


def test_relative_paths_and_non_root_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["install-service", "--root", str(tmp_path), "--config", "site.yaml"]) == 2
    assert "--config must be an absolute path" in capsys.readouterr().err


@needs_root
def test_users_and_certs_written_by_root_belong_to_the_service_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_uid, service_gid = 65534, 65534  # nobody/nogroup stand in for ampacity
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, service_uid, service_gid)
    monkeypatch.setattr(sys, "stdin", _Stdin("a-long-password\n"))
    code = main(
        ["users", "add", "alice", "--role", "operator", "--password-stdin", "--data-dir", str(data)]
    )
    assert code == 0
    users = (data / "users.yaml").stat()
    assert (users.st_uid, users.st_gid) == (service_uid, service_gid)
    assert stat.S_IMODE(users.st_mode) == 0o640
    # a certificate trusted by root: the PKI tree goes to the service user too

    cert_file = tmp_path / "client.der"
    _write_client_certificate(cert_file)
    assert main(["certs", "trust", str(cert_file), "--data-dir", str(data)]) == 0
    pki = data / "pki"
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [pki, *pki.rglob("*")]}
    assert owners == {(service_uid, service_gid)}


def test_a_folder_owned_by_root_keeps_root_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin("a-long-password\n"))
    code = main(
        ["users", "add", "bob", "--role", "viewer", "--password-stdin", "--data-dir", str(tmp_path)]
    )
    assert code == 0
    users = (tmp_path / "users.yaml").stat()
    assert users.st_uid == os.geteuid()
    assert stat.S_IMODE(users.st_mode) == 0o600


class _Stdin:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)

    def readline(self) -> str:
        return self.lines.pop(0) if self.lines else ""

    def isatty(self) -> bool:
        return False


def _write_client_certificate(path: Path) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test client")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier("urn:test:client")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
