"""Shared pieces of the security tests: test certificates (made once per run) and a configured
site with users, a ``Marketer`` method and an operator method, served on a free port."""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ampacity.server.app import RunningSite, start_site
from ampacity.server.config import ServerSettings, SiteConfig, SiteInfo
from ampacity.server.security import Role, SecurityConfig
from ampacity.server.security.pki import make_certificate
from ampacity.server.security.users import UserRecord, UsersFile, hash_password
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CLIENT_URI = "urn:ampacity:test:client"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PASSWORDS = {
    "viewer": "viewer-pass-1",
    "operator": "operator-pass-1",
    "marketer": "marketer-pass-1",
    "admin": "admin-pass-1",
}
"""One user per role, named after the role."""


@dataclass(frozen=True)
class ClientCert:
    cert: Path
    key: Path
    der: bytes

    @property
    def thumbprint(self) -> str:
        import hashlib

        return hashlib.sha1(self.der).hexdigest().upper()


@dataclass(frozen=True)
class CertSet:
    folder: Path
    trusted: ClientCert
    untrusted: ClientCert
    expired: ClientCert
    ca: ClientCert
    ca_signed: ClientCert
    revoked: ClientCert
    crl: Path
    user: ClientCert
    """An X.509 user token certificate (mapped to the user ``certuser``)."""


def _save(folder: Path, name: str, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> ClientCert:
    der = cert.public_bytes(serialization.Encoding.DER)
    (folder / f"{name}.der").write_bytes(der)
    (folder / f"{name}.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return ClientCert(folder / f"{name}.der", folder / f"{name}.pem", der)


@functools.cache
def client_certs() -> CertSet:
    """Client, CA and user certificates, generated once per test run (2048-bit keys)."""
    folder = Path(tempfile.mkdtemp(prefix="ampacity-test-certs-"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def client(name: str, **kwargs: Any) -> x509.Certificate:
        return make_certificate(key, CLIENT_URI, name, ["localhost"], 365, client=True, **kwargs)

    now = dt.datetime.now(dt.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ampacity Test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    revoked_cert = client("revoked client", issuer=(ca_name, ca_key))
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_name)
        .last_update(now - dt.timedelta(days=1))
        .next_update(now + dt.timedelta(days=30))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(revoked_cert.serial_number)
            .revocation_date(now - dt.timedelta(hours=1))
            .build()
        )
        .sign(ca_key, hashes.SHA256())
    )
    crl_path = folder / "ca.crl.der"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    user_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return CertSet(
        folder,
        trusted=_save(folder, "trusted", client("trusted client"), key),
        untrusted=_save(folder, "untrusted", client("untrusted client"), key),
        expired=_save(
            folder,
            "expired",
            client("expired client", not_before=now - dt.timedelta(days=800)),
            key,
        ),
        ca=_save(folder, "ca", ca_cert, ca_key),
        ca_signed=_save(
            folder, "ca_signed", client("ca-signed client", issuer=(ca_name, ca_key)), key
        ),
        revoked=_save(folder, "revoked", revoked_cert, key),
        crl=crl_path,
        user=_save(
            folder,
            "user",
            make_certificate(user_key, "urn:ampacity:test:user", "certuser", [], 365, client=True),
            user_key,
        ),
    )


@dataclass
class SecureSite:
    site: RunningSite
    data_dir: Path
    ns: int

    @property
    def endpoint(self) -> str:
        return self.site.config.server.endpoint

    @property
    def server_cert(self) -> Path:
        return self.site.config.security.pki_path(self.data_dir) / "own" / "cert.der"

    def node(self, key: str) -> ua.NodeId:
        return ua.NodeId(key, self.ns)


SITE_ID = "sec"


async def start_secure_site(
    data_dir: Path,
    security: SecurityConfig,
    trusted: Iterable[Path] = (),
    issuers: Iterable[Path] = (),
    crls: Iterable[Path] = (),
) -> SecureSite:
    """A configured site without devices: its limits are the setpoints; a ``Marketer`` object
    with ``SetActivePowerLimit`` and an operator method ``ResetStatistics`` on the site."""
    pki = security.pki_path(data_dir)
    for folder, files in (("trusted", trusted), ("issuers", issuers), ("crl", crls)):
        (pki / folder).mkdir(parents=True, exist_ok=True)
        for file in files:
            (pki / folder / file.name).write_bytes(file.read_bytes())
    users = {
        name: UserRecord(name, Role(name), hash_password(password))
        for name, password in PASSWORDS.items()
    }
    certs = client_certs()
    import hashlib

    users["certuser"] = UserRecord(
        "certuser", Role.OPERATOR, None, [hashlib.sha256(certs.user.der).hexdigest().upper()]
    )
    UsersFile(security.users_path(data_dir)).save(users)
    config = SiteConfig(
        site=SiteInfo(id=SITE_ID, name="Security test site"),
        server=ServerSettings(port=free_port(), data_dir=data_dir),
        security=security,
    )
    site = await start_site(config, [])
    server = site.server
    ns = site.site_ns
    site_node = server.get_node(ua.NodeId(SITE_ID, ns))

    async def set_limit(_parent: ua.NodeId, percent: ua.Variant) -> list[ua.Variant]:
        return [ua.Variant(0 <= percent.Value <= 100, ua.VariantType.Boolean)]

    async def reset(_parent: ua.NodeId) -> list[ua.Variant]:
        return []

    marketer = await site_node.add_object(
        ua.NodeId(f"{SITE_ID}.Marketer", ns), ua.QualifiedName("Marketer", ns)
    )
    await marketer.add_method(
        ua.NodeId(f"{SITE_ID}.Marketer.SetActivePowerLimit", ns),
        ua.QualifiedName("SetActivePowerLimit", ns),
        set_limit,
        [ua.VariantType.Double],
        [ua.VariantType.Boolean],
    )
    await site_node.add_method(
        ua.NodeId(f"{SITE_ID}.ResetStatistics", ns),
        ua.QualifiedName("ResetStatistics", ns),
        reset,
        [],
        [],
    )
    return SecureSite(site, data_dir, ns)


async def connect(
    site: SecureSite,
    *,
    user: str | None = None,
    password: str | None = None,
    policy: Any = SecurityPolicyBasic256Sha256,
    mode: ua.MessageSecurityMode = ua.MessageSecurityMode.SignAndEncrypt,
    cert: ClientCert | None = None,
    user_cert: ClientCert | None = None,
    timeout: float = 5,  # noqa: ASYNC109 - the client's request timeout
) -> Client:
    """A connected asyncua client (``policy=None``: security policy None)."""
    client = Client(site.endpoint, timeout=timeout)
    client.application_uri = CLIENT_URI
    if policy is not None:
        cert = cert or client_certs().trusted
        await client.set_security(
            policy,
            str(cert.cert),
            str(cert.key),
            server_certificate=str(site.server_cert),
            mode=mode,
        )
    if user is not None:
        client.set_user(user)
        client.set_password(password or PASSWORDS.get(user, ""))
    if user_cert is not None:
        await client.load_client_certificate(str(user_cert.cert))
        await client.load_private_key(user_cert.key)
    await client.connect()
    return client
