"""SG-Ready on a KMTronic board (``sgready_kmtronic_udp``, HP-01) against independent sources.

The board is a plain UDP responder written here from domoticz's KMTronic UDP client (commands
``FF0<relay>0<state>``, status ``FF0000`` answered with one ASCII digit per relay), not the
project's simulator; the contact pattern of each SG-Ready state is OpenEMS's SG-Ready controller
table. The driver is built from the shipped profile (relays 1 and 2), and the test asserts the
exact datagrams it sends and the state it reads back. See fixtures/sgready_kmtronic_udp.json.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import yaml
from ampacity.drivers.sgready.driver import (
    PROFILES,
    SgReadyConnection,
    SgReadyProfile,
    create_driver,
)
from evidence_kit import load

FIXTURE = load("sgready_kmtronic_udp")
FRAMES = FIXTURE["frames"]


class PlainBoard(asyncio.DatagramProtocol):
    """Relays as the domoticz client expects the board to keep them; logs every datagram."""

    def __init__(self, relays: int = 8) -> None:
        self.relays = [False] * relays
        self.received: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("ascii")
        self.received.append(text)
        assert self.transport is not None
        if text == FRAMES["status_request"]:
            answer = "".join("1" if on else "0" for on in self.relays)
            self.transport.sendto(answer.encode("ascii"), addr)
            return
        for relay in range(1, len(self.relays) + 1):
            if text == FRAMES["relay_on"].format(relay=relay):
                self.relays[relay - 1] = True
            elif text == FRAMES["relay_off"].format(relay=relay):
                self.relays[relay - 1] = False


async def serve(relays: int = 8) -> tuple[PlainBoard, asyncio.DatagramTransport, int]:
    board = PlainBoard(relays)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: board, local_addr=("127.0.0.1", 0)
    )
    return board, transport, int(transport.get_extra_info("sockname")[1])


def shipped_profile() -> SgReadyProfile:
    data = yaml.safe_load((Path(PROFILES) / "sgready_kmtronic_udp.yaml").read_text("utf-8"))
    return SgReadyProfile.model_validate(data)


async def test_every_state_sends_the_sources_frames_and_reads_back() -> None:
    board, transport, port = await serve()
    try:
        connection = SgReadyConnection(
            host="127.0.0.1", port=port, min_dwell_s={s: 0 for s in (1, 2, 3, 4)}
        )
        driver = create_driver("hp", "hp", shipped_profile(), connection)
        values = await driver.link.read()
        assert values == {("hp", "SgReadyState"): 2}
        for state in FIXTURE["states"]:
            board.received.clear()
            result = await driver.write("hp", "SgReadyState", state["sg_ready"])
            assert board.relays[:2] == [state["output1"], state["output2"]], state["name"]
            assert result.read_back == state["sg_ready"], state["name"]
            commands = [r for r in board.received if r != FRAMES["status_request"]]
            assert all(len(c) == 6 and c.startswith("FF0") for c in commands), commands
            assert FRAMES["status_request"] in board.received  # the read-back
    finally:
        await driver.link.close()
        transport.close()


async def test_status_answers_decode_as_the_source_reads_them() -> None:
    for case in FRAMES["status_answers"]:
        board, transport, port = await serve(len(case["answer"]))
        try:
            for relay in case["relays_on"]:
                board.relays[relay - 1] = True
            connection = SgReadyConnection(host="127.0.0.1", port=port)
            driver = create_driver("hp", "hp", shipped_profile(), connection)
            want = {(True, False): 1, (False, False): 2, (False, True): 3, (True, True): 4}[
                (1 in case["relays_on"], 2 in case["relays_on"])
            ]
            assert await driver.link.read() == {("hp", "SgReadyState"): want}, case
        finally:
            await driver.link.close()
            transport.close()
