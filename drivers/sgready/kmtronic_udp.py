"""The KMTronic LAN relay boards' UDP command protocol: frames and a client.

Facts (public sources: domoticz ``hardware/KMTronicUDP.cpp``; the board family's UDP mode):

* Commands are 6 ASCII characters sent in one datagram to the board's UDP port (12345 by
  default, configurable on the board): ``FF0`` + relay digit (1-8) + ``0`` + state digit, so
  ``FF0101`` switches relay 1 on and ``FF0100`` switches it off. A relay command has no answer.
* ``FF0000`` asks for the status. The answer is one ASCII character per relay, relay 1 first
  (``00100000``: relay 3 on). domoticz reads up to 8 bytes with a 1 s receive timeout and treats
  every character other than ``0`` as on; this client accepts only ``0`` and ``1`` so that a
  stray datagram is reported, not taken for a relay state.

The LAN boards also have a web interface (``http://<board>/FF0101`` style URLs and
``status.xml``, see ``drivers.signals.kmtronic``); the compatibility row asks for UDP, so the
SG-Ready driver uses UDP.
"""

from __future__ import annotations

import asyncio
import contextlib

DEFAULT_PORT = 12345
STATUS_REQUEST = b"FF0000"
MAX_RELAYS = 8


class KmtronicError(Exception):
    """A board that answered with something that is not a status; the message says what."""


def relay_command(relay: int, on: bool) -> bytes:
    """The datagram that switches ``relay`` (1-8) on or off, e.g. ``FF0101``.

    Raises:
        ValueError: no such relay.
    """
    if not 1 <= relay <= MAX_RELAYS:
        raise ValueError(f"relay {relay}: the boards have relays 1..{MAX_RELAYS}")
    return f"FF0{relay}0{int(on)}".encode("ascii")


def parse_status(data: bytes, *, where: str = "board") -> list[bool]:
    """The relay states of a status answer, relay 1 first.

    Raises:
        KmtronicError: empty, too long, or a character other than ``0``/``1``.
    """
    if not data:
        raise KmtronicError(f"{where}: empty status answer")
    if len(data) > MAX_RELAYS:
        raise KmtronicError(f"{where}: status answer of {len(data)} bytes, at most {MAX_RELAYS}")
    states = []
    for index, byte in enumerate(data):
        if byte not in (0x30, 0x31):
            raise KmtronicError(
                f"{where}: status byte {index + 1} is {bytes([byte])!r}, expected '0' or '1' "
                f"(answer {data[:16]!r})"
            )
        states.append(byte == 0x31)
    return states


def status_answer(states: list[bool]) -> bytes:
    """A status answer in the boards' format (simulators, tests)."""
    return "".join("1" if on else "0" for on in states).encode("ascii")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()
        self.error: OSError | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.answers.put_nowait(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        if isinstance(exc, OSError):
            self.error = exc


class KmtronicUdpClient:
    """One board: relay commands and status requests, one exchange at a time.

    Args:
        host, port: the board.
        answer_timeout_s: how long a status request waits for its answer.
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, answer_timeout_s: float = 1.0):
        self.host = host
        self.port = port
        self.answer_timeout_s = answer_timeout_s
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Protocol | None = None
        self._lock = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return f"udp://{self.host}:{self.port}"

    async def _open(self) -> tuple[asyncio.DatagramTransport, _Protocol]:
        if self._transport is None or self._transport.is_closing() or self._protocol is None:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.create_datagram_endpoint(
                _Protocol, remote_addr=(self.host, self.port)
            )
            self._transport, self._protocol = transport, protocol
        return self._transport, self._protocol

    async def status(self) -> list[bool]:
        """The relay states, relay 1 first.

        Raises:
            TimeoutError: no answer within ``answer_timeout_s``.
            KmtronicError: an answer that is not a status.
            OSError: the network refused (host unreachable, port closed).
        """
        async with self._lock:
            transport, protocol = await self._open()
            while not protocol.answers.empty():  # a late answer to an earlier request
                protocol.answers.get_nowait()
            protocol.error = None
            transport.sendto(STATUS_REQUEST)
            try:
                async with asyncio.timeout(self.answer_timeout_s):
                    data = await protocol.answers.get()
            except TimeoutError:
                if protocol.error is not None:
                    raise protocol.error from None
                raise TimeoutError(
                    f"{self.endpoint}: no answer to the status request within "
                    f"{self.answer_timeout_s:g} s"
                ) from None
            return parse_status(data, where=self.endpoint)

    async def switch(self, relay: int, on: bool) -> None:
        """Send one relay command (the board does not answer it)."""
        async with self._lock:
            transport, protocol = await self._open()
            if protocol.error is not None:
                error, protocol.error = protocol.error, None
                raise error
            transport.sendto(relay_command(relay, on))

    def switch_nowait(self, relay: int, on: bool) -> None:
        """Send one relay command on an open socket without waiting (at shutdown); nothing
        happens when the socket is not open."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(relay_command(relay, on))

    async def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.close()
        self._transport = self._protocol = None
