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

from .faults import Fault, FaultSwitch
from .pty import VirtualSerialLine

ISKRA_MT175_FRAME = bytes.fromhex(
    "1b1b1b1b0101010176050d3412a46200620072630101760101050466b0e20b0649534b010e1f66299a010163"
    "c9160076050d3412a5620062007263070177010b0649534b010e1f66299a070100620affff7262016505ea8f"
    "887d77078181c78203ff010101010449534b0177070100000009ff010101010b0649534b010e1f66299a0177"
    "070100010800ff65000101a201621e52ff590000000006659ed30177070100010801ff0101621e52ff590000"
    "000006659ed30177070100010802ff0101621e52ff5900000000000000000177070100020800ff65000101a2"
    "01621e52ff590000000010da78dd0177070100020801ff0101621e52ff590000000010da78dd017707010002"
    "0802ff0101621e52ff5900000000000000000177070100100700ff0101621b520055ffffef2c017707010024"
    "0700ff0101621b520055fffffa900177070100380700ff0101621b520055fffffa6801770701004c0700ff01"
    "01621b520055fffffa360177078181c78205ff010101018302b85bfca2569229225fd5173f88c1f479113548"
    "12d0deb2a57886e767e6eb7e12f068dcc113d481cc71df6a4d667361980101016341270076050d3412a66200"
    "6200726302017101636a11001b1b1b1b1a006989"
)
"""A real Iskra MT175 frame (devZer0/libsml-testing@a3c7869f ISKRA_MT175_D1A52-V22-K0t.bin,
frame 0): 1.8.0/1.8.1/1.8.2, 2.8.0/2.8.1/2.8.2 (8-byte, 0.1 Wh), 16.7.0 and 36/56/76.7.0
(4-byte signed, W). The demo's grid meter replays it with the house's values."""


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


class DemoGridMeter:
    """The demo's grid meter: a real Iskra MT175 frame with the house's grid power and energy,
    sent once a second on a pseudo-terminal as an optical head would deliver it.

    Args:
        power_w: grid power, W (+ = import).
        energy_wh: (imported, exported) energy, Wh.
        period_s: the meter's send interval.

    ``faults``: ``Fault.SILENT`` / ``DISCONNECT`` stop the frames (a head fallen off the meter),
    ``GARBAGE`` sends noise (a wrong baud rate looks like this).
    """

    def __init__(
        self,
        power_w: Callable[[], float],
        energy_wh: Callable[[], tuple[float, float]],
        period_s: float = 1.0,
    ) -> None:
        self.power_w = power_w
        self.energy_wh = energy_wh
        self.replay = SmlReplay(ISKRA_MT175_FRAME)
        self.faults = FaultSwitch()
        self.server = SmlStreamServer(self._next, period_s)
        self._noise = 0

    def _next(self) -> bytes:
        fault = self.faults.fault
        if fault in (Fault.SILENT, Fault.DISCONNECT):
            return b""
        if fault is Fault.GARBAGE:
            self._noise = (self._noise * 1103515245 + 12345) & 0x7FFFFFFF
            return self._noise.to_bytes(4, "big") * 64
        power = self.power_w()
        imported, exported = self.energy_wh()
        r = self.replay
        for code in ("1-0:1.8.0*255", "1-0:1.8.1*255"):
            r.set(code, imported)
        for code in ("1-0:2.8.0*255", "1-0:2.8.1*255"):
            r.set(code, exported)
        r.set("1-0:16.7.0*255", power)
        share = round(power / 3.0)
        r.set("1-0:36.7.0*255", share)
        r.set("1-0:56.7.0*255", share)
        r.set("1-0:76.7.0*255", round(power) - 2 * share)
        return r.frame()

    def start(self) -> str:
        """Start sending; returns the serial device a client opens."""
        return self.server.start_pty()

    async def stop(self) -> None:
        await self.server.stop()
