"""``ampacity users`` and ``ampacity certs``.

ampacity users add NAME --role ROLE [--password-stdin] [--certificate FILE]
ampacity users passwd NAME [--password-stdin]
ampacity users remove NAME
ampacity users list
ampacity certs list
ampacity certs trust THUMBPRINT|FILE     a rejected certificate (thumbprint prefix) or a file
ampacity certs reject THUMBPRINT         move a trusted certificate to rejected/

Both find the data folder from ``--config site.yaml`` (its ``server.data_dir`` and
``security`` paths) or ``--data-dir`` (default ``ampacity-data``, the demo's). A running server
picks the changes up at the next login or connection; no restart needed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import os
import sys
from pathlib import Path

from .config import Role, SecurityConfig
from .pki import Pki, load_certificate_file
from .users import MIN_PASSWORD, NAME_PATTERN, UserRecord, UsersFile, UsersFileError, hash_password

COMMANDS = ("users", "certs")
EXIT_USAGE = 2
DEFAULT_DATA_DIR = Path("ampacity-data")


def add_subcommands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``users`` and ``certs`` on the ``ampacity`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="site file (default: the demo's data folder)")
    common.add_argument("--data-dir", type=Path, help="data folder (default: ampacity-data)")

    users = commands.add_parser("users", help="manage OPC UA users and roles")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", parents=[common], help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--certificate", type=Path, help="X.509 user certificate (PEM or DER)")
    add.add_argument("--no-password", action="store_true", help="certificate login only")
    passwd = actions.add_parser("passwd", parents=[common], help="set a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    role = actions.add_parser("role", parents=[common], help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=[r.value for r in Role])
    remove = actions.add_parser("remove", parents=[common], help="remove a user")
    remove.add_argument("name")
    actions.add_parser("list", parents=[common], help="list users and roles")

    certs = commands.add_parser("certs", help="the server certificate and the client trust list")
    cert_actions = certs.add_subparsers(dest="action", required=True)
    cert_actions.add_parser("list", parents=[common], help="own, trusted, rejected, issuers")
    trust = cert_actions.add_parser("trust", parents=[common], help="trust a client certificate")
    trust.add_argument("ref", help="thumbprint (prefix) of a rejected certificate, or a file")
    reject = cert_actions.add_parser("reject", parents=[common], help="stop trusting one")
    reject.add_argument("ref", help="thumbprint (prefix) or file name in trusted/")


def run(args: argparse.Namespace) -> int:
    try:
        data_dir, security = _locate(args)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.command == "users":
        path = security.users_path(data_dir)
        code = _users(args, UsersFile(path))
    else:
        path = security.pki_path(data_dir)
        code = _certs(args, Pki(path))
    if code == 0 and args.action != "list":
        hand_over(path, data_dir)
    return code


def hand_over(path: Path, data_dir: Path) -> None:
    """Give files that root wrote into a service's data folder to the folder's owner and group.

    ``sudo ampacity users add`` writes ``users.yaml`` as root (mode 0600); the service runs as
    the user that owns the data folder (``ampacity``) and could not read it. When we are root
    and the folder belongs to someone else, ``path`` (a file, or the PKI tree) gets the folder's
    owner and group; ``users.yaml`` becomes 0640 (the service group may read it). Private keys
    keep 0600 (owner only).
    """
    if os.geteuid() != 0 or not data_dir.is_dir() or not path.exists():
        return
    stat = data_dir.stat()
    if stat.st_uid == 0:
        return
    items = [path, *(sorted(path.rglob("*")) if path.is_dir() else ())]
    for item in items:
        os.chown(item, stat.st_uid, stat.st_gid)
    if path.is_file():
        os.chmod(path, 0o640)


def _locate(args: argparse.Namespace) -> tuple[Path, SecurityConfig]:
    if args.config is not None:
        from ampacity.server.config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            raise ValueError("\n".join(exc.errors)) from exc
        data_dir = args.data_dir or config.server.data_dir
        return data_dir, config.security
    return args.data_dir or DEFAULT_DATA_DIR, SecurityConfig()


# --- users -------------------------------------------------------------------------------------


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise ValueError(
                "no terminal to ask for the password: pipe it in with --password-stdin"
            )
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the passwords differ")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def _users(args: argparse.Namespace, file: UsersFile) -> int:
    try:
        users = dict(file.load())
    except (UsersFileError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    action = args.action
    if action == "list":
        if not users:
            print(f"no users in {file.path}")
        for record in sorted(users.values(), key=lambda r: r.name):
            login = ["password"] * bool(record.password) + [
                f"certificate {c[:16]}…" for c in record.certificates
            ]
            print(f"{record.name:<24} {record.role.value:<9} {', '.join(login) or '-'}")
        return 0
    name = args.name
    if action == "add":
        if not NAME_PATTERN.match(name):
            print(f"invalid user name {name!r} (letters, digits, . _ @ -)", file=sys.stderr)
            return EXIT_USAGE
        if name in users:
            print(f"user {name!r} exists; use `ampacity users passwd`", file=sys.stderr)
            return 1
        record = UserRecord(name, Role(args.role))
        try:
            if args.certificate is not None:
                cert = load_certificate_file(args.certificate)
                from cryptography.hazmat.primitives import serialization

                der = cert.public_bytes(serialization.Encoding.DER)
                record.certificates.append(hashlib.sha256(der).hexdigest().upper())
            if not (args.no_password and record.certificates):
                record.password = hash_password(_read_password(args.password_stdin))
        except (ValueError, OSError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        users[name] = record
        file.save(users)
        print(f"added {name} ({record.role.value}) to {file.path}")
        return 0
    if name not in users:
        print(f"no user {name!r} in {file.path}", file=sys.stderr)
        return 1
    if action == "passwd":
        try:
            users[name].password = hash_password(_read_password(args.password_stdin))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        print(f"password of {name} changed")
    elif action == "role":
        users[name].role = Role(args.role)
        print(f"{name} is now {args.role}")
    elif action == "remove":
        del users[name]
        print(f"removed {name}")
    file.save(users)
    return 0


# --- certs -------------------------------------------------------------------------------------


def _certs(args: argparse.Namespace, pki: Pki) -> int:
    if args.action == "list":
        now = dt.datetime.now(dt.UTC)
        for folder in ("own", "trusted", "rejected", "issuers"):
            entries = [
                e for e in pki.entries(folder) if folder != "own" or e.path.name == "cert.der"
            ]
            print(f"{folder}/ ({len(entries)})")
            for e in entries:
                expires = e.cert.not_valid_after_utc
                state = "EXPIRED" if expires < now else f"until {expires:%Y-%m-%d}"
                print(f"  {e.thumbprint}  {e.subject}  {e.application_uri or '-'}  {state}")
        crls = (
            sorted(p.name for p in pki.folder("crl").glob("*"))
            if pki.folder("crl").is_dir()
            else []
        )
        print(f"crl/ ({len(crls)})")
        for name in crls:
            print(f"  {name}")
        return 0
    ref = args.ref
    if args.action == "trust":
        path = Path(ref)
        if path.is_file():
            try:
                target = pki.copy_in(path, "trusted")
            except ValueError as exc:
                print(f"{path}: not a certificate ({exc})", file=sys.stderr)
                return 1
            _drop(pki, "rejected", load_certificate_file(target))
            print(f"trusted {target.name}")
            return 0
        hits = pki.find(ref, ["rejected"])
        if not hits:
            already = pki.find(ref, ["trusted"])
            if already:
                print(f"already trusted: {already[0].path.name}")
                return 0
            print(
                f"no rejected certificate matches {ref!r} (see `ampacity certs list`)",
                file=sys.stderr,
            )
            return 1
        if len({h.thumbprint for h in hits}) > 1:
            print(
                f"{ref!r} matches several certificates; give more of the thumbprint",
                file=sys.stderr,
            )
            return EXIT_USAGE
        pki.ensure_folders()
        target = pki.move(hits[0], "trusted")
        print(f"trusted {target.name}")
        return 0
    hits = pki.find(ref, ["trusted"])
    if not hits:
        print(f"no trusted certificate matches {ref!r}", file=sys.stderr)
        return 1
    if len({h.thumbprint for h in hits}) > 1:
        print(f"{ref!r} matches several certificates; give more of the thumbprint", file=sys.stderr)
        return EXIT_USAGE
    target = pki.move(hits[0], "rejected")
    print(f"rejected {target.name} (moved to rejected/)")
    return 0


def _drop(pki: Pki, folder: str, cert: object) -> None:
    for entry in pki.entries(folder):
        if entry.cert == cert:
            pki.remove(entry)
