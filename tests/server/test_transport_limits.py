"""Unauthenticated clients cannot make the server hold memory or starve a logged-in client.

The attack of issue 17 against a configured (secure) site: raw TCP connections that send a Hello
and then a never-finished chunk or message; idle connections; too many connections from one
address. Memory is the test process's RSS (the server runs in it); latency is a logged-in
viewer's Read round trip.
"""

from __future__ import annotations

import asyncio
import statistics
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from ampacity.server.security import SecurityConfig, transport
from ampacity.server.security.config import ConnectionSettings, LoginThrottleSettings
from ampacity.server.security.transport import UNACTIVATED_MAX_MESSAGE, AmpacityServer
from asyncua import Client, ua
from security_support import SITE_ID, SecureSite, client_certs, connect, start_secure_site
from transport_attack import (
    Target,
    endless_message,
    hello,
    huge_chunk,
    idle,
    rss_bytes,
    sources,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

HANDSHAKE_TIMEOUT_S = 1.0
ATTACKERS = 10
BUDGET = 12 * 1024 * 1024
"""Bytes each attacker tries to send: 2 x 10 x 12 MB would be held by asyncua's defaults."""
MEMORY_BOUND = 40 * 1024 * 1024
"""Largest RSS growth allowed during the attack (20 connections)."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureSite]:
    certs = client_certs()
    running = await start_secure_site(
        tmp_path_factory.mktemp("transport-site"),
        SecurityConfig(
            login_throttle=LoginThrottleSettings(free_failures=50),
            connections=ConnectionSettings(
                handshake_timeout_s=HANDSHAKE_TIMEOUT_S, max_unactivated=24
            ),
        ),
        trusted=[certs.trusted.cert],
    )
    try:
        yield running
    finally:
        await running.site.stop()


def _target(site: SecureSite) -> Target:
    port = site.site.config.server.port
    return Target("127.0.0.1", port, site.endpoint)


def _server(site: SecureSite) -> AmpacityServer:
    server = site.site.server
    assert isinstance(server, AmpacityServer)
    return server


async def _read_latencies(client: Client, node: ua.NodeId, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await client.get_node(node).read_value()
        times.append(time.perf_counter() - started)
    return times


async def _raw(site: SecureSite, data: bytes, source: str = "127.0.0.40") -> bytes:
    """Send ``data`` on a fresh connection; what the server answers before it closes."""
    target = _target(site)
    reader, writer = await asyncio.open_connection(target.host, target.port, local_addr=(source, 0))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def _error_code(answer: bytes) -> int:
    """The status code of an OPC UA TCP Error message (after Acknowledge, if any)."""
    at = answer.find(b"ERRF")
    assert at >= 0, f"no Error message in {answer[:40]!r}"
    return int(struct.unpack_from("<I", answer, at + 8)[0])


async def test_never_finished_messages_hold_bounded_memory_and_a_viewer_keeps_its_latency(
    site: SecureSite,
) -> None:
    viewer = await connect(site, user="viewer")
    node = site.node(f"{SITE_ID}.FeedInLimit")
    try:
        await _read_latencies(viewer, node, 10)  # warm up
        before = statistics.median(await _read_latencies(viewer, node, 30))
        rss_before = rss_bytes()
        target = _target(site)
        peak = rss_before
        addresses = sources(2 * ATTACKERS)
        attacks = [
            asyncio.create_task(huge_chunk(target, BUDGET, addresses[i])) for i in range(ATTACKERS)
        ] + [
            asyncio.create_task(endless_message(target, BUDGET, addresses[ATTACKERS + i]))
            for i in range(ATTACKERS)
        ]
        during: list[float] = []
        while not all(a.done() for a in attacks):
            during += await _read_latencies(viewer, node, 1)
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0)
        sent = [a.result() for a in attacks]
        peak = max(peak, rss_bytes())
        during += await _read_latencies(viewer, node, 10)
    finally:
        await viewer.disconnect()
    grown = peak - rss_before
    assert grown < MEMORY_BOUND, f"RSS grew by {grown / 2**20:.1f} MiB during the attack"
    # the server closed every attacking connection long before its 12 MB were through
    assert all(s < BUDGET for s in sent), sent
    median = statistics.median(during)
    assert median < 5 * before + 0.02, f"read latency {median * 1e3:.1f} ms, was {before * 1e3:.1f}"
    guard = _server(site).guard
    for _ in range(100):  # closing is asynchronous; every attacker is gone at once
        if guard.total == 0:
            break
        await asyncio.sleep(0.01)
    assert guard.total == 0
    assert not guard.unactivated


async def test_chunk_announcing_more_than_the_chunk_size_is_refused_from_its_header(
    site: SecureSite,
) -> None:
    announce = b"OPNF" + struct.pack("<II", 100 * 1024 * 1024, 0)
    answer = await _raw(site, hello(site.endpoint) + announce)
    assert _error_code(answer) == ua.StatusCodes.BadTcpMessageTooLarge


async def test_first_message_must_be_a_hello(site: SecureSite) -> None:
    answer = await _raw(site, b"OPNF" + struct.pack("<II", 64, 0) + bytes(52))
    assert _error_code(answer) == ua.StatusCodes.BadTcpMessageTypeInvalid


async def test_acknowledge_announces_the_limits(site: SecureSite) -> None:
    target = _target(site)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(hello(site.endpoint))
        ack = await asyncio.wait_for(reader.readexactly(28), 5)
    finally:
        writer.close()
    _version, receive, send, max_message, max_chunks = struct.unpack_from("<5I", ack, 8)
    assert (receive, send) == (65_535, 65_535)
    assert max_message == 1024 * 1024
    assert max_chunks == 17  # ceil(1 MiB / 65,535)


async def test_unactivated_connections_are_capped_per_address_and_released(
    site: SecureSite,
) -> None:
    target = _target(site)
    per_address = site.site.config.security.connections.max_unactivated_per_address
    holders = [
        asyncio.create_task(idle(target, HANDSHAKE_TIMEOUT_S * 3, "127.0.0.50"))
        for _ in range(per_address)
    ]
    guard = _server(site).guard
    for _ in range(200):
        if guard.unactivated.get("127.0.0.50") == per_address:
            break
        await asyncio.sleep(0.005)
    assert guard.unactivated["127.0.0.50"] == per_address
    # one more from that address: closed before any Acknowledge
    refused_before = guard.refused
    assert await idle(target, 2, "127.0.0.50")
    assert guard.refused == refused_before + 1
    # another address and a logged-in client are not affected
    viewer = await connect(site, user="viewer")
    try:
        data = await viewer.get_node(site.node(f"{SITE_ID}.FeedInLimit")).read_data_value()
        assert data.StatusCode.is_good()
    finally:
        await viewer.disconnect()
    # the handshake timeout closes the holders; their address may connect again
    assert all(await asyncio.gather(*holders))
    assert "127.0.0.50" not in guard.unactivated


async def test_connection_without_a_session_is_closed_after_the_handshake_timeout(
    site: SecureSite,
) -> None:
    started = time.monotonic()
    assert await idle(_target(site), 5 * HANDSHAKE_TIMEOUT_S, "127.0.0.60")
    assert HANDSHAKE_TIMEOUT_S * 0.9 <= time.monotonic() - started < 4 * HANDSHAKE_TIMEOUT_S


async def test_a_logged_in_client_may_send_more_than_the_unactivated_limit(
    site: SecureSite,
) -> None:
    """The 64 KiB limit before activation is lifted once the session is activated."""
    viewer = await connect(site, user="viewer")
    try:
        nodes = [ua.NodeId(f"{SITE_ID}.NoSuchNode{i:05d}", site.ns) for i in range(3000)]
        params = ua.ReadParameters()
        params.NodesToRead = [
            ua.ReadValueId(NodeId=n, AttributeId=ua.AttributeIds.Value) for n in nodes
        ]
        size = len(ua.ua_binary.struct_to_binary(params))
        assert size > UNACTIVATED_MAX_MESSAGE
        results = await viewer.uaclient.read(params)
    finally:
        await viewer.disconnect()
    assert len(results) == 3000
    assert results[0].StatusCode.value == ua.StatusCodes.BadNodeIdUnknown


async def test_unactivated_message_larger_than_64_kib_closes_the_connection(
    site: SecureSite, tmp_path: Path
) -> None:
    """Two intermediate chunks and a final one (3 x 64 KiB) before any session: refused."""
    from transport_attack import opn_chunk

    data = hello(site.endpoint) + opn_chunk(1) + opn_chunk(2) + opn_chunk(3, final=True)
    answer = await _raw(site, data, "127.0.0.70")
    assert _error_code(answer) == ua.StatusCodes.BadRequestTooLarge


async def test_a_closed_connection_drops_its_half_received_message(site: SecureSite) -> None:
    """One intermediate chunk of an OpenSecureChannel (held by the server), then the client goes:
    the server keeps nothing of it."""
    from transport_attack import opn_chunk

    target = _target(site)
    reader, writer = await asyncio.open_connection(
        target.host, target.port, local_addr=("127.0.0.80", 0)
    )
    server = _server(site)
    assert server.bserver is not None
    try:
        writer.write(hello(site.endpoint) + opn_chunk(1) + b"MSGC")  # and 4 bytes of the next
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(28), 5)  # the Acknowledge
        protocol = None
        for _ in range(200):
            held = [
                p
                for p in server.bserver.clients
                if p.peer_name[0] == "127.0.0.80"
                and p.processor is not None
                and p.processor._connection._incoming_parts
            ]
            if held:
                protocol = held[0]
                break
            await asyncio.sleep(0.005)
        assert protocol is not None, "the server did not hold the chunk"
        assert protocol._rx  # the 4 bytes of the next chunk
    finally:
        writer.close()
    for _ in range(200):
        if protocol not in server.bserver.clients:
            break
        await asyncio.sleep(0.005)
    assert protocol.processor is not None
    assert protocol.processor._connection._incoming_parts == []
    assert not protocol._rx
    assert protocol.messages.empty()


@pytest.mark.parametrize(
    "garbage",
    [
        b"OPNF" + struct.pack("<II", 40, 0) + b"\xff" * 28,  # unreadable security header
        b"MSGF" + struct.pack("<II", 40, 7) + b"\x01" * 28,  # no channel, unknown token
        b"HELF" + struct.pack("<II", 20, 0) + b"\x00" * 12,  # a second, truncated Hello
    ],
    ids=["OPN", "MSG", "HEL"],
)
async def test_garbage_closes_the_connection_with_an_error_and_no_traceback(
    site: SecureSite, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        answer = await _raw(site, hello(site.endpoint) + garbage, "127.0.0.90")
    assert _error_code(answer) == ua.StatusCodes.BadDecodingError
    assert [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info] == []


async def test_a_peer_that_does_not_read_its_responses_gets_no_more_answers(
    site: SecureSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logged-in viewer sends Reads of 300 values and stops reading the answers: the server's
    send buffer stays near asyncio's 64 KiB high-water mark (asyncua queued every answer), and
    after ``WRITE_STALL_S`` the connection is dropped. The limit stays long while the buffers are
    measured (a slow machine must not drop the peer before), then drops to 1 s."""
    monkeypatch.setattr(transport, "WRITE_STALL_S", 600.0)
    viewer = await connect(site, user="viewer")
    protocol = viewer.uaclient.protocol
    assert protocol is not None and protocol.transport is not None
    port = protocol.transport.get_extra_info("sockname")[1]
    server = _server(site)
    assert server.bserver is not None
    (peer,) = [p for p in server.bserver.clients if p.peer_name[1] == port]
    assert peer.transport is not None
    node = site.node(f"{SITE_ID}.FeedInLimit")
    protocol.transport.pause_reading()
    try:
        for i in range(2000):
            request = ua.ReadRequest()
            request.Parameters.NodesToRead = [
                ua.ReadValueId(NodeId=node, AttributeId=ua.AttributeIds.DisplayName)
            ] * 300
            protocol._send_request(request).add_done_callback(lambda f: f.cancelled())
            if i % 50 == 0:
                await asyncio.sleep(0.01)
                if protocol.transport.get_write_buffer_size() > 1024 * 1024:
                    break  # the server reads no more
        for _ in range(50):  # until the server stopped answering
            size = peer.transport.get_write_buffer_size()
            await asyncio.sleep(0.02)
            if peer.transport.get_write_buffer_size() == size:
                break
        assert 0 < peer.transport.get_write_buffer_size() < 256 * 1024
        assert protocol.transport.get_write_buffer_size() > 0  # the server stopped reading
        assert peer in server.bserver.clients  # stalled, but not yet for WRITE_STALL_S
        monkeypatch.setattr(transport, "WRITE_STALL_S", 1.0)
        for _ in range(60):  # stalled for over 1 s by now; the watch runs every 0.5 s
            if peer not in server.bserver.clients:
                break
            await asyncio.sleep(0.05)
        assert peer not in server.bserver.clients
    finally:
        viewer.disconnect_socket()


async def test_a_connection_without_a_session_may_send_32_chunks(site: SecureSite) -> None:
    """Discovery (GetEndpoints) is cheap to ask and dear to answer: 32 chunks, then closed."""
    client = Client(site.endpoint, timeout=5)
    await client.connect_socket()
    answered = 0
    try:
        await client.send_hello()
        await client.open_secure_channel()
        with pytest.raises((ConnectionError, ua.UaError, TimeoutError)):
            for _ in range(40):
                await client.uaclient.get_endpoints(
                    ua.GetEndpointsParameters(EndpointUrl=site.endpoint)
                )
                answered += 1
    finally:
        client.disconnect_socket()
    assert answered == 30  # Hello and OpenSecureChannel were the first two
