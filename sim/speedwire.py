"""A simulated SMA Energy Meter: a real EM 1.0 datagram with the values of a simulated feed.

``SmaEnergyMeterSim`` takes a real datagram (smasolar's EM 1.0 capture, protocol 0x6069), puts in
its serial number and the power and energy of what it measures, and sends it once a second to a
UDP address: on loopback the demo uses unicast, as newer SMA firmware can.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

from .faults import Fault, FaultSwitch

EM10_DATAGRAM = bytes.fromhex(
    "534d4100000402a000000001024400106069015d71551f2293ee13a200010400000018cb0001080000000003"
    "950e518000020400000000000002080000000000036ae9a800030400000002c70003080000000000bb21c1e8"
    "0004040000000000000408000000000011fd0e8800090400000018f30009080000000003bf62e888000a0400"
    "00000000000a0800000000000f22b3c0000d0400000003e200150400000018cb0015080000000003950e5180"
    "00160400000000000016080000000000036ae9a800170400000002c70017080000000000bb21c1e800180400"
    "00000000001808000000000011fd0e88001d0400000018f3001d080000000003bf62e888001e040000000000"
    "001e0800000000000f22b3c0001f040000000bb700200400000371dd00210400000003e20029040000000000"
    "002908000000000000000000002a040000000000002a08000000000000000000002b040000000000002b0800"
    "0000000000000000002c040000000000002c0800000000000000000000310400000000000031080000000000"
    "0000000000320400000000000032080000000000000000000033040000000000003404000000000000350400"
    "00000000003d040000000000003d08000000000000000000003e040000000000003e08000000000000000000"
    "003f040000000000003f08000000000000000000004004000000000000400800000000000000000000450400"
    "0000000000450800000000000000000000460400000000000046080000000000000000000047040000000000"
    "00480400000000000049040000000000900000000200105200000000"
)
"""A real Energy Meter 1.0 datagram (lujop/smasolar@846c2d8b EMeterContentDecoderTest: SUSy 349,
serial 1901403938, software 2.0.16.R, a single-phase load on L1)."""

HEADER = 28


class SmaEnergyMeterSim:
    """Sends an Energy Meter datagram with the measured feed's values every ``period_s``.

    Args:
        power_w: the measured power, W, sent as the meter's "+" direction (index 1 and L1).
        energy_wh: the energy counted in that direction, Wh.
        target: (host, port) the datagrams go to.
        serial: the meter's serial number.
    """

    def __init__(
        self,
        power_w: Callable[[], float],
        energy_wh: Callable[[], float],
        target: tuple[str, int],
        serial: int = 1901403938,
        period_s: float = 1.0,
    ) -> None:
        self.power_w = power_w
        self.energy_wh = energy_wh
        self.target = target
        self.serial = serial
        self.period_s = period_s
        self.faults = FaultSwitch()
        self.data = bytearray(EM10_DATAGRAM)
        struct.pack_into(">I", self.data, 20, serial)
        self.records = self._records()
        self._task: asyncio.Task[None] | None = None
        self._ticker = 0

    def _records(self) -> dict[tuple[int, int], int]:
        """Offset of each record's value by (index, type)."""
        out: dict[tuple[int, int], int] = {}
        pos = HEADER
        while pos + 4 <= len(self.data):
            channel, index, kind = self.data[pos], self.data[pos + 1], self.data[pos + 2]
            if channel == index == kind == 0:
                break
            size = 8 if kind == 8 else 4
            out[(index, kind)] = pos + 4
            pos += 4 + size
        return out

    def datagram(self) -> bytes:
        power = max(0.0, self.power_w())
        energy_ws = round(max(0.0, self.energy_wh()) * 3600.0)
        deci = round(power * 10.0)
        for index in (1, 21):
            struct.pack_into(">I", self.data, self.records[(index, 4)], deci)
            struct.pack_into(">Q", self.data, self.records[(index, 8)], energy_ws)
        for index in (9, 29):  # apparent power: cos phi 1
            struct.pack_into(">I", self.data, self.records[(index, 4)], deci)
        for index in (3, 23):
            struct.pack_into(">I", self.data, self.records[(index, 4)], 0)
        self._ticker = (self._ticker + int(self.period_s * 1000)) & 0xFFFFFFFF
        struct.pack_into(">I", self.data, 24, self._ticker)
        return bytes(self.data)

    async def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            while True:
                if self.faults.fault is Fault.NONE:
                    with contextlib.suppress(OSError):
                        sock.sendto(self.datagram(), self.target)
                elif self.faults.fault is Fault.GARBAGE:
                    with contextlib.suppress(OSError):
                        sock.sendto(bytes(self.datagram()[:200]), self.target)
                await asyncio.sleep(self.period_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sma-energy-meter-sim")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now (for the demo's unicast meter)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
