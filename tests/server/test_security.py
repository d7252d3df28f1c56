"""Security through real asyncua clients over TCP: roles x services, policies, certificates,
passwords, anonymous and None rules, login throttling, audit.

The site is configured like a real one (no demo relaxations); each role has a user named after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ampacity.server.cli import main as ampacity_main
from ampacity.server.security import Role, SecurityConfig
from ampacity.server.security.config import LoginThrottleSettings
from ampacity.storage import EventKind
from asyncua import Client, ua
from asyncua.crypto.security_policies import (
    SecurityPolicyAes256Sha256RsaPss,
    SecurityPolicyBasic256Sha256,
)
from security_support import (
    PASSWORDS,
    SITE_ID,
    SecureSite,
    client_certs,
    connect,
    start_secure_site,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLES = ("viewer", "operator", "marketer", "admin")
OK = "ok"
DENIED = "BadUserAccessDenied"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def secure_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureSite]:
    """Defaults plus a lenient throttle (the matrix logs in often from 127.0.0.1)."""
    certs = client_certs()
    site = await start_secure_site(
        tmp_path_factory.mktemp("secure-site"),
        SecurityConfig(login_throttle=LoginThrottleSettings(free_failures=50)),
        trusted=[certs.trusted.cert, certs.expired.cert, certs.ca.cert],
        crls=[certs.crl],
    )
    try:
        yield site
    finally:
        await site.site.stop()


@contextlib.asynccontextmanager
async def session(site: SecureSite, **kwargs: Any) -> AsyncIterator[Client]:
    client = await connect(site, **kwargs)
    try:
        yield client
    finally:
        await client.disconnect()


async def outcome(action: Callable[[], Awaitable[Any]]) -> str:
    try:
        result = await action()
    except ua.UaStatusCodeError as exc:
        return ua.StatusCode(exc.code).name
    if isinstance(result, ua.StatusCode):
        return OK if result.is_good() else result.name
    return OK


# --- the role x service matrix ---------------------------------------------------------------

EXPECTED: dict[str, dict[str, Any]] = {
    "viewer": {
        "write_setpoint": DENIED,
        "write_attribute": DENIED,
        "call_marketer": DENIED,
        "call_operator": DENIED,
        "call_mismatched": "BadMethodInvalid",
        "history_update": DENIED,
        "add_nodes": DENIED,
        "delete_nodes": DENIED,
        "add_references": DENIED,
        "delete_references": DENIED,
        "user_access_level_write": False,
        "user_executable_marketer": False,
        "user_executable_operator": False,
    },
    "operator": {
        "write_setpoint": OK,
        "write_attribute": DENIED,
        "call_marketer": DENIED,
        "call_operator": OK,
        "call_mismatched": "BadMethodInvalid",
        "history_update": DENIED,
        "add_nodes": DENIED,
        "delete_nodes": DENIED,
        "add_references": DENIED,
        "delete_references": DENIED,
        "user_access_level_write": True,
        "user_executable_marketer": False,
        "user_executable_operator": True,
    },
    "marketer": {
        "write_setpoint": DENIED,
        "write_attribute": DENIED,
        "call_marketer": OK,
        "call_operator": DENIED,
        "call_mismatched": "BadMethodInvalid",
        "history_update": DENIED,
        "add_nodes": DENIED,
        "delete_nodes": DENIED,
        "add_references": DENIED,
        "delete_references": DENIED,
        "user_access_level_write": False,
        "user_executable_marketer": True,
        "user_executable_operator": False,
    },
    "admin": {
        "write_setpoint": OK,
        "write_attribute": OK,
        "call_marketer": OK,
        "call_operator": OK,
        "call_mismatched": OK,
        "history_update": "not denied",  # asyncua answers BadServiceUnsupported
        "add_nodes": OK,
        "delete_nodes": OK,
        "add_references": OK,
        "delete_references": OK,
        "user_access_level_write": True,
        "user_executable_marketer": True,
        "user_executable_operator": True,
    },
}
ALWAYS = {
    "read": OK,
    "browse": OK,
    "subscribe": OK,
    "history_read": OK,
    "call_safe": "not denied",
}


async def exercise(site: SecureSite, client: Client, tag: str) -> dict[str, Any]:
    """Every service once; returns each outcome (``ok`` or the StatusCode's name)."""
    ns = await client.get_namespace_index("urn:ampacity:site")
    limit = client.get_node(ua.NodeId(f"{SITE_ID}.FeedInLimit", ns))
    site_node = client.get_node(ua.NodeId(SITE_ID, ns))
    marketer = client.get_node(ua.NodeId(f"{SITE_ID}.Marketer", ns))
    set_limit = ua.NodeId(f"{SITE_ID}.Marketer.SetActivePowerLimit", ns)
    reset = ua.NodeId(f"{SITE_ID}.ResetStatistics", ns)
    got: dict[str, Any] = {}

    got["read"] = await outcome(limit.read_value)
    got["browse"] = await outcome(site_node.get_children)

    async def subscribe() -> None:
        sub = await client.create_subscription(100, None)
        await sub.subscribe_data_change(limit)
        await sub.delete()

    got["subscribe"] = await outcome(subscribe)
    now = datetime.now(UTC)
    got["history_read"] = await outcome(
        lambda: limit.read_raw_history(now - timedelta(hours=1), now)
    )
    safe = await outcome(
        lambda: client.get_node(ua.ObjectIds.Server).call_method(
            ua.NodeId(ua.ObjectIds.Server_GetMonitoredItems), ua.Variant(0, ua.VariantType.UInt32)
        )
    )
    got["call_safe"] = safe if safe == DENIED else "not denied"  # asyncua: BadNothingToDo
    got["write_setpoint"] = await outcome(
        lambda: limit.write_value(ua.DataValue(ua.Variant(5000.0, ua.VariantType.Double)))
    )
    got["write_attribute"] = await outcome(
        lambda: limit.write_attribute(
            ua.AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText("x")))
        )
    )
    got["call_marketer"] = await outcome(
        lambda: marketer.call_method(set_limit, ua.Variant(50.0, ua.VariantType.Double))
    )
    got["call_operator"] = await outcome(lambda: site_node.call_method(reset))
    got["call_mismatched"] = await outcome(lambda: marketer.call_method(reset))

    async def history_update() -> ua.StatusCode:
        details = ua.DeleteRawModifiedDetails(
            NodeId=limit.nodeid, StartTime=now - timedelta(days=1), EndTime=now
        )
        params = ua.HistoryUpdateParameters(HistoryUpdateDetails=[details])
        results = await client.uaclient.history_update(params)
        return results[0].StatusCode

    result = await outcome(history_update)
    got["history_update"] = result if result == DENIED else "not denied"

    added = ua.NodeId(f"{SITE_ID}.Added.{tag}", ns)

    async def add_nodes() -> None:
        await site_node.add_object(added, ua.QualifiedName(f"Added{tag}", ns))

    got["add_nodes"] = await outcome(add_nodes)

    async def add_references() -> None:
        await site_node.add_reference(
            ua.NodeId(ua.ObjectIds.Server),
            ua.ObjectIds.Organizes,
            forward=True,
            bidirectional=False,
        )

    got["add_references"] = await outcome(add_references)

    async def delete_references() -> ua.StatusCode:
        item = ua.DeleteReferencesItem(
            SourceNodeId=site_node.nodeid,
            ReferenceTypeId=ua.NodeId(ua.ObjectIds.Organizes),
            IsForward=True,
            TargetNodeId=ua.NodeId(ua.ObjectIds.Server),
            DeleteBidirectional=False,
        )
        return (await client.uaclient.delete_references([item]))[0]

    got["delete_references"] = await outcome(delete_references)

    async def delete_nodes() -> None:
        target = added if got["add_nodes"] == OK else limit.nodeid
        results = await client.delete_nodes([client.get_node(target)])
        for status in results[1]:
            status.check()

    got["delete_nodes"] = await outcome(delete_nodes)

    level = await limit.read_attribute(ua.AttributeIds.UserAccessLevel)
    got["user_access_level_write"] = bool(level.Value.Value & ua.AccessLevel.CurrentWrite.mask)
    for key, node_id in (("marketer", set_limit), ("operator", reset)):
        value = await client.get_node(node_id).read_attribute(ua.AttributeIds.UserExecutable)
        got[f"user_executable_{key}"] = bool(value.Value.Value)
    return got


@pytest.mark.parametrize("role", ROLES)
async def test_role_matrix(secure_site: SecureSite, role: str) -> None:
    async with session(secure_site, user=role) as client:
        got = await exercise(secure_site, client, role)
    assert got == {**ALWAYS, **EXPECTED[role]}


async def test_stored_access_levels_stay_as_configured(secure_site: SecureSite) -> None:
    """The per-session answer does not change the node: AccessLevel still says writable."""
    async with session(secure_site, user="viewer") as client:
        node = client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit"))
        level = await node.read_attribute(ua.AttributeIds.AccessLevel)
        assert level.Value.Value & ua.AccessLevel.CurrentWrite.mask
        mask = await node.read_attribute(ua.AttributeIds.UserWriteMask)
        assert mask.Value.Value == 0


async def test_x509_user_token_maps_to_its_user(secure_site: SecureSite) -> None:
    async with session(secure_site, user_cert=client_certs().user) as client:
        got = await exercise(secure_site, client, "certuser")
    assert got == {**ALWAYS, **EXPECTED["operator"]}


async def test_unknown_x509_user_token_refused(secure_site: SecureSite) -> None:
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site, user_cert=client_certs().untrusted)
    assert exc.value.code == ua.StatusCodes.BadUserAccessDenied


# --- policies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "mode"),
    [
        (SecurityPolicyBasic256Sha256, ua.MessageSecurityMode.Sign),
        (SecurityPolicyBasic256Sha256, ua.MessageSecurityMode.SignAndEncrypt),
        (SecurityPolicyAes256Sha256RsaPss, ua.MessageSecurityMode.Sign),
        (SecurityPolicyAes256Sha256RsaPss, ua.MessageSecurityMode.SignAndEncrypt),
    ],
    ids=[
        "Basic256Sha256-Sign",
        "Basic256Sha256-SignAndEncrypt",
        "Aes256-Sign",
        "Aes256-SignAndEncrypt",
    ],
)
async def test_each_policy_carries_a_session(
    secure_site: SecureSite, policy: Any, mode: Any
) -> None:
    async with session(secure_site, user="operator", policy=policy, mode=mode) as client:
        limit = client.get_node(secure_site.node(f"{SITE_ID}.GridImportLimit"))
        await limit.write_value(ua.DataValue(ua.Variant(12000.0, ua.VariantType.Double)))
        assert await limit.read_value() == 12000.0


async def test_endpoints_are_secure_by_default(secure_site: SecureSite) -> None:
    client = Client(secure_site.endpoint, timeout=5)
    endpoints = await client.connect_and_get_server_endpoints()
    offered = {(e.SecurityPolicyUri.rsplit("#", 1)[-1], e.SecurityMode.name) for e in endpoints}
    assert offered == {
        ("Basic256Sha256", "Sign"),
        ("Basic256Sha256", "SignAndEncrypt"),
        ("Aes256_Sha256_RsaPss", "Sign"),
        ("Aes256_Sha256_RsaPss", "SignAndEncrypt"),
    }
    for endpoint in endpoints:
        kinds = {t.TokenType for t in endpoint.UserIdentityTokens}
        assert ua.UserTokenType.Anonymous not in kinds
        assert kinds == {ua.UserTokenType.UserName, ua.UserTokenType.Certificate}


async def test_server_certificate(secure_site: SecureSite) -> None:
    from ampacity.server.security.pki import application_uri, load_certificate_file
    from cryptography import x509

    cert = load_certificate_file(secure_site.server_cert)
    assert application_uri(cert) == f"urn:ampacity:server:{SITE_ID}"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 1800 < days < 1830
    key = secure_site.server_cert.parent / "private" / "key.pem"
    assert key.stat().st_mode & 0o077 == 0
    for folder in ("own", "trusted", "rejected", "issuers", "crl"):
        assert (secure_site.server_cert.parent.parent / folder).is_dir()


# --- None and anonymous outside the demo ---------------------------------------------------------


async def test_none_refused_when_not_configured(secure_site: SecureSite) -> None:
    """asyncua opens None channels for discovery; a session on one is refused."""
    for user in (None, "admin"):
        with pytest.raises(ua.UaStatusCodeError) as exc:
            await connect(secure_site, policy=None, user=user)
        assert exc.value.code == ua.StatusCodes.BadSecurityPolicyRejected


async def test_anonymous_refused_by_default(secure_site: SecureSite) -> None:
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site)
    assert exc.value.code == ua.StatusCodes.BadIdentityTokenRejected


@pytest.mark.parametrize(("user", "password"), [("operator", "wrong-password"), ("nobody", "x")])
async def test_wrong_password_refused(secure_site: SecureSite, user: str, password: str) -> None:
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site, user=user, password=password)
    assert exc.value.code == ua.StatusCodes.BadUserAccessDenied


# --- certificates ------------------------------------------------------------------------------


async def test_untrusted_certificate_refused_then_trusted_with_the_cli(
    secure_site: SecureSite, capsys: pytest.CaptureFixture[str]
) -> None:
    certs = client_certs()
    rejected = secure_site.server_cert.parent.parent / "rejected"
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site, user="viewer", cert=certs.untrusted)
    assert exc.value.code == ua.StatusCodes.BadCertificateUntrusted
    stored = list(rejected.glob(f"*_{certs.untrusted.thumbprint}.der"))
    assert len(stored) == 1

    data_dir = ["--data-dir", str(secure_site.data_dir)]
    assert ampacity_main(["certs", "list", *data_dir]) == 0
    assert certs.untrusted.thumbprint in capsys.readouterr().out
    assert ampacity_main(["certs", "trust", certs.untrusted.thumbprint[:10], *data_dir]) == 0
    assert not list(rejected.glob("*.der"))

    async with session(secure_site, user="viewer", cert=certs.untrusted) as client:
        await client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit")).read_value()

    assert ampacity_main(["certs", "reject", certs.untrusted.thumbprint, *data_dir]) == 0
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site, user="viewer", cert=certs.untrusted)
    assert exc.value.code == ua.StatusCodes.BadCertificateUntrusted


async def test_expired_certificate_refused(secure_site: SecureSite) -> None:
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site, user="viewer", cert=client_certs().expired)
    assert exc.value.code == ua.StatusCodes.BadCertificateTimeInvalid


async def test_certificate_of_a_trusted_ca_accepted_unless_revoked(secure_site: SecureSite) -> None:
    certs = client_certs()
    async with session(secure_site, user="viewer", cert=certs.ca_signed) as client:
        await client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit")).read_value()
    with pytest.raises(ua.UaStatusCodeError) as exc:
        await connect(secure_site, user="viewer", cert=certs.revoked)
    assert exc.value.code == ua.StatusCodes.BadCertificateRevoked


# --- users CLI --------------------------------------------------------------------------------


async def test_users_cli_takes_effect_without_restart(
    secure_site: SecureSite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = ["--data-dir", str(secure_site.data_dir)]
    monkeypatch.setattr("sys.stdin", io.StringIO("first-password\n"))
    assert (
        ampacity_main(["users", "add", "scada", "--role", "viewer", "--password-stdin", *data_dir])
        == 0
    )
    async with session(secure_site, user="scada", password="first-password") as client:
        await client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit")).read_value()

    monkeypatch.setattr("sys.stdin", io.StringIO("second-password\n"))
    assert ampacity_main(["users", "passwd", "scada", "--password-stdin", *data_dir]) == 0
    with pytest.raises(ua.UaStatusCodeError):
        await connect(secure_site, user="scada", password="first-password")
    async with session(secure_site, user="scada", password="second-password"):
        pass

    assert ampacity_main(["users", "list", *data_dir]) == 0
    listing = capsys.readouterr().out
    assert "scada" in listing and "viewer" in listing and "$" not in listing
    text = (secure_site.data_dir / "users.yaml").read_text()
    assert "second-password" not in text and "scrypt$" in text

    assert ampacity_main(["users", "remove", "scada", *data_dir]) == 0
    with pytest.raises(ua.UaStatusCodeError):
        await connect(secure_site, user="scada", password="second-password")

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert (
        ampacity_main(["users", "add", "weak", "--role", "viewer", "--password-stdin", *data_dir])
        == 2
    )


# --- audit ---------------------------------------------------------------------------------------


async def test_audit_in_the_historian(secure_site: SecureSite) -> None:
    """Logins, failures, certificate decisions (security), writes and calls (history audit)."""
    async with session(secure_site, user="operator") as client:
        limit = client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit"))
        await limit.write_value(ua.DataValue(ua.Variant(4321.0, ua.VariantType.Double)))
    async with session(secure_site, user="viewer") as client:
        limit = client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit"))
        with pytest.raises(ua.UaStatusCodeError):
            await limit.write_value(ua.DataValue(ua.Variant(1.0, ua.VariantType.Double)))
    async with session(secure_site, user="viewer") as client:
        marketer = client.get_node(secure_site.node(f"{SITE_ID}.Marketer"))
        method = secure_site.node(f"{SITE_ID}.Marketer.SetActivePowerLimit")
        with pytest.raises(ua.UaStatusCodeError):
            await marketer.call_method(method, ua.Variant(10.0, ua.VariantType.Double))
    with pytest.raises(ua.UaStatusCodeError):
        await connect(secure_site, user="operator", password="not-it")
    historian = secure_site.site.historian
    await asyncio.sleep(0.2)
    await historian.flush()
    events, _ = await historian.read_events(None, None, None, limit=10_000)
    audits = {(e.extra or {}).get("audit") for e in events if e.kind == EventKind.SYSTEM.value}
    assert {"login", "login_failed", "certificate_accepted"} <= audits
    failed = [e for e in events if (e.extra or {}).get("audit") == "login_failed"]
    assert any(
        e.user_name == "operator" and (e.extra or {}).get("address") == "127.0.0.1" for e in failed
    )
    writes = [
        e
        for e in events
        if e.kind == EventKind.AUDIT_WRITE.value and e.source.endswith("FeedInLimit")
    ]
    by_user = {(e.user_name, e.status) for e in writes}
    assert ("operator", 0) in by_user
    assert ("viewer", ua.StatusCodes.BadUserAccessDenied) in by_user
    calls = [e for e in events if e.kind == EventKind.AUDIT_CALL.value]
    assert any(
        e.user_name == "viewer" and e.status == ua.StatusCodes.BadUserAccessDenied for e in calls
    )


# --- None + anonymous when configured; login throttle ---------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def open_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureSite]:
    """``allow_none`` and anonymous operators; a strict throttle."""
    site = await start_secure_site(
        tmp_path_factory.mktemp("open-site"),
        SecurityConfig(
            allow_none=True,
            anonymous=Role.OPERATOR,
            login_throttle=LoginThrottleSettings(free_failures=2, delay_s=1.0, max_delay_s=2.0),
        ),
        trusted=[client_certs().trusted.cert],
    )
    try:
        yield site
    finally:
        await site.site.stop()


async def write_limit(client: Client, site: SecureSite) -> str:
    limit = client.get_node(site.node(f"{SITE_ID}.FeedInLimit"))
    return await outcome(
        lambda: limit.write_value(ua.DataValue(ua.Variant(100.0, ua.VariantType.Double)))
    )


async def test_anonymous_on_none_is_read_only(open_site: SecureSite) -> None:
    async with session(open_site, policy=None) as client:
        limit = await client.get_node(open_site.node(f"{SITE_ID}.FeedInLimit")).read_value()
        assert limit is None or limit >= 0  # None: no limit
        assert await write_limit(client, open_site) == DENIED
    async with session(open_site) as client:  # encrypted: the configured anonymous role
        assert await write_limit(client, open_site) == OK


async def test_users_on_none_keep_their_role(open_site: SecureSite) -> None:
    async with session(open_site, policy=None, user="operator") as client:
        assert await write_limit(client, open_site) == OK


async def test_anonymous_on_none_raised_explicitly(tmp_path: Path) -> None:
    site = await start_secure_site(
        tmp_path,
        SecurityConfig(allow_none=True, anonymous=Role.VIEWER, anonymous_on_none=Role.OPERATOR),
    )
    try:
        async with session(site, policy=None) as client:
            assert await write_limit(client, site) == OK
    finally:
        await site.site.stop()


async def test_failed_logins_slow_down(open_site: SecureSite) -> None:
    for _ in range(2):  # free failures
        with pytest.raises(ua.UaStatusCodeError):
            await connect(open_site, user="operator", password="wrong-password")
    started = time.monotonic()
    with pytest.raises(ua.UaStatusCodeError):
        await connect(open_site, user="operator", password="wrong-password")
    # the third failure locks the address for 1 s: even the right password waits it out
    client = await connect(open_site, user="operator", timeout=10)
    waited = time.monotonic() - started
    await client.disconnect()
    assert waited >= 0.9
    # after a success the address starts afresh
    started = time.monotonic()
    with pytest.raises(ua.UaStatusCodeError):
        await connect(open_site, user="operator", password="wrong-password")
    assert time.monotonic() - started < 0.9


# --- sessions that are not activated; clear-text passwords -------------------------------------


async def test_no_service_before_activation(secure_site: SecureSite) -> None:
    """asyncua itself would serve a created but not activated session."""
    certs = client_certs()
    client = Client(secure_site.endpoint, timeout=5)
    client.application_uri = "urn:ampacity:test:client"
    await client.set_security(
        SecurityPolicyBasic256Sha256,
        str(certs.trusted.cert),
        str(certs.trusted.key),
        server_certificate=str(secure_site.server_cert),
    )
    await client.connect_socket()
    try:
        await client.send_hello()
        await client.open_secure_channel()
        await client.create_session()
        with pytest.raises(ua.UaStatusCodeError) as exc:
            await client.get_node(secure_site.node(f"{SITE_ID}.FeedInLimit")).read_value()
        assert exc.value.code == ua.StatusCodes.BadUserAccessDenied
    finally:
        client.disconnect_socket()


async def test_clear_text_password_refused_on_none(open_site: SecureSite) -> None:
    client = Client(open_site.endpoint, timeout=5)
    await client.connect_socket()
    try:
        await client.send_hello()
        await client.open_secure_channel()
        await client.create_session()
        params = ua.ActivateSessionParameters()
        params.LocaleIds = ["en"]
        params.UserIdentityToken = ua.UserNameIdentityToken(
            PolicyId="username", UserName="operator", Password=PASSWORDS["operator"].encode()
        )
        with pytest.raises(ua.UaStatusCodeError) as exc:
            await client.uaclient.activate_session(params)
        assert exc.value.code == ua.StatusCodes.BadIdentityTokenInvalid
    finally:
        client.disconnect_socket()
