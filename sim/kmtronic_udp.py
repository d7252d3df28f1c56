"""A KMTronic LAN relay board on loopback, speaking its UDP command protocol.

``FF0<relay>0<state>`` switches a relay (no answer), ``FF0000`` answers one ASCII digit per relay
(see ``drivers.sgready.kmtronic_udp``). With an SG-Ready heat pump on relays 1 and 2 the board's
``sg_ready_state`` is the state the pump sees.

Faults for tests: ``mode`` ``silent`` (no answers), ``garbage`` (an answer that is not a
status), ``stuck`` relays that ignore commands, and ``power_cycle()`` (every relay off, as a
board that lost power).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ampacity.drivers.sgready.kmtronic_udp import STATUS_REQUEST, status_answer

SG_READY_OF_RELAYS = {(True, False): 1, (False, False): 2, (False, True): 3, (True, True): 4}


@dataclass(frozen=True)
class Switched:
    """One relay command the board carried out."""

    at: float
    relay: int
    on: bool


class KmtronicBoardSimulator(asyncio.DatagramProtocol):
    """An 8-relay (or ``relays``-relay) board; ``start()`` binds 127.0.0.1 on a free port.

    Attributes:
        relays: relay states, relay 1 first.
        mode: ``ok``, ``silent`` or ``garbage``.
        stuck: relays (1-based) that ignore commands.
        commands: every datagram received.
        switched: every relay change carried out, with its time (``clock``).
    """

    def __init__(self, relays: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self.relays = [False] * relays
        self.mode = "ok"
        self.stuck: set[int] = set()
        self.commands: list[bytes] = []
        self.switched: list[Switched] = []
        self.clock = clock
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def sg_ready_state(self) -> int:
        """The SG-Ready state a pump on relays 1 (A) and 2 (B) sees."""
        return SG_READY_OF_RELAYS[(self.relays[0], self.relays[1])]

    def power_cycle(self) -> None:
        """The board restarts: every relay off."""
        self.relays = [False] * len(self.relays)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.commands.append(data)
        if self.mode == "silent" or self._transport is None:
            return
        if data == STATUS_REQUEST:
            if self.mode == "garbage":
                self._transport.sendto(b"<html>40", addr)  # 8 bytes, not digits
            else:
                self._transport.sendto(status_answer(self.relays), addr)
            return
        text = data.decode("ascii", errors="replace")
        if len(text) == 6 and text.startswith("FF0") and text[4] == "0" and text[3].isdigit():
            relay, state = int(text[3]), text[5]
            if 1 <= relay <= len(self.relays) and state in "01" and relay not in self.stuck:
                on = state == "1"
                if self.relays[relay - 1] != on:
                    self.relays[relay - 1] = on
                    self.switched.append(Switched(self.clock(), relay, on))
