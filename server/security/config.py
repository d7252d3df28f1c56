"""The ``security:`` section of a site file.

Secure by default: signed and encrypted endpoints only, no anonymous access, certificates and
users kept in the site's data folder. The demo site relaxes this explicitly (``demo()``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Role(StrEnum):
    """What a user may do (see ``roles.py`` for the exact rules)."""

    VIEWER = "viewer"
    """Browse, read, subscribe, read history."""
    OPERATOR = "operator"
    """A viewer who also writes setpoints and modes and calls the site's (non-marketer) methods."""
    MARKETER = "marketer"
    """A viewer who also calls the methods under ``Marketer`` objects; writes nothing."""
    ADMIN = "admin"
    """Everything, including HistoryUpdate, AddNodes and DeleteNodes."""


PolicyName = Literal["Basic256Sha256", "Aes256_Sha256_RsaPss", "Aes128_Sha256_RsaOaep"]
ModeName = Literal["Sign", "SignAndEncrypt"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificateSettings(_Strict):
    """The server's own application instance certificate, created on first start."""

    hostnames: list[str] = Field(
        default_factory=list,
        description="Extra DNS names or IP addresses for the subject alternative name.",
    )
    validity_days: int = Field(1825, ge=30, le=7300, description="Lifetime of a new certificate.")
    key_size: Literal[2048, 3072, 4096] = 2048
    renew_days: int = Field(
        14, ge=0, le=365, description="Renew on start when it expires within this many days."
    )


class LoginThrottleSettings(_Strict):
    """Failed logins slow down further attempts from the same source address."""

    free_failures: int = Field(3, ge=0, le=100, description="Failures before any delay.")
    delay_s: float = Field(1.0, gt=0, le=60, description="First delay; doubles per failure.")
    max_delay_s: float = Field(30.0, gt=0, le=3600)
    forget_after_s: float = Field(900.0, gt=0, description="A quiet address starts afresh.")


class ConnectionSettings(_Strict):
    """Limits that bound what a client can make the server hold before it has logged in.

    A connection counts as *unactivated* from TCP accept until its session is activated
    (Hello, OpenSecureChannel, CreateSession, ActivateSession). Until then a message may be at
    most ``UNACTIVATED_MAX_MESSAGE`` bytes (64 KiB: a certificate chain fits) and at most
    ``UNACTIVATED_MAX_QUEUED`` bytes may wait unprocessed; see ``transport.py``.
    """

    max_connections: int = Field(
        64, ge=1, le=10_000, description="TCP connections at once, logged in or not."
    )
    max_unactivated: int = Field(
        16, ge=1, le=10_000, description="Connections at once that have not activated a session."
    )
    max_unactivated_per_address: int = Field(
        4, ge=1, le=10_000, description="Of those, from one source address."
    )
    handshake_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A connection that has not activated a session by then is closed.",
    )
    max_message_size: int = Field(
        1024 * 1024,
        ge=65_536,
        le=64 * 1024 * 1024,
        description="Largest request (bytes) of a logged-in client, all chunks together.",
    )
    max_chunk_size: int = Field(
        65_535, ge=8_192, le=65_535, description="Largest message chunk (bytes) received."
    )


class SecurityConfig(_Strict):
    policies: list[PolicyName] = Field(
        default_factory=lambda: ["Basic256Sha256", "Aes256_Sha256_RsaPss"],  # type: ignore[arg-type]
        min_length=1,
        description="Security policies offered, each with every mode in ``modes``.",
    )
    modes: list[ModeName] = Field(
        default_factory=lambda: ["Sign", "SignAndEncrypt"],  # type: ignore[arg-type]
        min_length=1,
    )
    allow_none: bool = Field(
        False, description="Also offer the unsecured endpoint (security policy None)."
    )
    anonymous: Role | None = Field(
        None, description="Role of anonymous sessions; none: anonymous logins are refused."
    )
    anonymous_on_none: Role = Field(
        Role.VIEWER,
        description="Role of anonymous sessions on the None endpoint (read-only unless raised).",
    )
    pki_dir: Path | None = Field(
        None, description="Certificate folders (own, trusted, rejected, issuers, crl)."
    )
    users_file: Path | None = Field(None, description="The users file (``ampacity users``).")
    certificate: CertificateSettings = Field(default_factory=CertificateSettings)
    login_throttle: LoginThrottleSettings = Field(default_factory=LoginThrottleSettings)
    connections: ConnectionSettings = Field(default_factory=ConnectionSettings)
    allow_cleartext_password_on_encrypted_channel: bool = Field(
        False,
        description=(
            "Accept a UserName token whose password is not encrypted with the endpoint's policy "
            "on SignAndEncrypt channels (never on Sign or None): for clients that cannot "
            "encrypt the token."
        ),
    )

    @model_validator(mode="after")
    def _unique(self) -> SecurityConfig:
        self.policies = list(dict.fromkeys(self.policies))
        self.modes = list(dict.fromkeys(self.modes))
        return self

    @classmethod
    def demo(cls) -> SecurityConfig:
        """The demo site: also None, anonymous clients are operators (loopback only)."""
        return cls(allow_none=True, anonymous=Role.OPERATOR, anonymous_on_none=Role.OPERATOR)

    def pki_path(self, data_dir: Path) -> Path:
        return _under(data_dir, self.pki_dir, "pki")

    def users_path(self, data_dir: Path) -> Path:
        return _under(data_dir, self.users_file, "users.yaml")


def _under(data_dir: Path, value: Path | None, default: str) -> Path:
    if value is None:
        return data_dir / default
    return value if value.is_absolute() else data_dir / value
