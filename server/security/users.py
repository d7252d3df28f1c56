"""Users: the users file, scrypt password hashes, and asyncua's user manager.

``users.yaml`` (managed by ``ampacity users``; the server rereads it when it changes)::

    users:
      alice:
        role: operator
        password: scrypt$16384$8$1$<salt base64>$<hash base64>
        certificates: [<SHA-256 thumbprint of an X.509 user certificate>]

A user logs in with a user name and password, or with an X.509 user token whose certificate's
SHA-256 thumbprint is listed under ``certificates``.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from asyncua.crypto.permission_rules import User, UserRole

from .config import Role

log = logging.getLogger(__name__)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
"""Cost of a new hash: 16 MiB and some 50 ms per check. Logins are checked on the event loop
(asyncua's ActivateSession is synchronous), so the cost is bounded here and by the throttle."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = hash_password(secrets.token_hex(8))
"""Checked for unknown user names, so a wrong name costs as much time as a wrong password."""


@dataclass
class UserRecord:
    name: str
    role: Role
    password: str | None = None
    certificates: list[str] = field(default_factory=list)


class UsersFileError(ValueError):
    pass


class UsersFile:
    """The users file; reads are cached until the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, UserRecord] = {}

    def load(self) -> dict[str, UserRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._users = None, {}
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._users = self._parse(self.path.read_text(encoding="utf-8"))
            self._stamp = stamp
        return self._users

    def _parse(self, text: str) -> dict[str, UserRecord]:
        data = yaml.safe_load(text) or {}
        users = data.get("users") if isinstance(data, dict) else None
        if users is None:
            return {}
        if not isinstance(users, dict):
            raise UsersFileError(f"{self.path}: 'users' must be a mapping")
        result = {}
        for name, entry in users.items():
            if not isinstance(entry, dict):
                raise UsersFileError(f"{self.path}: user {name!r} must be a mapping")
            try:
                role = Role(str(entry.get("role")))
            except ValueError:
                raise UsersFileError(
                    f"{self.path}: user {name!r}: role must be one of "
                    f"{', '.join(r.value for r in Role)}"
                ) from None
            certs = [str(c).upper().replace(":", "") for c in entry.get("certificates") or []]
            result[str(name)] = UserRecord(str(name), role, entry.get("password"), certs)
        return result

    def save(self, users: dict[str, UserRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"users": {}}
        for name in sorted(users):
            record = users[name]
            entry: dict[str, Any] = {"role": record.role.value}
            if record.password:
                entry["password"] = record.password
            if record.certificates:
                entry["certificates"] = record.certificates
            data["users"][name] = entry
        text = "# Ampacity users; manage with `ampacity users`.\n" + yaml.safe_dump(
            data, sort_keys=False
        )
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self.path)


@dataclass
class AmpacityUser(User):
    """asyncua's session user with our role. asyncua's own role is ``Admin`` for admins and
    ``User`` otherwise, so its built-in checks agree with ours."""

    access: Role = Role.VIEWER
    login: str = "anonymous"
    """``anonymous``, ``password`` or ``certificate``."""

    @classmethod
    def of(cls, name: str, role: Role, login: str) -> AmpacityUser:
        ua_role = UserRole.Admin if role is Role.ADMIN else UserRole.User
        return cls(role=ua_role, name=name, access=role, login=login)


@dataclass(frozen=True)
class LoginContext:
    """What ActivateSession knows that asyncua's ``get_user`` signature does not carry."""

    token: str
    """``anonymous``, ``username`` or ``certificate``."""
    unsecured: bool
    """The secure channel uses security policy None."""


login_context: contextvars.ContextVar[LoginContext | None] = contextvars.ContextVar(
    "ampacity_login_context", default=None
)


class AmpacityUserManager:
    """asyncua ``UserManager``: users file, X.509 user tokens, anonymous rules."""

    def __init__(
        self,
        users: UsersFile,
        anonymous: Role | None,
        anonymous_on_none: Role,
        certificate_ok: Any = None,
    ) -> None:
        self.users = users
        self.anonymous = anonymous
        self.anonymous_on_none = anonymous_on_none
        self.certificate_ok = certificate_ok
        self.last_failure: str | None = None

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        context = login_context.get() or LoginContext("anonymous", False)
        self.last_failure = None
        try:
            users = self.users.load()
        except (UsersFileError, yaml.YAMLError, OSError) as exc:
            log.error("cannot read the users file: %s", exc)
            users = {}
        if context.token == "username":
            record = users.get(username or "")
            ok = verify_password(
                password or "", record.password if record and record.password else _DUMMY_HASH
            )
            if record is None or not record.password or not ok:
                self.last_failure = "unknown user" if record is None else "wrong password"
                return None
            return AmpacityUser.of(record.name, record.role, "password")
        if context.token == "certificate":
            if not isinstance(certificate, bytes):
                self.last_failure = "no certificate"
                return None
            tp = hashlib.sha256(certificate).hexdigest().upper()
            record = next((u for u in users.values() if tp in u.certificates), None)
            if record is None:
                self.last_failure = "unknown user certificate"
                return None
            if self.certificate_ok is not None and not self.certificate_ok(certificate):
                self.last_failure = "user certificate expired or revoked"
                return None
            return AmpacityUser.of(record.name, record.role, "certificate")
        if self.anonymous is None:
            self.last_failure = "anonymous access is disabled"
            return None
        role = self.anonymous_on_none if context.unsecured else self.anonymous
        return AmpacityUser.of("anonymous", role, "anonymous")
