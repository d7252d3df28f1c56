"""The PKI folder: the server's own certificate and the client trust list.

Layout (``<data_dir>/pki`` by default)::

    own/cert.der            the server's application instance certificate (also own/cert.pem)
    own/private/key.pem     its RSA private key (mode 0600)
    trusted/                client certificates (or CA certificates) that may connect
    rejected/               client certificates that tried and were refused
    issuers/                CA certificates that complete chains but are not trusted themselves
    crl/                    certificate revocation lists (PEM or DER)

Certificates are named ``<common name>_<SHA-1 thumbprint>.der``; the thumbprint is what OPC UA
tools show, so ``ampacity certs trust 3F2A`` finds a certificate by a thumbprint prefix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

FOLDERS = ("own", "trusted", "rejected", "issuers", "crl")
MAX_REJECTED = 200
"""At most this many certificates are kept in ``rejected/`` (oldest dropped), so a client trying
fresh certificates cannot fill the disk."""
CERT_SUFFIXES = (".der", ".pem", ".crt", ".cer")


def thumbprint(cert: x509.Certificate) -> str:
    """The SHA-1 thumbprint, upper-case hex, as OPC UA tools show it."""
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def sha256_thumbprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def application_uri(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def load_certificate_file(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _file_name(cert: x509.Certificate) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", common_name(cert)).strip("-")[:48] or "cert"
    return f"{name}_{thumbprint(cert)}.der"


@dataclass(frozen=True)
class CertEntry:
    """A certificate in one of the trust-list folders."""

    folder: str
    path: Path
    cert: x509.Certificate

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.cert)

    @property
    def subject(self) -> str:
        return common_name(self.cert)

    @property
    def application_uri(self) -> str | None:
        return application_uri(self.cert)


class Pki:
    """The folders, the server certificate, and trust-list moves."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str) -> Path:
        return self.root / name

    @property
    def cert_path(self) -> Path:
        return self.root / "own" / "cert.der"

    @property
    def key_path(self) -> Path:
        return self.root / "own" / "private" / "key.pem"

    def ensure_folders(self) -> None:
        for name in FOLDERS:
            self.folder(name).mkdir(parents=True, exist_ok=True)
        private = self.root / "own" / "private"
        private.mkdir(parents=True, exist_ok=True)
        os.chmod(private, 0o700)

    # --- the server's own certificate --------------------------------------------------------

    def ensure_server_certificate(
        self,
        app_uri: str,
        server_name: str,
        hosts: Iterable[str],
        validity_days: int = 1825,
        key_size: int = 2048,
        renew_days: int = 14,
    ) -> bool:
        """Create the server certificate unless a fitting one exists. Returns True if created.

        A certificate is replaced (the old one kept as ``own/cert-<date>.der``) when it does not
        name ``app_uri`` or one of ``hosts``, or expires within ``renew_days``.
        """
        self.ensure_folders()
        hosts = list(dict.fromkeys(hosts))
        reason = self._unfit(app_uri, hosts, renew_days)
        if reason is None:
            return False
        if self.cert_path.exists():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            self.cert_path.rename(self.cert_path.with_name(f"cert-{stamp}.der"))
            log.warning("replacing the server certificate: %s", reason)
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        cert = make_certificate(key, app_uri, server_name, hosts, validity_days)
        _write_private(self.key_path, key)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        self.cert_path.with_suffix(".pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
        )
        log.info("created the server certificate %s (%s)", thumbprint(cert), app_uri)
        return True

    def _unfit(self, app_uri: str, hosts: list[str], renew_days: int) -> str | None:
        if not self.cert_path.exists() or not self.key_path.exists():
            return "none yet"
        try:
            cert = load_certificate_file(self.cert_path)
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except (ValueError, OSError) as exc:
            return f"unreadable ({exc})"
        if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
            return "certificate and key do not match"
        if application_uri(cert) != app_uri:
            return f"its application URI is {application_uri(cert)!r}, not {app_uri!r}"
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(san.get_values_for_type(x509.DNSName)) | {
            str(a) for a in san.get_values_for_type(x509.IPAddress)
        }
        missing = [h for h in hosts if _canonical_host(h) not in names]
        if missing:
            return f"it does not name {', '.join(missing)}"
        left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
        if left < dt.timedelta(days=renew_days):
            return f"it expires on {cert.not_valid_after_utc:%Y-%m-%d}"
        return None

    def server_certificate(self) -> x509.Certificate:
        return load_certificate_file(self.cert_path)

    # --- trust list -----------------------------------------------------------------------------

    def entries(self, folder: str) -> list[CertEntry]:
        found = []
        path = self.folder(folder)
        if not path.is_dir():
            return []
        for file in sorted(path.iterdir()):
            if file.suffix.lower() not in CERT_SUFFIXES or not file.is_file():
                continue
            try:
                found.append(CertEntry(folder, file, load_certificate_file(file)))
            except (ValueError, OSError):
                log.warning("ignoring %s: not a certificate", file)
        return found

    def find(self, ref: str, folders: Iterable[str]) -> list[CertEntry]:
        """Certificates whose thumbprint starts with ``ref`` or whose file is named ``ref``."""
        ref_up = ref.upper().replace(":", "")
        hits = []
        for folder in folders:
            for entry in self.entries(folder):
                if entry.path.name == ref or (
                    len(ref_up) >= 4 and entry.thumbprint.startswith(ref_up)
                ):
                    hits.append(entry)
        return hits

    def is_in(self, folder: str, cert: x509.Certificate) -> bool:
        tp = thumbprint(cert)
        return any(e.thumbprint == tp for e in self.entries(folder))

    def add(self, folder: str, cert: x509.Certificate) -> Path:
        """Store ``cert`` in ``folder`` (idempotent); returns its path."""
        self.ensure_folders()
        target = self.folder(folder) / _file_name(cert)
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(cert.public_bytes(serialization.Encoding.DER))
            tmp.replace(target)
        return target

    def move(self, entry: CertEntry, folder: str) -> Path:
        target = self.add(folder, entry.cert)
        if entry.path != target:
            entry.path.unlink(missing_ok=True)
        return target

    def remember_rejected(self, cert: x509.Certificate) -> Path | None:
        """Keep a refused client certificate in ``rejected/`` for ``ampacity certs trust``."""
        try:
            path = self.add("rejected", cert)
            os.utime(path)
            files = sorted(self.folder("rejected").glob("*.der"), key=lambda p: p.stat().st_mtime)
            for old in files[:-MAX_REJECTED]:
                old.unlink(missing_ok=True)
            return path
        except OSError:
            log.exception("cannot store the rejected certificate")
            return None

    def copy_in(self, source: Path, folder: str) -> Path:
        return self.add(folder, load_certificate_file(source))

    def remove(self, entry: CertEntry) -> None:
        entry.path.unlink(missing_ok=True)


def make_certificate(
    key: rsa.RSAPrivateKey,
    app_uri: str,
    name: str,
    hosts: Iterable[str],
    validity_days: int,
    *,
    client: bool = False,
    not_before: dt.datetime | None = None,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None = None,
) -> x509.Certificate:
    """An OPC UA application instance certificate (self-signed unless ``issuer`` is given).

    Subject alternative name: the application URI, then each host as a DNS name or IP address.
    Key usage: digital signature, non-repudiation, key and data encipherment (and certificate
    signing when self-signed); extended key usage: server and client authentication.
    """
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ampacity"),
        ]
    )
    alt: list[x509.GeneralName] = [x509.UniformResourceIdentifier(app_uri)]
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    issuer_name, signer = issuer if issuer else (subject, key)
    usage = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if not client:
        usage.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=validity_days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=issuer is None,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    )
    return builder.sign(signer, hashes.SHA256())


def _write_private(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(path.with_suffix(".tmp"), path)


def _canonical_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


WILDCARDS = ("0.0.0.0", "::", "")


def server_hosts(bind_host: str, extra: Iterable[str] = ()) -> list[str]:
    """Names and addresses clients may use to reach the server, for the certificate's SAN."""
    hosts: list[str] = []
    name = socket.gethostname()
    hosts += [name, socket.getfqdn(), "localhost", "127.0.0.1"]
    if bind_host in WILDCARDS:
        try:
            for info in socket.getaddrinfo(name, None):
                address = str(info[4][0])
                if not address.startswith("fe80"):
                    hosts.append(address)
        except OSError:
            pass
    else:
        hosts.append(bind_host)
    hosts += list(extra)
    return list(dict.fromkeys(_canonical_host(h) for h in hosts if h))
