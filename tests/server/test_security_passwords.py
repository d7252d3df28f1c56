"""UserName tokens: the password is encrypted with the endpoint's security policy, or refused.

A client that ignores the token policy and sends the password in clear text is refused with
``BadIdentityTokenInvalid`` on Sign and on SignAndEncrypt endpoints; only
``security.allow_cleartext_password_on_encrypted_channel`` lets it in, and only on
SignAndEncrypt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from ampacity.server.security import SecurityConfig
from ampacity.server.security.config import LoginThrottleSettings
from asyncua import Client, ua
from asyncua.crypto import security_policies
from asyncua.crypto.security_policies import (
    SecurityPolicyAes256Sha256RsaPss,
    SecurityPolicyBasic256Sha256,
)
from security_support import (
    CLIENT_URI,
    PASSWORDS,
    SITE_ID,
    SecureSite,
    client_certs,
    connect,
    start_secure_site,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SIGN = ua.MessageSecurityMode.Sign
ENCRYPT = ua.MessageSecurityMode.SignAndEncrypt
NONE_URI = security_policies.SecurityPolicyNone.URI


class ClearTextClient(Client):
    """A client that sends the password unencrypted whatever the endpoint asks for, or encrypted
    with the algorithm of ``encrypt_with`` (a security policy URI)."""

    encrypt_with: str | None = None

    def _add_user_auth(
        self, params: ua.ActivateSessionParameters, username: str | None, password: str | None
    ) -> None:
        policy = self.server_policy(ua.UserTokenType.UserName)
        token = ua.UserNameIdentityToken(PolicyId=policy.PolicyId, UserName=username)
        if self.encrypt_with is None:
            token.Password = (password or "").encode()
        else:
            token.Password, token.EncryptionAlgorithm = self._encrypt_password(
                password or "", self.encrypt_with
            )
        params.UserIdentityToken = token


async def _login(
    site: SecureSite,
    mode: ua.MessageSecurityMode,
    policy: Any = SecurityPolicyBasic256Sha256,
    encrypt_with: str | None = None,
) -> Client:
    certs = client_certs()
    client = ClearTextClient(site.endpoint, timeout=5)
    client.encrypt_with = encrypt_with
    client.application_uri = CLIENT_URI
    await client.set_security(
        policy,
        str(certs.trusted.cert),
        str(certs.trusted.key),
        server_certificate=str(site.server_cert),
        mode=mode,
    )
    client.set_user("operator")
    client.set_password(PASSWORDS["operator"])
    await client.connect()
    return client


async def _start(tmp_path_factory: pytest.TempPathFactory, **security: Any) -> SecureSite:
    return await start_secure_site(
        tmp_path_factory.mktemp("password-site"),
        SecurityConfig(login_throttle=LoginThrottleSettings(free_failures=50), **security),
        trusted=[client_certs().trusted.cert],
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureSite]:
    running = await _start(tmp_path_factory)
    try:
        yield running
    finally:
        await running.site.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lenient_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureSite]:
    running = await _start(tmp_path_factory, allow_cleartext_password_on_encrypted_channel=True)
    try:
        yield running
    finally:
        await running.site.stop()


async def _refused(site: SecureSite, mode: ua.MessageSecurityMode, **kwargs: Any) -> int:
    with pytest.raises(ua.UaStatusCodeError) as exc:
        client = await _login(site, mode, **kwargs)
        await client.disconnect()
    return exc.value.code


async def _user_token_policies(site: SecureSite) -> dict[tuple[str, int], str]:
    client = Client(site.endpoint, timeout=5)
    endpoints = await client.connect_and_get_server_endpoints()
    return {
        (e.SecurityPolicyUri.rsplit("#", 1)[-1], int(e.SecurityMode)): t.SecurityPolicyUri
        for e in endpoints
        for t in e.UserIdentityTokens
        if t.TokenType == ua.UserTokenType.UserName
    }


@pytest.mark.parametrize("mode", [SIGN, ENCRYPT], ids=["Sign", "SignAndEncrypt"])
async def test_clear_text_password_refused(site: SecureSite, mode: ua.MessageSecurityMode) -> None:
    assert await _refused(site, mode) == ua.StatusCodes.BadIdentityTokenInvalid


async def test_refusal_is_audited_with_the_reason(
    site: SecureSite, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="ampacity.audit"):
        await _refused(site, SIGN)
    lines = [r.getMessage() for r in caplog.records if r.name == "ampacity.audit"]
    assert any(
        "clear-text password on a Sign channel" in line
        and "'status': 'BadIdentityTokenInvalid'" in line
        for line in lines
    ), lines


async def test_password_encrypted_with_another_policys_algorithm_refused(
    site: SecureSite,
) -> None:
    """Basic256Sha256 endpoint, password encrypted for Aes256_Sha256_RsaPss (OAEP-SHA256)."""
    code = await _refused(site, SIGN, encrypt_with=SecurityPolicyAes256Sha256RsaPss.URI)
    assert code == ua.StatusCodes.BadIdentityTokenInvalid


@pytest.mark.parametrize("mode", [SIGN, ENCRYPT], ids=["Sign", "SignAndEncrypt"])
@pytest.mark.parametrize(
    "policy", [SecurityPolicyBasic256Sha256, SecurityPolicyAes256Sha256RsaPss], ids=lambda p: p.URI
)
async def test_encrypted_password_logs_in(
    site: SecureSite, mode: ua.MessageSecurityMode, policy: Any
) -> None:
    client = await _login(site, mode, policy, encrypt_with=policy.URI)
    try:
        value = await client.get_node(site.node(f"{SITE_ID}.FeedInLimit")).read_value()
    finally:
        await client.disconnect()
    assert value is None or value >= 0


async def test_token_policies_name_the_endpoints_policy(site: SecureSite) -> None:
    """A standard client then encrypts the password (asyncua's defaults say None on
    SignAndEncrypt)."""
    policies = await _user_token_policies(site)
    assert policies
    for (policy, _mode), token_policy in policies.items():
        assert token_policy.endswith("#" + policy)
    client = await connect(site, user="operator", mode=ENCRYPT)  # the stock asyncua client
    await client.disconnect()


async def test_clear_text_allowed_on_sign_and_encrypt_only_when_configured(
    lenient_site: SecureSite,
) -> None:
    client = await _login(lenient_site, ENCRYPT)
    await client.disconnect()
    assert await _refused(lenient_site, SIGN) == ua.StatusCodes.BadIdentityTokenInvalid
    policies = await _user_token_policies(lenient_site)
    assert {uri for (_p, mode), uri in policies.items() if mode == ENCRYPT} == {NONE_URI}
    assert NONE_URI not in {uri for (_p, mode), uri in policies.items() if mode == SIGN}
