"""What a client can make the server hold before it has logged in: bounded.

asyncua 2.1 buffers a message chunk until its announced size has arrived (up to 4 GiB, checked
only afterwards), accepts messages of 100 MB in up to 1,601 chunks from anyone who opened a
channel, caps connections only in total (1,000) and closes a connection that has not activated a
session after 30 s. ``AmpacityServer`` serves the same protocol through ``GuardedProtocol``:

* a chunk is refused from its 8-byte header when it announces more than the negotiated chunk
  size (before the Hello: 8 KiB, and the first message must be a Hello), with the OPC UA TCP
  error ``BadTcpMessageTooLarge`` / ``BadTcpMessageTypeInvalid``, and the connection closed;
* until its session is activated a connection may send messages of at most
  ``UNACTIVATED_MAX_MESSAGE`` bytes (what is legitimate then — OpenSecureChannel,
  CreateSession, ActivateSession with certificates — fits); once activated, the limit announced
  in the Acknowledge (``security.connections.max_message_size``) applies;
* chunks received but not yet processed are bounded (``UNACTIVATED_MAX_QUEUED`` before
  activation, twice the message size after): beyond that the server stops reading the socket
  until the backlog is processed (TCP back-pressure), it does not buffer more;
* a peer that reads none of its answers for ``WRITE_STALL_S`` is disconnected, and at once when
  its connection is being closed (asyncio's close would wait for it to read, forever);
* before its session is activated a connection may send ``UNACTIVATED_MAX_CHUNKS`` chunks;
* a peer that does not read its responses: once the send buffer is above asyncio's high-water
  mark (64 KiB) no further request is processed and the socket is not read until it drains
  (asyncua would queue every response: 13 MB in 3 s of GetEndpoints from one connection);
* connections are capped in total, unactivated ones in total and per source address
  (``ConnectionGuard``); a refused connection is closed at once; warnings about an address
  are logged at most once a minute;
* a connection without an activated session after ``handshake_timeout_s`` is closed (asyncua's
  activation watchdog, given our timeout);
* a message asyncua cannot decode or accept (garbage, an unknown security policy or token) closes
  the connection with an OPC UA TCP error and one warning line, not a traceback per message;
* on close the receive buffer, the queued chunks and the half-received message are dropped.

The bound, per unactivated connection: one chunk being received (≤ 64 KiB) + the backlog
(≤ ``UNACTIVATED_MAX_QUEUED``) + a message being assembled (≤ ``UNACTIVATED_MAX_MESSAGE``) plus
what asyncio reads at once (256 KiB); ``bench/unauthenticated_memory.py`` measures it.

``AmpacityServer`` also states the UserName token policy of each endpoint: the password is to be
encrypted with the endpoint's own security policy (``SecureSession.activate_session`` refuses a
password that is not; see ``server.py``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections import Counter
from typing import Any

from asyncua import Server, ua
from asyncua.common.connection import TransportLimits
from asyncua.common.utils import Buffer
from asyncua.crypto import security_policies, uacrypto
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.ua.ua_binary import header_from_binary, uatcp_to_binary

from .config import ConnectionSettings

log = logging.getLogger(__name__)

UNACTIVATED_MAX_MESSAGE = 64 * 1024
"""Largest message (bytes, all chunks) before the session is activated."""
UNACTIVATED_MAX_QUEUED = 128 * 1024
"""Received, unprocessed chunks (bytes) before the session is activated; then reading pauses."""
UNACTIVATED_MAX_CHUNKS = 32
"""Chunks a connection may send before its session is activated (a handshake with discovery
takes about 6); more, and it is closed: a discovery request costs little to send and much more
to answer."""
WRITE_STALL_S = 30.0
"""A peer that reads none of its answers for this long is disconnected (abort: a close would
wait for it to read)."""
HELLO_MAX_SIZE = 8 * 1024
"""Largest first message: a Hello (its EndpointUrl is at most 4,096 bytes, Part 6 §7.1.2.3)."""
REFUSAL_LOG_INTERVAL_S = 60.0

_MESSAGE_TYPES = {b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO"}


def transport_limits(settings: ConnectionSettings) -> TransportLimits:
    """asyncua's limits for ``settings``: chunk size and count, message size."""
    return TransportLimits(
        max_recv_buffer=settings.max_chunk_size,
        max_send_buffer=settings.max_chunk_size,
        max_chunk_count=math.ceil(settings.max_message_size / settings.max_chunk_size),
        max_message_size=settings.max_message_size,
    )


class ConnectionGuard:
    """Counts connections: in total, unactivated, and unactivated per source address."""

    def __init__(self, settings: ConnectionSettings, clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.total = 0
        self.unactivated: Counter[str] = Counter()
        self.refused = 0
        self._clock = clock
        self._last_log: dict[str, float] = {}

    @property
    def unactivated_total(self) -> int:
        return sum(self.unactivated.values())

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``; or say why it is refused (not counted)."""
        s = self.settings
        reason = None
        if self.total >= s.max_connections:
            reason = f"{self.total} connections open (security.connections.max_connections)"
        elif self.unactivated_total >= s.max_unactivated:
            reason = (
                f"{self.unactivated_total} connections without an activated session "
                "(security.connections.max_unactivated)"
            )
        elif self.unactivated[address] >= s.max_unactivated_per_address:
            reason = (
                f"{self.unactivated[address]} connections from {address} without an activated "
                "session (security.connections.max_unactivated_per_address)"
            )
        if reason is not None:
            self.refused += 1
            self.warn(address, f"refusing connections from {address}: {reason}")
            return reason
        self.total += 1
        self.unactivated[address] += 1
        return None

    def activated(self, address: str) -> None:
        self._drop(address)

    def closed(self, address: str, activated: bool) -> None:
        self.total -= 1
        if not activated:
            self._drop(address)

    def _drop(self, address: str) -> None:
        self.unactivated[address] -= 1
        if self.unactivated[address] <= 0:
            del self.unactivated[address]

    def warn(self, address: str, text: str) -> None:
        """Log a warning about ``address``, at most one a minute per address (an attacker's new
        connections must not flood the log)."""
        now = self._clock()
        if now - self._last_log.get(address, -math.inf) < REFUSAL_LOG_INTERVAL_S:
            return
        if len(self._last_log) > 1024:
            self._last_log.clear()
        self._last_log[address] = now
        log.warning("%s (one warning a minute per address)", text)


def _address(peer: Any) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


class GuardedProtocol(OPCUAProtocol):
    """asyncua's connection protocol with the limits of the module docstring."""

    def __init__(self, guard: ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard
        self._address = ""
        self._admitted = False
        self._activated = False
        self._hello_done = False
        self._negotiated: tuple[int, int] | None = None
        self._rx = bytearray()
        self._queued = 0
        self._chunks = 0
        self._paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._stalled_since: float | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    # --- connection accounting ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._address = _address(transport.get_extra_info("peername"))
        if self._guard.admit(self._address) is not None:
            self.peer_name = transport.get_extra_info("peername")
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)

    def connection_lost(self, ex: BaseException | None) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._stalled_since = None
        super().connection_lost(ex)
        if self._admitted:
            self._admitted = False
            self._guard.closed(self._address, self._activated)
        self._free()

    def _free(self) -> None:
        self._rx = bytearray()
        self._queued = 0
        while not self.messages.empty():
            self.messages.get_nowait()
        if self.processor is not None:
            self.processor._connection._drop_incoming_parts()

    # --- receiving ----------------------------------------------------------------------------

    def _chunk_limit(self) -> int:
        if not self._hello_done:
            return HELLO_MAX_SIZE
        assert self.processor is not None
        return int(self.processor._limits.max_recv_buffer)

    def _queue_limit(self) -> int:
        if self._activated and self._negotiated is not None:
            return 2 * max(self._negotiated[0], self._chunk_limit())
        return UNACTIVATED_MAX_QUEUED

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._rx += data
        self._parse()

    def _parse(self) -> None:
        """Queue the complete chunks in the receive buffer, while reading is not paused (what is
        left waits there: at most one read of asyncio, 256 KiB, plus a chunk)."""
        while len(self._rx) >= 8 and not self._paused:
            kind = bytes(self._rx[:3])
            size = int.from_bytes(self._rx[4:8], "little")
            if kind not in _MESSAGE_TYPES or (not self._hello_done and kind != b"HEL"):
                self._refuse(ua.StatusCodes.BadTcpMessageTypeInvalid, f"message type {kind!r}")
                return
            if size < 8 or size > self._chunk_limit():
                self._refuse(
                    ua.StatusCodes.BadTcpMessageTooLarge,
                    f"chunk of {size} bytes announced (limit {self._chunk_limit()})",
                )
                return
            if len(self._rx) < size:
                return
            self._chunks += 1
            if not self._activated and self._chunks > UNACTIVATED_MAX_CHUNKS:
                self._refuse(
                    ua.StatusCodes.BadTcpNotEnoughResources,
                    f"more than {UNACTIVATED_MAX_CHUNKS} chunks before a session was activated",
                )
                return
            chunk = bytes(self._rx[:size])
            del self._rx[:size]
            buf = Buffer(chunk)
            header = header_from_binary(buf)
            if kind == b"HEL":
                self._hello_done = True
            try:
                self.messages.put_nowait((header, buf))
            except asyncio.QueueFull:
                self._refuse(ua.StatusCodes.BadTcpNotEnoughResources, "too many queued messages")
                return
            self._queued += size
            self._flow(parse=False)

    # --- flow control: read no more while the backlog is full or the peer does not read ----------

    def _flow(self, parse: bool = True) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        backlog = self._queued >= self._queue_limit() or self.messages.qsize() >= max(
            1, self.messages.maxsize - 1
        )
        pause = backlog or not self._writable.is_set()
        if pause and not self._paused:
            self._paused = True
            transport.pause_reading()
        elif not pause and self._paused:
            self._paused = False
            transport.resume_reading()
            if parse:
                self._parse()

    def pause_writing(self) -> None:
        """asyncio: the send buffer is above its high-water mark (the peer does not read)."""
        self._writable.clear()
        self._stalled_since = time.monotonic()
        self._watch_stall()
        self._flow()

    def resume_writing(self) -> None:
        self._writable.set()
        self._stalled_since = None
        self._flow()

    def _watch_stall(self) -> None:
        """While the peer does not read: abort once the connection is being closed (a close
        waits for the send buffer to drain, which never happens: the server could not stop) or
        after ``WRITE_STALL_S``."""
        self._stall_timer = None
        transport = self.transport
        if self._stalled_since is None or transport is None:
            return
        stalled = time.monotonic() - self._stalled_since
        if transport.is_closing() or stalled >= WRITE_STALL_S:
            if not transport.is_closing():
                self._guard.warn(
                    self._address,
                    f"closing connection from {self._address}: read no answer for {stalled:.0f} s",
                )
            transport.abort()
            return
        self._stall_timer = asyncio.get_running_loop().call_later(0.5, self._watch_stall)

    def _refuse(self, code: int, reason: str) -> None:
        self._guard.warn(self._address, f"closing connection from {self._address}: {reason}")
        transport = self.transport
        if transport is not None and not transport.is_closing():
            error = ua.ErrorMessage(ua.StatusCode(code), reason)
            transport.write(uatcp_to_binary(ua.MessageType.Error, error))
            transport.close()
        self._rx = bytearray()

    async def _process_one_msg(self, header: Any, buf: Buffer) -> bool:
        try:
            await self._writable.wait()  # answer nothing more while the peer does not read
            return await super()._process_one_msg(header, buf)
        except Exception as exc:  # a message asyncua cannot take (services answer on their own)
            code = exc.code if isinstance(exc, ua.UaStatusCodeError) else None
            self._refuse(
                code or ua.StatusCodes.BadDecodingError,
                f"{header.MessageType.decode(errors='replace')} message refused: {exc}",
            )
            return False
        finally:
            self._after_message(header)

    def _after_message(self, header: Any) -> None:
        self._queued -= header.header_size + header.body_size
        processor = self.processor
        if processor is None:
            return
        limits = processor._limits
        if header.MessageType == ua.MessageType.Hello and self._negotiated is None:
            # the Acknowledge announced the negotiated limits; until activation, less applies
            self._negotiated = (int(limits.max_message_size), int(limits.max_chunk_count))
            if not self._activated:
                limits.max_message_size = min(limits.max_message_size, UNACTIVATED_MAX_MESSAGE)
                chunks = math.ceil(UNACTIVATED_MAX_MESSAGE / max(1, limits.max_recv_buffer))
                limits.max_chunk_count = min(limits.max_chunk_count, chunks)
        session = processor.session
        if not self._activated and session is not None and session.is_activated():
            self._activated = True
            self._guard.activated(self._address)
            if self._negotiated is not None:
                limits.max_message_size, limits.max_chunk_count = self._negotiated
        self._flow()


class GuardedBinaryServer(BinaryServer):
    """asyncua's binary server whose connections are ``GuardedProtocol``s."""

    def __init__(self, guard: ConnectionGuard, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _make_protocol(self) -> OPCUAProtocol:
        return GuardedProtocol(
            self.guard,
            iserver=self.iserver,
            policies=self._policies,
            clients=self.clients,
            closing_tasks=self.closing_tasks,
            limits=self.limits,
        )


class AmpacityServer(Server):
    """asyncua's server with guarded connections and encrypted UserName token policies.

    ``configure_security`` gives it its settings (``apply_connection_settings``); without them
    it serves with the defaults of ``ConnectionSettings``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cleartext_on_encrypted = False
        self.guard = ConnectionGuard(ConnectionSettings())
        self.apply_connection_settings(ConnectionSettings())

    def apply_connection_settings(self, settings: ConnectionSettings) -> None:
        self.guard = ConnectionGuard(settings)
        self.limits = transport_limits(settings)
        self.iserver.max_connections = settings.max_connections
        self.iserver.max_pending_activation_seconds = settings.handshake_timeout_s

    async def start(self) -> None:
        """asyncua's ``Server.start`` with ``GuardedBinaryServer`` as the binary server."""
        if self.iserver.certificate is not None:
            uacrypto.check_certificate(
                self.iserver.certificate, self._application_uri, socket.gethostname()
            )
        await self._setup_server_nodes()
        await self.iserver.start()
        try:
            hostname, port = self._get_bind_socket_info()
            self.bserver = GuardedBinaryServer(
                self.guard, self.iserver, hostname, port, self.limits
            )
            self.bserver.set_policies(self._policies)
            await self.bserver.start()
        except Exception:
            await self.iserver.stop()
            raise

    def _set_endpoints(
        self,
        policy: type[security_policies.SecurityPolicy],
        mode: ua.MessageSecurityMode,
        level: int,
    ) -> None:
        super()._set_endpoints(policy, mode, level)
        if mode == ua.MessageSecurityMode.None_:
            return  # asyncua names an encrypting policy for the token there already
        endpoint = self.iserver.endpoints[-1]
        for token in endpoint.UserIdentityTokens:
            if token.TokenType != ua.UserTokenType.UserName:
                continue
            cleartext = (
                self.cleartext_on_encrypted and mode == ua.MessageSecurityMode.SignAndEncrypt
            )
            token.SecurityPolicyUri = (
                security_policies.SecurityPolicyNone.URI if cleartext else policy.URI
            )


def token_encryption_uri(policy_uri: str) -> str | None:
    """The asymmetric encryption algorithm a UserName token is encrypted with under
    ``policy_uri`` (None for the None policy)."""
    for cls in (
        security_policies.SecurityPolicyBasic256Sha256,
        security_policies.SecurityPolicyAes256Sha256RsaPss,
        security_policies.SecurityPolicyAes128Sha256RsaOaep,
    ):
        if policy_uri == cls.URI:
            return str(cls.AsymmetricEncryptionURI)
    return None
