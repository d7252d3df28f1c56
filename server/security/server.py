"""Wiring security into asyncua's server: ``configure_security``.

What asyncua 2.1 lacks and how it is added (each covered by ``tests/server/test_security*.py``,
so an asyncua upgrade that breaks one fails a test):

* **Sessions** — ``iserver.create_session`` is replaced by a factory of ``SecureSession``, a
  subclass of asyncua's ``InternalSession`` that
  - at CreateSession: refuses a channel with security policy None unless ``allow_none``
    (asyncua opens such channels even when no None endpoint is offered, for discovery), and
    validates the *channel's* client certificate (not only the one named in the request) against
    the trust list; the certificate must match the one in the request; waits out the login
    throttle of the source address;
  - at ActivateSession: throttles and audits logins, refuses a password not encrypted with the
    endpoint's policy (``_password_problem``), tells the user manager the token kind and channel
    (``users.login_context``), and refuses a reconnect from a channel with a different certificate;
  - Read: answers ``UserAccessLevel``, ``UserExecutable`` and ``UserWriteMask`` for the
    session's role;
  - Write, Call: checked per operation (``BadUserAccessDenied``), audited;
  - HistoryUpdate, AddNodes, DeleteNodes, AddReferences, DeleteReferences: admin only.
  It finds the session's secure channel through ``server.bserver.clients`` (each protocol's
  ``processor.session`` and ``processor._connection.security_policy``).
* **Connections** — ``AmpacityServer`` (``transport.py``) bounds what an unauthenticated client
  can make the server hold and names the endpoint's policy in each UserName token policy.
* **Users** — ``iserver.user_manager`` is an ``AmpacityUserManager``.
* **Requests before ActivateSession** — a ``PermissionRuleset`` passed to every endpoint refuses
  every service but the session and discovery services to a session that is not activated.
* **RegisterServer** — refused (this server is no discovery server).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asyncua import Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole
from asyncua.server.internal_session import InternalSession, SessionState

from .audit import HistorianAuditSink, SecurityAudit
from .config import Role, SecurityConfig
from .pki import Pki, common_name, server_hosts
from .roles import AccessRules
from .throttle import LoginThrottle
from .transport import AmpacityServer, token_encryption_uri, transport_limits
from .users import AmpacityUser, AmpacityUserManager, LoginContext, UsersFile, login_context
from .validator import ClientCertificateValidator

if TYPE_CHECKING:
    from ampacity.server.config import SiteConfig

log = logging.getLogger(__name__)

POLICY_TYPES: dict[tuple[str, str], ua.SecurityPolicyType] = {
    ("Basic256Sha256", "Sign"): ua.SecurityPolicyType.Basic256Sha256_Sign,
    ("Basic256Sha256", "SignAndEncrypt"): ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ("Aes256_Sha256_RsaPss", "Sign"): ua.SecurityPolicyType.Aes256Sha256RsaPss_Sign,
    ("Aes256_Sha256_RsaPss", "SignAndEncrypt"): (
        ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt
    ),
    ("Aes128_Sha256_RsaOaep", "Sign"): ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
    ("Aes128_Sha256_RsaOaep", "SignAndEncrypt"): (
        ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt
    ),
}

session_user: contextvars.ContextVar[AmpacityUser | None] = contextvars.ContextVar(
    "ampacity_session_user", default=None
)
"""The calling session's user while a method runs (for methods that record who called)."""


@dataclass
class SecurityContext:
    config: SecurityConfig
    server: Server
    pki: Pki
    audit: SecurityAudit
    validator: ClientCertificateValidator
    users: AmpacityUserManager
    rules: AccessRules
    throttle: LoginThrottle
    endpoints: list[str]


_ANONYMOUS = User(role=UserRole.Anonymous)
_CONTEXT_ATTR = "_ampacity_security"
"""The attribute of a server that holds its ``SecurityContext``. On the server itself, not in a
``WeakKeyDictionary`` keyed by it: the context refers to its server, so such an entry kept every
server alive for the life of the process (each stopped server held on to its address space)."""


def security_of(server: Server) -> SecurityContext | None:
    context = getattr(server, _CONTEXT_ATTR, None)
    return context if isinstance(context, SecurityContext) else None


async def configure_security(server: Server, config: SiteConfig) -> SecurityContext:
    """Endpoints, server certificate, trust list, users, roles and audit for ``server``.

    Call after ``set_endpoint`` and ``set_application_uri``, before ``start``.
    """
    sec = config.security
    data_dir = config.server.data_dir
    pki = Pki(sec.pki_path(data_dir))
    app_uri = server.get_application_uri()
    hosts = server_hosts(config.server.host, sec.certificate.hostnames)
    await asyncio.to_thread(
        pki.ensure_server_certificate,
        app_uri,
        f"{config.server.name}@{hosts[0]}",
        hosts,
        sec.certificate.validity_days,
        sec.certificate.key_size,
        sec.certificate.renew_days,
    )
    await server.load_certificate(str(pki.cert_path))
    await server.load_private_key(str(pki.key_path))

    policies = [POLICY_TYPES[(p, m)] for p in sec.policies for m in sec.modes]
    if sec.allow_none:
        policies.append(ua.SecurityPolicyType.NoSecurity)
    if isinstance(server, AmpacityServer):
        server.apply_connection_settings(sec.connections)
        server.cleartext_on_encrypted = sec.allow_cleartext_password_on_encrypted_channel
    else:  # message and chunk limits only; connection caps need AmpacityServer
        log.warning("security: %s is no AmpacityServer: connections are not capped", server)
        server.limits = transport_limits(sec.connections)
        server.iserver.max_pending_activation_seconds = sec.connections.handshake_timeout_s
    audit = SecurityAudit()
    server.set_security_policy(policies, permission_ruleset=ActivatedSessionsOnly(audit))  # type: ignore[arg-type]
    tokens: list[type] = [ua.UserNameIdentityToken, ua.X509IdentityToken]
    if sec.anonymous is not None:
        tokens.insert(0, ua.AnonymousIdentityToken)
    server.set_identity_tokens(tokens)

    validator = ClientCertificateValidator(pki, audit)
    users = AmpacityUserManager(
        UsersFile(sec.users_path(data_dir)),
        sec.anonymous,
        sec.anonymous_on_none,
        certificate_ok=validator.user_certificate_ok,
    )
    iserver = server.iserver
    context = SecurityContext(
        sec,
        server,
        pki,
        audit,
        validator,
        users,
        AccessRules(iserver.aspace),
        LoginThrottle(sec.login_throttle),
        [f"{p} ({m})" for p in sec.policies for m in sec.modes] + (["None"] * sec.allow_none),
    )
    iserver.user_manager = users  # type: ignore[assignment]
    iserver.certificate_validator = None  # SecureSession validates the channel's certificate
    iserver.allow_remote_admin = False

    def create_session(
        name: str, user: User = _ANONYMOUS, external: bool = False
    ) -> InternalSession:
        if not external:
            return InternalSession(
                iserver, iserver.aspace, iserver.subscription_service, name, user
            )
        return SecureSession(
            context, iserver, iserver.aspace, iserver.subscription_service, name, user, external
        )

    def register_server(*_args: Any, **_kwargs: Any) -> None:
        raise ServiceError(ua.StatusCodes.BadServiceUnsupported)

    iserver.create_session = create_session  # type: ignore[method-assign]
    iserver.register_server = register_server  # type: ignore[method-assign]
    setattr(server, _CONTEXT_ATTR, context)
    _announce(context, config)
    return context


def audit_to_historian(server: Server, historian: Any, site_id: str) -> None:
    """Record the security audit of ``server`` in ``historian`` (see ``HistorianAuditSink``)."""
    context = security_of(server)
    if context is not None:
        context.audit.attach(HistorianAuditSink(historian, site_id))


def _announce(context: SecurityContext, config: SiteConfig) -> None:
    sec = context.config
    log.info("security: endpoints %s", ", ".join(context.endpoints))
    log.info(
        "security: certificates in %s, users in %s", context.pki.root, context.users.users.path
    )
    if sec.anonymous is None:
        log.info("security: anonymous logins refused")
    else:
        on_none = f" ({sec.anonymous_on_none.value} on None)" if sec.allow_none else ""
        level = logging.WARNING if sec.anonymous is not Role.VIEWER else logging.INFO
        log.log(
            level,
            "security: anonymous clients get the role %s%s: anyone who reaches %s may do what "
            "that role may (security.anonymous)",
            sec.anonymous.value,
            on_none,
            config.server.endpoint,
        )
    if sec.allow_none:
        log.warning(
            "security: the unsecured endpoint (None) is offered on %s", config.server.endpoint
        )


_HISTORY_UPDATE = ua.NodeId(ua.ObjectIds.HistoryUpdateRequest_Encoding_DefaultBinary)


class ActivatedSessionsOnly(PermissionRuleset):
    """Every service but the session and discovery services needs an activated session.

    HistoryUpdate is checked here: asyncua's message processor never hands it to the session
    (it answers BadServiceUnsupported), so a non-admin gets BadUserAccessDenied from this check.
    """

    def __init__(self, audit: SecurityAudit) -> None:
        self._audit = audit

    def check_validity(self, user: Any, action_type: Any, body: Any) -> bool:
        if not isinstance(user, AmpacityUser):
            return False
        if action_type == _HISTORY_UPDATE and user.access is not Role.ADMIN:
            self._audit.on_event(
                "access_denied",
                str(user.name),
                None,
                {"service": "HistoryUpdate", "role": user.access.value},
            )
            return False
        return True


class SecureSession(InternalSession):
    """asyncua's session with our checks; see the module docstring."""

    def __init__(self, context: SecurityContext, *args: Any, **kwargs: Any) -> None:
        self._ctx = context
        self._client_cert: bytes | None = None
        super().__init__(*args, **kwargs)

    # --- where the session comes from -------------------------------------------------------

    @property
    def source(self) -> str:
        name = self.name
        if isinstance(name, tuple) and name:
            return str(name[0])
        return str(name)

    def _channel_policy(self) -> Any:
        bserver = self._ctx.server.bserver
        for protocol in bserver.clients if bserver is not None else ():
            processor = protocol.processor
            if processor is not None and processor.session is self:
                return processor._connection.security_policy
        return None

    def _unsecured(self, policy: Any) -> bool:
        return policy is None or policy.Mode == ua.MessageSecurityMode.None_

    @property
    def role(self) -> Role:
        user = self.user
        if isinstance(user, AmpacityUser):
            return user.access
        return Role.ADMIN if user is not None and user.role == UserRole.Admin else Role.VIEWER

    @property
    def user_name(self) -> str:
        return str(getattr(self.user, "name", None) or "anonymous")

    def _require_activated(self) -> None:
        if self.state != SessionState.Activated or not isinstance(self.user, AmpacityUser):
            raise ServiceError(ua.StatusCodes.BadSessionNotActivated)

    # --- CreateSession / ActivateSession ---------------------------------------------------

    async def create_session(
        self, params: ua.CreateSessionParameters, sockname: tuple[str, int] | None = None
    ) -> ua.CreateSessionResult:
        ctx = self._ctx
        wait = ctx.throttle.wait_s(self.source)
        if wait > 0:
            await asyncio.sleep(wait)
        policy = self._channel_policy()
        if self._unsecured(policy):
            if not ctx.config.allow_none or policy is None:
                ctx.audit.on_event(
                    "access_denied",
                    None,
                    self.source,
                    {"service": "CreateSession", "reason": "security policy None is not offered"},
                )
                raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
        else:
            der = policy.peer_certificate
            if not der or (params.ClientCertificate and params.ClientCertificate != der):
                ctx.audit.on_event(
                    "certificate_rejected",
                    None,
                    self.source,
                    {"reason": "certificate differs from the secure channel's"},
                )
                raise ServiceError(ua.StatusCodes.BadCertificateInvalid)
            await ctx.validator.check(der, params.ClientDescription, self.source)
            self._client_cert = der
        return await super().create_session(params, sockname)

    def activate_session(
        self, params: ua.ActivateSessionParameters, peer_certificate: bytes | None
    ) -> ua.ActivateSessionResult:
        ctx = self._ctx
        token = params.UserIdentityToken
        kind, claimed = _token_kind(token)
        policy = self._channel_policy()
        unsecured = self._unsecured(policy)
        details: dict[str, Any] = {"token": kind, "policy": _policy_name(policy)}

        def refuse(code: int, reason: str, event: str = "login_failed") -> ServiceError:
            lock = ctx.throttle.failed(self.source) if event == "login_failed" else 0.0
            ctx.audit.on_event(
                event,
                claimed,
                self.source,
                {**details, "reason": reason, "status": code, "locked_s": lock},
            )
            return ServiceError(code)

        if ctx.throttle.wait_s(self.source) > 0:
            raise refuse(ua.StatusCodes.BadUserAccessDenied, "throttled", "login_throttled")
        if unsecured and not ctx.config.allow_none:
            raise refuse(ua.StatusCodes.BadSecurityPolicyRejected, "security policy None")
        channel_cert = None if unsecured else policy.peer_certificate
        if channel_cert != self._client_cert:
            raise refuse(ua.StatusCodes.BadSecurityChecksFailed, "channel certificate changed")
        if isinstance(token, ua.UserNameIdentityToken):
            problem = _password_problem(token, policy, ctx.config)
            if problem is not None:
                raise refuse(ua.StatusCodes.BadIdentityTokenInvalid, problem)
        reset = login_context.set(LoginContext(kind, unsecured))
        try:
            result = super().activate_session(params, peer_certificate)
        except (ServiceError, ua.UaStatusCodeError) as exc:
            code = exc.code
            reason = ctx.users.last_failure or ua.StatusCode(code).name
            raise refuse(code, reason) from None
        finally:
            login_context.reset(reset)
        ctx.throttle.succeeded(self.source)
        ctx.audit.on_event(
            "login", self.user_name, self.source, {**details, "role": self.role.value}
        )
        return result

    # --- Read: per-session user attributes ----------------------------------------------------

    async def read(self, params: ua.ReadParameters) -> list[ua.DataValue]:
        self._require_activated()
        results = await super().read(params)
        role = self.role
        if role is Role.ADMIN:
            return results
        rules = self._ctx.rules
        for i, item in enumerate(params.NodesToRead):
            attribute = item.AttributeId
            if attribute not in _USER_ATTRIBUTES:
                continue
            value = results[i]
            if value.Value is None or value.Value.Value is None:
                continue
            stored = value.Value.Value
            if attribute == ua.AttributeIds.UserAccessLevel:
                new: Any = rules.user_access_level(role, item.NodeId, int(stored))
            elif attribute == ua.AttributeIds.UserExecutable:
                new = bool(stored) and rules.method_executable(role, item.NodeId)
            else:  # UserWriteMask: only admins write attributes other than Value
                new = 0
            results[i] = dataclasses.replace(value, Value=ua.Variant(new, value.Value.VariantType))
        return results

    # --- Write and Call --------------------------------------------------------------------

    async def write(self, params: ua.WriteParameters) -> list[ua.StatusCode]:
        self._require_activated()
        user = self.user
        role = self.role
        rules = self._ctx.rules
        dispatch = self.iserver.callback_service.dispatch
        await dispatch(CallbackType.PreWrite, ServerItemCallback(params, None, user, self.external))
        allowed = [rules.may_write(role, w.NodeId, w.AttributeId) for w in params.NodesToWrite]
        passed = ua.WriteParameters(
            NodesToWrite=[w for w, ok in zip(params.NodesToWrite, allowed, strict=True) if ok]
        )
        done = iter(
            await self.iserver.attribute_service.write(passed, user=user)
            if passed.NodesToWrite
            else []
        )
        denied = ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
        results = [next(done) if ok else denied for ok in allowed]
        await dispatch(
            CallbackType.PostWrite, ServerItemCallback(params, results, user, self.external)
        )
        for item, status in zip(params.NodesToWrite, results, strict=True):
            self._ctx.audit.on_event(
                "write",
                self.user_name,
                self.source,
                {"node": item.NodeId.to_string(), "status": status.value, "role": role.value},
            )
        return results

    async def call(self, params: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        self._require_activated()
        role = self.role
        rules = self._ctx.rules
        aspace = self.iserver.aspace
        verdicts: list[ua.StatusCode | None] = []
        for request in params:
            verdict: ua.StatusCode | None = None
            if role is not Role.ADMIN and request.ObjectId in aspace and request.MethodId in aspace:
                if not rules.has_method(request.ObjectId, request.MethodId):
                    verdict = ua.StatusCode(ua.StatusCodes.BadMethodInvalid)
                elif not rules.may_call(role, request.ObjectId, request.MethodId):
                    verdict = ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
            verdicts.append(verdict)
        passed = [r for r, v in zip(params, verdicts, strict=True) if v is None]
        token = session_user.set(self.user if isinstance(self.user, AmpacityUser) else None)
        try:
            done = iter(await self.iserver.method_service.call(passed) if passed else [])
        finally:
            session_user.reset(token)
        results = [next(done) if v is None else ua.CallMethodResult(StatusCode=v) for v in verdicts]
        for request, result in zip(params, results, strict=True):
            self._ctx.audit.on_event(
                "call",
                self.user_name,
                self.source,
                {
                    "method": request.MethodId.to_string(),
                    "object": request.ObjectId.to_string(),
                    "status": result.StatusCode.value,
                    "role": role.value,
                },
            )
        return results

    # --- admin-only services ----------------------------------------------------------------

    def _admin_only(self, service: str) -> None:
        self._require_activated()
        if not self._ctx.rules.may_use_service(self.role, service):
            self._ctx.audit.on_event(
                "access_denied",
                self.user_name,
                self.source,
                {"service": service, "role": self.role.value},
            )
            raise ServiceError(ua.StatusCodes.BadUserAccessDenied)

    async def history_update(
        self, params: ua.HistoryUpdateParameters
    ) -> list[ua.HistoryUpdateResult]:
        self._admin_only("HistoryUpdate")
        return await super().history_update(params)

    async def add_nodes(self, params: list[ua.AddNodesItem]) -> list[ua.AddNodesResult]:
        self._admin_only("AddNodes")
        return await super().add_nodes(params)

    async def delete_nodes(self, params: ua.DeleteNodesParameters) -> list[ua.StatusCode]:
        self._admin_only("DeleteNodes")
        return await super().delete_nodes(params)

    async def add_references(self, params: list[ua.AddReferencesItem]) -> list[ua.StatusCode]:
        self._admin_only("AddReferences")
        return await super().add_references(params)

    async def delete_references(self, params: list[ua.DeleteReferencesItem]) -> list[ua.StatusCode]:
        self._admin_only("DeleteReferences")
        return await super().delete_references(params)


_USER_ATTRIBUTES = frozenset(
    {ua.AttributeIds.UserAccessLevel, ua.AttributeIds.UserExecutable, ua.AttributeIds.UserWriteMask}
)


def _password_problem(
    token: ua.UserNameIdentityToken, policy: Any, config: SecurityConfig
) -> str | None:
    """Why a UserName token may not be used on the channel of ``policy``, or None.

    The password must be encrypted with the endpoint's security policy (a None endpoint: with one
    of the offered policies); in clear text it is accepted only on a SignAndEncrypt channel and
    only when ``allow_cleartext_password_on_encrypted_channel`` is set.
    """
    algorithm = token.EncryptionAlgorithm or ""
    mode = getattr(policy, "Mode", ua.MessageSecurityMode.None_)
    if not algorithm:
        if (
            mode == ua.MessageSecurityMode.SignAndEncrypt
            and config.allow_cleartext_password_on_encrypted_channel
        ):
            return None
        return f"clear-text password on a {getattr(mode, 'name', mode)} channel"
    if policy is None or mode == ua.MessageSecurityMode.None_:
        expected = {token_encryption_uri(POLICY_URIS[p]) for p in config.policies}
    else:
        expected = {token_encryption_uri(str(policy.URI))}
    if algorithm not in expected:
        return f"password encrypted with {algorithm}, not with the endpoint's policy"
    return None


POLICY_URIS: dict[str, str] = {
    "Basic256Sha256": "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256",
    "Aes256_Sha256_RsaPss": "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss",
    "Aes128_Sha256_RsaOaep": "http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep",
}


def _token_kind(token: Any) -> tuple[str, str]:
    if isinstance(token, ua.UserNameIdentityToken):
        return "username", str(token.UserName or "")
    if isinstance(token, ua.X509IdentityToken):
        try:
            from cryptography import x509

            cert = x509.load_der_x509_certificate(token.CertificateData)
            return "certificate", common_name(cert)
        except (ValueError, TypeError):
            return "certificate", "?"
    return "anonymous", "anonymous"


def _policy_name(policy: Any) -> str:
    if policy is None:
        return "?"
    uri = str(getattr(policy, "URI", ""))
    mode = getattr(policy, "Mode", None)
    return f"{uri.rsplit('#', 1)[-1]}/{getattr(mode, 'name', mode)}"
