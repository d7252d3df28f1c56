"""``ampacity install-service``: put Ampacity on a Linux box as a systemd service, idempotently.

What it does (under ``--root``, ``/`` by default; tests use a temporary folder):

- the system user and group ``ampacity`` (member of ``dialout`` for RS485 adapters and optical
  heads), declared in ``/etc/sysusers.d/ampacity.conf`` and created by ``systemd-sysusers``
  (``useradd`` where that is missing);
- ``/etc/ampacity/`` (root:ampacity 0750) with a starter ``site.yaml`` (only if there is none);
- the data folder ``/var/lib/ampacity`` (ampacity:ampacity 0750);
- the unit ``/etc/systemd/system/ampacity.service``: ``Type=notify`` with ``WatchdogSec=``,
  ``Restart=on-failure``, the data folder given on the command line (the site file's relative
  ``data_dir`` would point into the read-only ``/etc``), hardening that leaves serial devices and
  the network usable.

Running it again changes nothing that is already right; every step says created, updated or
unchanged. ``systemctl`` is only run with ``--enable`` (and never under another ``--root``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SERVICE_NAME = "ampacity"
DEFAULT_USER = "ampacity"
DEFAULT_EXECUTABLE = Path("/opt/ampacity/bin/ampacity")
DEFAULT_CONFIG = Path("/etc/ampacity/site.yaml")
DEFAULT_DATA_DIR = Path("/var/lib/ampacity")
DEFAULT_WATCHDOG_S = 30
SERIAL_GROUP = "dialout"

UNIT_TEMPLATE = """\
# Ampacity as a systemd service. Written by `ampacity install-service` (see the README,
# "Install on a device"); edit the options there and run it again rather than this file.
[Unit]
Description=Ampacity OPC UA energy-management server
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
# The server says READY=1 when the OPC UA endpoint listens and pings the watchdog from its
# event loop every WatchdogSec/2: a hung loop is killed and restarted.
Type=notify
NotifyAccess=main
WatchdogSec={watchdog}
User={user}
Group={user}
SupplementaryGroups={serial_group}
ExecStartPre={executable} check {config}
ExecStart={executable} run --config {config} --data-dir {data_dir}
# SIGTERM shuts down cleanly (drivers stop, history is flushed); a crash, kill -9 or a
# watchdog timeout restarts it.
KillSignal=SIGTERM
TimeoutStartSec=120
TimeoutStopSec=20
Restart=on-failure
RestartSec=5
Environment=PYTHONUNBUFFERED=1
{state_directory}WorkingDirectory={data_dir}
ReadWritePaths={data_dir}
# Hardening that keeps what the server needs: serial devices (no PrivateDevices), TCP/UDP
# incl. multicast, its data folder.
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictSUIDSGID=true
RestrictRealtime=true
RestrictNamespaces=true
LockPersonality=true
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
UMask=0027

[Install]
WantedBy=multi-user.target
"""

SYSUSERS_TEMPLATE = """\
# The Ampacity service user (systemd-sysusers). Written by `ampacity install-service`.
u {user} - "Ampacity energy management" {data_dir} -
m {user} {serial_group}
"""

SITE_TEMPLATE = """\
# Ampacity site file. `ampacity check {config}` validates it; the README's "Configuration"
# section lists every key. Restart the service after a change: systemctl restart ampacity
site:
  id: site
  name: "My site"
server:
  host: 0.0.0.0          # every interface: open TCP {port} in the firewall for OPC UA clients
  port: {port}
  data_dir: {data_dir}
devices: []
"""


@dataclass(frozen=True)
class InstallOptions:
    """Where things go (absolute paths as seen on the target system, without ``root``)."""

    root: Path = Path("/")
    user: str = DEFAULT_USER
    executable: Path = DEFAULT_EXECUTABLE
    config: Path = DEFAULT_CONFIG
    data_dir: Path = DEFAULT_DATA_DIR
    watchdog_s: int = DEFAULT_WATCHDOG_S
    port: int = 4840

    def at(self, path: Path) -> Path:
        """``path`` under ``root``."""
        return self.root / path.relative_to("/")

    @property
    def unit_path(self) -> Path:
        return Path(f"/etc/systemd/system/{SERVICE_NAME}.service")

    @property
    def sysusers_path(self) -> Path:
        return Path(f"/etc/sysusers.d/{SERVICE_NAME}.conf")


def render_unit(options: InstallOptions) -> str:
    """The unit file for ``options``."""
    return UNIT_TEMPLATE.format(
        watchdog=options.watchdog_s,
        user=options.user,
        serial_group=SERIAL_GROUP,
        executable=options.executable,
        config=options.config,
        data_dir=options.data_dir,
        state_directory=(
            # systemd creates it (owned by the user) when the unit is installed without us
            f"StateDirectory={options.data_dir.name}\nStateDirectoryMode=0750\n"
            if options.data_dir.parent == Path("/var/lib")
            else ""
        ),
    )


class InstallError(Exception):
    """A step failed (the message says which and why)."""


@dataclass
class Step:
    what: str
    outcome: str  # created, updated, unchanged, skipped

    def __str__(self) -> str:
        return f"{self.outcome:<9} {self.what}"


def _write(path: Path, text: str, mode: int, shown: Path, keep: bool = False) -> Step:
    """Write ``text`` unless the file already holds it (``keep``: never overwrite)."""
    if path.exists():
        if keep or path.read_text(encoding="utf-8") == text:
            os.chmod(path, mode)
            return Step(str(shown), "unchanged")
        outcome = "updated"
    else:
        outcome = "created"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return Step(str(shown), outcome)


def lookup_user(root: Path, user: str) -> tuple[int, int] | None:
    """uid and gid of ``user`` in ``root``'s ``/etc/passwd`` (``None`` when absent)."""
    passwd = root / "etc/passwd"
    if not passwd.exists():
        return None
    for line in passwd.read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == user:
            return int(fields[2]), int(fields[3])
    return None


def _ensure_user(options: InstallOptions) -> Step:
    what = f"user {options.user} (groups {options.user}, {SERIAL_GROUP})"
    root = options.root
    existed = lookup_user(root, options.user) is not None
    sysusers = shutil.which("systemd-sysusers")
    if sysusers:
        command = [sysusers, f"--root={root}", str(options.at(options.sysusers_path))]
    elif not existed:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise InstallError("neither systemd-sysusers nor useradd found: create the user")
        command = [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            str(options.data_dir),
            "--shell",
            "/usr/sbin/nologin",
            "--groups",
            SERIAL_GROUP,
        ]
        command += [] if root == Path("/") else ["--prefix", str(root)]
        command.append(options.user)
    else:
        return Step(what, "unchanged")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise InstallError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")
    if lookup_user(root, options.user) is None:
        raise InstallError(f"user {options.user} was not created in {root / 'etc/passwd'}")
    return Step(what, "unchanged" if existed else "created")


def _ensure_dir(path: Path, shown: Path, mode: int, owner: tuple[int, int] | None) -> Step:
    outcome = "unchanged" if path.is_dir() else "created"
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and owner is not None:
        stat = path.stat()
        if (stat.st_uid, stat.st_gid) != owner:
            os.chown(path, *owner)
            outcome = "updated" if outcome == "unchanged" else outcome
    if path.stat().st_mode & 0o7777 != mode:
        os.chmod(path, mode)
        outcome = "updated" if outcome == "unchanged" else outcome
    return Step(str(shown), outcome)


def install(options: InstallOptions) -> list[Step]:
    """Run every step; returns what each did.

    Raises:
        InstallError: a step failed.
    """
    steps = [
        _write(
            options.at(options.sysusers_path),
            SYSUSERS_TEMPLATE.format(
                user=options.user, data_dir=options.data_dir, serial_group=SERIAL_GROUP
            ),
            0o644,
            options.sysusers_path,
        ),
        _ensure_user(options),
    ]
    ids = lookup_user(options.root, options.user)
    assert ids is not None
    uid, gid = ids
    steps.append(
        _ensure_dir(options.at(options.config.parent), options.config.parent, 0o750, (0, gid))
    )
    site = options.at(options.config)
    steps.append(
        _write(
            site,
            SITE_TEMPLATE.format(
                config=options.config, data_dir=options.data_dir, port=options.port
            ),
            0o640,
            options.config,
            keep=True,
        )
    )
    if os.geteuid() == 0:
        os.chown(site, 0, gid)
    steps.append(_ensure_dir(options.at(options.data_dir), options.data_dir, 0o750, (uid, gid)))
    steps.append(
        _write(options.at(options.unit_path), render_unit(options), 0o644, options.unit_path)
    )
    return steps


def enable(options: InstallOptions) -> None:
    """``systemctl daemon-reload`` and ``enable --now`` (only on the running system)."""
    for command in (
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", SERVICE_NAME],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise InstallError(f"{' '.join(command)} failed: {done.stderr.strip()}")


def add_subcommand(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "install-service",
        help="install as a systemd service: user, folders, unit (idempotent; needs root)",
    )
    parser.add_argument("--root", type=Path, default=Path("/"), help="target root folder (/)")
    parser.add_argument("--user", default=DEFAULT_USER, help=f"service user ({DEFAULT_USER})")
    parser.add_argument(
        "--executable",
        type=Path,
        help="the ampacity command the unit runs (default: this one, "
        f"e.g. {DEFAULT_EXECUTABLE} in a virtual environment)",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site file path")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="data folder")
    parser.add_argument("--port", type=int, default=4840, help="OPC UA port of a new site file")
    parser.add_argument(
        "--watchdog-sec", type=int, default=DEFAULT_WATCHDOG_S, help="WatchdogSec= of the unit"
    )
    parser.add_argument(
        "--enable", action="store_true", help="then systemctl daemon-reload, enable --now"
    )


def _this_executable() -> Path:
    argv0 = Path(sys.argv[0])
    if argv0.name == "ampacity" and argv0.exists():
        return argv0.absolute()
    found = shutil.which("ampacity")
    return Path(found).absolute() if found else DEFAULT_EXECUTABLE


def run(args: argparse.Namespace) -> int:
    for name in ("config", "data_dir", "executable", "root"):
        value = getattr(args, name)
        if value is not None and not value.is_absolute():
            print(
                f"ampacity install-service: --{name.replace('_', '-')} must be an absolute path",
                file=sys.stderr,
            )
            return 2
    options = InstallOptions(
        root=args.root,
        user=args.user,
        executable=args.executable or _this_executable(),
        config=args.config,
        data_dir=args.data_dir,
        watchdog_s=args.watchdog_sec,
        port=args.port,
    )
    if os.geteuid() != 0:
        print("ampacity install-service: run it as root (sudo)", file=sys.stderr)
        return 1
    try:
        for step in install(options):
            print(step)
        if args.enable:
            if options.root != Path("/"):
                print("ampacity install-service: --enable only with --root /", file=sys.stderr)
                return 2
            enable(options)
            print(f"enabled and started {SERVICE_NAME}.service")
    except (InstallError, OSError) as exc:
        print(f"ampacity install-service: {exc}", file=sys.stderr)
        return 1
    if not args.enable:
        print(
            f"next: edit {options.config}, `{options.executable} check {options.config}`, then "
            f"`systemctl daemon-reload && systemctl enable --now {SERVICE_NAME}`"
        )
    return 0
