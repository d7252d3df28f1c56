"""Client certificate checks: trust list, validity period, application URI, revocation.

Built on asyncua's ``CertificateValidator`` (time range, application URI, trusted, revoked) with
a ``TrustStore`` subclass that

* trusts a certificate found in ``trusted/`` directly (self-signed application certificates),
  or one that chains to a CA certificate in ``trusted/`` through ``issuers/``;
* treats a certificate as revoked only when a CRL *of its issuer* lists its serial number;
* reloads the folders when they change, so ``ampacity certs trust`` takes effect at once.

An untrusted certificate is copied to ``rejected/``. Every decision is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .audit import SecurityAudit
from .pki import Pki, application_uri, common_name, load_certificate_file, thumbprint

log = logging.getLogger(__name__)

CHECKS = (
    CertificateValidatorOptions.TIME_RANGE
    | CertificateValidatorOptions.URI
    | CertificateValidatorOptions.TRUSTED
    | CertificateValidatorOptions.REVOKED
    | CertificateValidatorOptions.PEER_CLIENT
)
"""Key usage flags are not checked: several widespread clients omit non-repudiation."""


class FolderTrustStore(TrustStore):
    """asyncua's TrustStore over the PKI folders; see the module docstring for the differences."""

    def __init__(self, pki: Pki) -> None:
        super().__init__([pki.folder("trusted")], [pki.folder("crl")])
        self._pki = pki
        self._direct: set[bytes] = set()
        self._issuers: list[x509.Certificate] = []
        self._cas: list[x509.Certificate] = []
        self._crls: list[x509.CertificateRevocationList] = []
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self.trusted_thumbprints: set[str] = set()

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        items = []
        for name in ("trusted", "issuers", "crl"):
            folder = self._pki.folder(name)
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                try:
                    stat = file.stat()
                except OSError:
                    continue
                items.append((str(file), stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(items))

    def refresh(self) -> tuple[set[str], set[str]] | None:
        """Reload when the folders changed; returns (added, removed) trusted thumbprints."""
        stamp = self._signature()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        trusted = [e.cert for e in self._pki.entries("trusted")]
        self._direct = {c.public_bytes(serialization.Encoding.DER) for c in trusted}
        self._cas = [c for c in trusted if _is_ca(c)]
        self._issuers = [e.cert for e in self._pki.entries("issuers")]
        self._crls = _load_crls(self._pki.folder("crl"))
        self._trust_store = x509.verification.Store(self._cas) if self._cas else None
        before = self.trusted_thumbprints
        self.trusted_thumbprints = {thumbprint(c) for c in trusted}
        return self.trusted_thumbprints - before, before - self.trusted_thumbprints

    def is_trusted(self, certificate: x509.Certificate) -> bool:
        if certificate.public_bytes(serialization.Encoding.DER) in self._direct:
            return True
        if self._trust_store is None:
            return False
        verifier = self.policy_builder.store(self._trust_store).build_client_verifier()
        try:
            chain = verifier.verify(certificate, self._issuers)
        except Exception:  # VerificationError, or a certificate the verifier cannot parse
            return False
        return not any(self.is_revoked(c) for c in chain.chain[1:])

    def is_revoked(self, certificate: x509.Certificate) -> bool:
        for crl in self._crls:
            if crl.issuer != certificate.issuer:
                continue
            if crl.get_revoked_certificate_by_serial_number(certificate.serial_number):
                return True
        return False


class ClientCertificateValidator:
    """Decides whether a client application certificate may open a session."""

    def __init__(self, pki: Pki, audit: SecurityAudit) -> None:
        self.pki = pki
        self.audit = audit
        self.store = FolderTrustStore(pki)
        self._validator = CertificateValidator(CHECKS, self.store)
        self.store.refresh()

    def refresh(self) -> None:
        """Reload changed folders; a change of the trust list is audited."""
        change = self.store.refresh()
        if change is None:
            return
        added, removed = change
        for tp in sorted(added):
            self.audit.on_event("certificate_trusted", None, None, {"thumbprint": tp})
        for tp in sorted(removed):
            self.audit.on_event("certificate_untrusted", None, None, {"thumbprint": tp})

    async def check(
        self, der: bytes, description: ua.ApplicationDescription | None, source: str | None
    ) -> None:
        """Raise ``ServiceError`` (BadCertificate...) unless the certificate may connect."""
        self.refresh()
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            self.audit.on_event(
                "certificate_rejected", None, source, {"reason": "BadCertificateInvalid"}
            )
            raise ServiceError(ua.StatusCodes.BadCertificateInvalid) from None
        details = {
            "thumbprint": thumbprint(cert),
            "subject": common_name(cert),
            "application_uri": application_uri(cert),
        }
        description = description or ua.ApplicationDescription()
        if not description.ApplicationUri:
            # a client that does not describe itself is checked against its own certificate
            description.ApplicationUri = application_uri(cert) or ""
        try:
            await self._validator.validate(cert, description)
        except ServiceError as exc:
            reason = ua.StatusCode(exc.code).name
            if not self.store.is_trusted(cert):
                path = self.pki.remember_rejected(cert)
                details["stored_as"] = str(path) if path else None
            self.audit.on_event("certificate_rejected", None, source, {**details, "reason": reason})
            raise
        self.audit.on_event("certificate_accepted", None, source, details)

    def user_certificate_ok(self, der: bytes) -> bool:
        """An X.509 user token: within its validity period and not revoked."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return False
        now = dt.datetime.now(dt.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return False
        self.refresh()
        return not self.store.is_revoked(cert)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _load_crls(folder: Path) -> list[x509.CertificateRevocationList]:
    crls: list[x509.CertificateRevocationList] = []
    if not folder.is_dir():
        return crls
    for file in sorted(folder.iterdir()):
        try:
            data = file.read_bytes()
            if b"-----BEGIN X509 CRL-----" in data:
                crls.append(x509.load_pem_x509_crl(data))
            else:
                crls.append(x509.load_der_x509_crl(data))
        except (ValueError, OSError):
            log.warning("ignoring %s: not a certificate revocation list", file)
    return crls


__all__ = ["ClientCertificateValidator", "FolderTrustStore", "load_certificate_file"]
