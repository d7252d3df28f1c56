"""Security building blocks without a server: config, password hashes, users file, throttle,
server certificate creation and renewal, trust store."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from ampacity.server.config import ConfigError, load_config
from ampacity.server.security import Role, SecurityConfig
from ampacity.server.security.config import LoginThrottleSettings
from ampacity.server.security.pki import Pki, application_uri, load_certificate_file, thumbprint
from ampacity.server.security.throttle import LoginThrottle
from ampacity.server.security.users import (
    AmpacityUserManager,
    LoginContext,
    UserRecord,
    UsersFile,
    hash_password,
    login_context,
    verify_password,
)
from ampacity.server.security.validator import FolderTrustStore
from cryptography import x509
from security_support import client_certs


def test_defaults_are_secure() -> None:
    config = SecurityConfig()
    assert config.policies == ["Basic256Sha256", "Aes256_Sha256_RsaPss"]
    assert config.modes == ["Sign", "SignAndEncrypt"]
    assert config.allow_none is False
    assert config.anonymous is None
    assert config.anonymous_on_none is Role.VIEWER
    assert config.pki_path(Path("/d")) == Path("/d/pki")
    assert config.users_path(Path("/d")) == Path("/d/users.yaml")
    demo = SecurityConfig.demo()
    assert demo.allow_none and demo.anonymous is Role.OPERATOR


def test_security_section_in_a_site_file(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        textwrap.dedent(
            """\
            security:
              allow_none: true
              anonymous: viewer
              users_file: /etc/ampacity/users.yaml
            """
        )
    )
    config = load_config(site)
    assert config.security.anonymous is Role.VIEWER
    assert config.security.users_path(config.server.data_dir) == Path("/etc/ampacity/users.yaml")
    site.write_text("security:\n  anonymous: superuser\n  policies: [Basic128Rsa15]\n")
    with pytest.raises(ConfigError) as exc:
        load_config(site)
    text = "\n".join(exc.value.errors)
    assert "site.yaml:2: security.anonymous" in text
    assert "site.yaml:3: security.policies[0]" in text


def test_password_hashes() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("x", "garbage")
    assert hash_password("correct horse") != stored  # salted


def test_user_manager(tmp_path: Path) -> None:
    file = UsersFile(tmp_path / "users.yaml")
    file.save({"ann": UserRecord("ann", Role.MARKETER, hash_password("pw-of-ann"))})
    assert (tmp_path / "users.yaml").stat().st_mode & 0o077 == 0
    manager = AmpacityUserManager(file, anonymous=None, anonymous_on_none=Role.VIEWER)

    def login(kind: str, unsecured: bool = False, **kw: object) -> object:
        token = login_context.set(LoginContext(kind, unsecured))
        try:
            return manager.get_user(None, **kw)  # type: ignore[arg-type]
        finally:
            login_context.reset(token)

    user = login("username", username="ann", password="pw-of-ann")
    assert getattr(user, "access", None) is Role.MARKETER and getattr(user, "name", None) == "ann"
    assert login("username", username="ann", password="nope") is None
    assert manager.last_failure == "wrong password"
    assert login("username", username="bob", password="pw-of-ann") is None
    assert manager.last_failure == "unknown user"
    assert login("anonymous") is None
    manager.anonymous = Role.ADMIN
    assert getattr(login("anonymous"), "access", None) is Role.ADMIN
    assert getattr(login("anonymous", unsecured=True), "access", None) is Role.VIEWER


def test_throttle() -> None:
    now = [0.0]
    throttle = LoginThrottle(
        LoginThrottleSettings(free_failures=2, delay_s=1, max_delay_s=4, forget_after_s=60),
        clock=lambda: now[0],
    )
    assert [throttle.failed("a") for _ in range(6)] == [0, 0, 1, 2, 4, 4]
    assert throttle.wait_s("a") == 4 and throttle.wait_s("b") == 0
    now[0] = 3.0
    assert throttle.wait_s("a") == 1
    now[0] = 100.0  # quiet for longer than forget_after_s
    assert throttle.wait_s("a") == 0 and throttle.failures("a") == 0
    throttle.failed("a")
    throttle.succeeded("a")
    assert throttle.failures("a") == 0


def test_server_certificate_created_once_and_renewed(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    hosts = ["localhost", "127.0.0.1", "box.local"]
    assert pki.ensure_server_certificate("urn:a", "Ampacity@box", hosts)
    cert = pki.server_certificate()
    assert application_uri(cert) == "urn:a"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and usage.data_encipherment
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert not pki.ensure_server_certificate("urn:a", "Ampacity@box", hosts)
    assert thumbprint(pki.server_certificate()) == thumbprint(cert)
    # a new application URI (site id changed) or a new host name: a new certificate
    assert pki.ensure_server_certificate("urn:b", "Ampacity@box", hosts)
    assert pki.ensure_server_certificate("urn:b", "Ampacity@box", [*hosts, "10.0.0.7"])
    assert len(list((tmp_path / "pki" / "own").glob("cert-*.der"))) >= 1
    # close to expiry: renewed
    assert pki.ensure_server_certificate("urn:c", "x", hosts, validity_days=30)
    assert not pki.ensure_server_certificate("urn:c", "x", hosts, renew_days=14)
    assert pki.ensure_server_certificate("urn:c", "x", hosts, renew_days=60)
    left = pki.server_certificate().not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert left > dt.timedelta(days=1800)


def test_trust_store(tmp_path: Path) -> None:
    certs = client_certs()
    pki = Pki(tmp_path)
    pki.ensure_folders()
    store = FolderTrustStore(pki)
    store.refresh()
    trusted = load_certificate_file(certs.trusted.cert)
    assert not store.is_trusted(trusted)
    pki.add("trusted", trusted)
    assert store.refresh() == ({thumbprint(trusted)}, set())
    assert store.is_trusted(trusted)
    ca_signed = load_certificate_file(certs.ca_signed.cert)
    assert not store.is_trusted(ca_signed)
    pki.add("trusted", load_certificate_file(certs.ca.cert))
    store.refresh()
    assert store.is_trusted(ca_signed)
    revoked = load_certificate_file(certs.revoked.cert)
    assert not store.is_revoked(revoked)
    (tmp_path / "crl" / certs.crl.name).write_bytes(certs.crl.read_bytes())
    store.refresh()
    assert store.is_revoked(revoked) and not store.is_revoked(ca_signed)
    assert not store.is_revoked(trusted)  # same serial space, other issuer: not revoked


def test_rejected_folder_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ampacity.server.security import pki as pki_module

    monkeypatch.setattr(pki_module, "MAX_REJECTED", 2)
    pki = Pki(tmp_path)
    certs = client_certs()
    for path in (certs.trusted.cert, certs.untrusted.cert, certs.expired.cert):
        pki.remember_rejected(load_certificate_file(path))
    assert len(list((tmp_path / "rejected").glob("*.der"))) == 2


def test_expired_test_certificate_is_expired() -> None:
    cert = load_certificate_file(client_certs().expired.cert)
    assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
