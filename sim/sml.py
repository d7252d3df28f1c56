"""A simulated SML meter: a real meter's frame replayed with its values moving.

``SmlReplay`` takes one real frame (a capture), finds its list entries and rewrites the numbers
of chosen OBIS codes in place (same type-length byte, so the frame keeps its layout), then redoes
every SML message's CRC and the transport CRC: what comes out is a valid frame that any SML
reader accepts. ``SmlStreamServer`` sends such frames as a meter does, on a TCP port (a network
IR reader) or on a pseudo-terminal (an optical head on a serial port).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ampacity.drivers.sml.frames import FrameReader, build_frame
from smllib.crc import x25
from smllib.sml_frame import SmlFrame

from .pty import VirtualSerialLine


@dataclass(frozen=True, slots=True)
class _Slot:
    pos: int
    size: int
    signed: bool
    scaler: int


class SmlReplay:
    """One real frame whose numeric values can be changed.

    Args:
        frame: a complete transport frame (start escape to CRC), e.g. from a capture.
    """

    def __init__(self, frame: bytes) -> None:
        frames = FrameReader().feed(frame)
        if not frames:
            raise ValueError("not a complete SML frame with a good CRC")
        self.payload = bytearray(frames[0].payload)
        self.slots: dict[str, _Slot] = {}
        self.messages: list[tuple[int, int]] = []
        self._index()

    def _index(self) -> None:
        data = bytes(self.payload)
        frame = SmlFrame(data)
        pos = 0
        while pos < len(data) and data[pos] == 0x76:
            message = frame.get_value(pos)
            frame._parse_msg(message)
            fields = cast(list[Any], message.value)
            self.messages.append((pos, fields[4].pos))
            pos = frame.next_pos
            while pos < len(data) and data[pos] == 0x00:
                pos += 1
        for marker in (b"\x77\x07\x01", b"\x77\x07\x00"):
            at = data.find(marker)
            while at >= 0:
                snippet = frame.get_value(at)
                frame._parse_msg(snippet)
                parts = cast(list[Any], snippet.value)
                obis = bytes.fromhex(parts[0].value)
                code = f"{obis[0]}-{obis[1]}:{obis[2]}.{obis[3]}.{obis[4]}*{obis[5]}"
                value = parts[5]
                tl = data[value.pos]
                if tl & 0x70 in (0x50, 0x60) and isinstance(value.value, int):
                    scaler = parts[4].value or 0
                    self.slots[code] = _Slot(value.pos, (tl & 0x0F) - 1, tl & 0x70 == 0x50, scaler)
                at = data.find(marker, frame.next_pos)

    def set(self, obis: str, value: float) -> None:
        """Put ``value`` (in the entry's unit: W, Wh ...) into the entry, rounded to its scaler.

        Raises:
            KeyError: the frame has no numeric entry ``obis``.
            OverflowError: the value does not fit the entry's integer type.
        """
        slot = self.slots[obis]
        raw = round(value / 10**slot.scaler)
        data = raw.to_bytes(slot.size, "big", signed=slot.signed)
        self.payload[slot.pos + 1 : slot.pos + 1 + slot.size] = data

    def frame(self) -> bytes:
        """The current values as a complete frame (message CRCs and frame CRC redone)."""
        for start, crc_pos in self.messages:
            crc = x25.get_crc(bytes(self.payload[start:crc_pos]))
            # the message CRC is an Unsigned16 (TL 0x63) in every meter's frames
            self.payload[crc_pos : crc_pos + 3] = b"\x63" + crc.to_bytes(2, "big")
        return build_frame(bytes(self.payload))


class SmlStreamServer:
    """Sends a meter's frames every ``period_s`` to whoever listens.

    Args:
        next_frame: the bytes of the next frame (or any bytes: noise, a cut-off frame).
        period_s: the meter's send interval.
    """

    def __init__(self, next_frame: Callable[[], bytes], period_s: float = 1.0) -> None:
        self.next_frame = next_frame
        self.period_s = period_s
        self.host = "127.0.0.1"
        self.port = 0
        self.serial_path = ""
        self._server: asyncio.Server | None = None
        self._line: VirtualSerialLine | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.paused = asyncio.Event()

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on a TCP port; each client gets the stream from the next frame on."""
        self._server = await asyncio.start_server(self._client, host, port)
        sock = self._server.sockets[0]
        self.host, self.port = sock.getsockname()[:2]

    def start_pty(self) -> str:
        """Send on a pseudo-terminal; returns the client's device path."""
        self._line = VirtualSerialLine()
        self._line.open()
        self.serial_path = self._line.client_path
        fd = os.open(self._line.server_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        task = asyncio.create_task(self._pty_loop(fd))
        self._tasks.add(task)
        return self.serial_path

    async def _pty_loop(self, fd: int) -> None:
        try:
            while True:
                if not self.paused.is_set():
                    with contextlib.suppress(BlockingIOError, OSError):
                        os.write(fd, self.next_frame())
                await asyncio.sleep(self.period_s)
        finally:
            os.close(fd)

    async def _client(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                if not self.paused.is_set():
                    writer.write(self.next_frame())
                    await writer.drain()
                await asyncio.sleep(self.period_s)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        if self._line is not None:
            self._line.close()
            self._line = None
