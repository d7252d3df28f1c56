"""Unauthenticated clients that try to make an OPC UA server hold memory: raw TCP, no login.

Shared by ``test_transport_limits.py`` and ``bench/unauthenticated_memory.py``. Each attacker
sends a Hello and then one of

* ``huge_chunk``: a chunk header announcing a 100 MB chunk, then its body, never finished;
* ``endless_message``: an OpenSecureChannel message (security policy None) as intermediate
  chunks of 64 KiB each, never a final one;
* ``idle``: nothing more (holds a connection before any session);
* ``unread_responses``: opens a secure channel with policy None (allowed for discovery) and sends
  GetEndpoints requests without ever reading the answers.

Every attacker reuses one payload block, so its own memory stays flat; it returns how many bytes
the server took before it closed the connection (or ``budget`` when it never did).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from asyncua.ua.ua_binary import struct_to_binary, uatcp_to_binary

CHUNK = 65_535
BLOCK = bytes(CHUNK)
NONE_POLICY = b"http://opcfoundation.org/UA/SecurityPolicy#None"


def hello(url: str) -> bytes:
    message = ua.Hello()
    message.ProtocolVersion = 0
    message.ReceiveBufferSize = CHUNK
    message.SendBufferSize = CHUNK
    message.MaxMessageSize = 0
    message.MaxChunkCount = 0
    message.EndpointUrl = url
    return uatcp_to_binary(ua.MessageType.Hello, message)


def _string(data: bytes | None) -> bytes:
    return struct.pack("<i", -1) if data is None else struct.pack("<i", len(data)) + data


def opn_chunk(sequence: int, size: int = CHUNK, final: bool = False) -> bytes:
    """An OpenSecureChannel chunk of ``size`` bytes under security policy None."""
    security = _string(NONE_POLICY) + _string(None) + _string(None)
    sequence_header = struct.pack("<II", sequence, 1)
    head = 12 + len(security) + len(sequence_header)
    kind = b"F" if final else b"C"
    header = b"OPN" + kind + struct.pack("<II", size, 0)
    return header + security + sequence_header + BLOCK[: size - head]


@dataclass
class Target:
    host: str
    port: int
    url: str


async def _open(
    target: Target, source: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    local = (source, 0) if source else None
    reader, writer = await asyncio.open_connection(target.host, target.port, local_addr=local)
    writer.write(hello(target.url))
    await writer.drain()
    try:
        ack = await asyncio.wait_for(reader.readexactly(8), 5)
        if ack.startswith(b"ACK"):
            await reader.readexactly(struct.unpack_from("<I", ack, 4)[0] - 8)
            return reader, writer
    except asyncio.IncompleteReadError as exc:
        ack = exc.partial
    writer.close()
    raise ConnectionError(f"no Acknowledge: {ack!r}")


async def _pump(writer: asyncio.StreamWriter, parts: Callable[[int], bytes], budget: int) -> int:
    sent = 0
    index = 0
    try:
        while sent < budget:
            data = parts(index)
            index += 1
            writer.write(data)
            await asyncio.wait_for(writer.drain(), 5)
            sent += len(data)
            if writer.is_closing():
                break
    except (ConnectionError, OSError, TimeoutError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return sent


async def huge_chunk(target: Target, budget: int, source: str | None = None) -> int:
    """Announce a 100 MB chunk and send up to ``budget`` bytes of it."""
    try:
        _reader, writer = await _open(target, source)
    except (ConnectionError, OSError, TimeoutError):
        return 0
    head = b"OPN" + b"F" + struct.pack("<II", 100 * 1024 * 1024, 0)
    return await _pump(writer, lambda i: head if i == 0 else BLOCK, budget)


async def endless_message(target: Target, budget: int, source: str | None = None) -> int:
    """Send intermediate OpenSecureChannel chunks, never the final one."""
    try:
        _reader, writer = await _open(target, source)
    except (ConnectionError, OSError, TimeoutError):
        return 0
    return await _pump(writer, lambda i: opn_chunk(i + 1), budget)


async def idle(target: Target, hold_s: float, source: str | None = None) -> bool:
    """Send a Hello and hold the connection; True if the server closed it within ``hold_s``."""
    try:
        reader, writer = await _open(target, source)
    except (ConnectionError, OSError, TimeoutError):
        return True
    try:
        data = await asyncio.wait_for(reader.read(), hold_s)
        return data == b"" or data.startswith(b"ERR")
    except TimeoutError:
        return False
    except (ConnectionError, OSError):
        return True
    finally:
        writer.close()


async def unread_responses(target: Target, budget: int, source: str | None = None) -> int:
    """GetEndpoints requests (about 100 bytes each, answers of several KB) until ``budget``
    bytes of answers would have been asked for (5 KB each), none of them read."""
    from asyncua import Client
    from asyncua.client.ua_client import UaClientState

    client = Client(target.url, timeout=5)
    uaclient = client.uaclient
    try:
        # asyncua's connect_socket, from ``source`` (it has no local address parameter)
        await asyncio.get_running_loop().create_connection(
            uaclient._make_protocol,
            target.host,
            target.port,
            local_addr=(source, 0) if source else None,
        )
        uaclient._set_state(UaClientState.SOCKET_OPEN)
        await client.send_hello()
        await client.open_secure_channel()
    except (ConnectionError, OSError, TimeoutError, ua.UaError):
        client.disconnect_socket()
        return 0
    protocol = client.uaclient.protocol
    assert protocol is not None and protocol.transport is not None
    protocol.transport.pause_reading()
    sent = 0
    try:
        for i in range(budget // 5000):
            request = ua.GetEndpointsRequest()
            request.Parameters = ua.GetEndpointsParameters(EndpointUrl=target.url)
            protocol._send_request(request).add_done_callback(lambda f: f.exception())
            sent += 5000
            if i % 100 == 0:
                await asyncio.sleep(0.01)
                transport = protocol.transport
                if transport is None or transport.is_closing():
                    break
                if transport.get_write_buffer_size() > 1024 * 1024:
                    break  # the server reads no more: what is sent now stays here
        await asyncio.sleep(1)
    except (ConnectionError, OSError):
        pass
    finally:
        client.disconnect_socket()
    return sent


Attack = Callable[[Target, int, str | None], Awaitable[int]]
ATTACKS: dict[str, Attack] = {
    "huge_chunk": huge_chunk,
    "endless_message": endless_message,
    "unread_responses": unread_responses,
}


def rss_bytes(pid: int | str = "self", field: str = "VmRSS") -> int:
    """Resident set size of a process (Linux ``/proc``); ``field="VmHWM"``: its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def sources(count: int) -> list[str]:
    """Distinct loopback source addresses (127.0.0.2 ...), so that per-address caps do not
    hide what each connection may hold."""
    return [f"127.0.0.{2 + i}" for i in range(count)]


def request_sizes() -> dict[str, int]:
    """Encoded sizes used to size the message limit (see README, Security)."""
    read = ua.HistoryReadRequest()
    details = ua.ReadRawModifiedDetails()
    read.Parameters.HistoryReadDetails = details
    read.Parameters.NodesToRead = [
        ua.HistoryReadValueId(NodeId=ua.NodeId(f"site.asset{i:03d}.ActivePower", 2))
        for i in range(1000)
    ]
    now = datetime.now(UTC)
    values = [
        ua.DataValue(
            ua.Variant(float(i), ua.VariantType.Double), SourceTimestamp=now, ServerTimestamp=now
        )
        for i in range(10_000)
    ]
    result = ua.HistoryReadResult()
    result.HistoryData = ua.HistoryData(DataValues=values)
    return {
        "history_read_request_1000_nodes": len(struct_to_binary(read)),
        "history_read_result_10000_values": len(struct_to_binary(result)),
    }
