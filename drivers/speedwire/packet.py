"""SMA Energy Meter / Sunny Home Manager Speedwire datagrams (protocol 0x6069) → model points.

Layout (big-endian; SMA "SMA Energy Meter Protocol" EMETER-Protokoll-TI-en-10):

====== ===== ==========================================================================
offset bytes content
====== ===== ==========================================================================
0      4     ``SMA\\0``
4      4     tag: length 4, tag 0x02A0 (group); 8: the group (1)
12     2     data length (counted from offset 16)
14     2     tag 0x0010 (SMA Net 2)
16     2     protocol id: 0x6069 meter data (0x6065 is inverter traffic: ignored)
18     2     SUSy id (270 SHM 1.0, 349 EM 1.0, 372 SHM 2.0, 501 EM 2.0)
20     4     serial number
24     4     ticker, ms
28     …     OBIS records ``[channel, index, type, tariff]`` + 4 bytes (type 4, "actual")
             or 8 bytes (type 8, counter); channel 0x90 type 0: software version;
             an end tag of 4 zero bytes
====== ===== ==========================================================================

Scaling: power 0.1 W (var, VA), energy counters Ws (÷ 3600 → Wh), current mA, voltage mV,
cos φ 0.001 (signed), frequency 0.001 Hz. Indices: 1/2 active power import/export, 3/4
reactive, 9/10 apparent, 13 cos φ, 14 frequency; per phase 21–34 (L1), 41–54 (L2), 61–74 (L3),
the same order (+ 31/51/71 current, 32/52/72 voltage, 33/53/73 cos φ).

Sign: every import/export pair is two non-negative numbers; the model's ``ActivePower`` is
import − export (+ = import from the grid, as for every grid meter).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ampacity.assets import PointValue

MAGIC = b"SMA\x00"
PROTOCOL_METER = 0x6069
PROTOCOL_METER_EXTENDED = 0x6081
"""Sent by Home Manager 2.0 firmware from 2.07 and by inverters besides 0x6069; its layout is not
public (parsers that read it as meter data showed megawatt peaks, mitchese/shm-et340#2), so it is
ignored like inverter traffic."""
HEADER = 28
SOFTWARE_CHANNEL = 0x90
SIGNED = frozenset({13, 33, 53, 73})

MODELS = {
    270: "Sunny Home Manager 1.0",
    349: "Energy Meter 1.0",
    372: "Sunny Home Manager 2.0",
    501: "Energy Meter 2.0",
}
"""SUSy ids of the meters that send protocol 0x6069."""


class PacketError(ValueError):
    """Not a usable meter datagram (the message says why)."""


@dataclass(slots=True)
class MeterPacket:
    """One decoded datagram.

    Attributes:
        susy_id, serial: who sent it.
        ticker_ms: the meter's millisecond ticker.
        actual: type-4 records by index (raw; tariff 0).
        counters: type-8 records by index (raw, Ws).
        software: the software version (``"2.0.16.R"``), if sent.
        truncated: the datagram ended inside a record (records before it are kept).
    """

    susy_id: int
    serial: int
    ticker_ms: int
    actual: dict[int, int] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)
    software: str = ""
    truncated: bool = False

    @property
    def model(self) -> str:
        return MODELS.get(self.susy_id, f"SMA meter (SUSy id {self.susy_id})")


def header(data: bytes) -> tuple[int, int, int] | None:
    """``(protocol id, susy id, serial)`` of a Speedwire datagram, ``None`` if it is not one."""
    if len(data) < 24 or data[:4] != MAGIC:
        return None
    protocol, susy, serial = struct.unpack_from(">HHI", data, 16)
    return protocol, susy, serial


def parse(data: bytes) -> MeterPacket:
    """Decode a meter datagram.

    Raises:
        PacketError: not SMA Speedwire, another protocol id, or too short for its header.
    """
    if data[:4] != MAGIC:
        raise PacketError("not a Speedwire datagram (no 'SMA' signature)")
    if len(data) < HEADER:
        raise PacketError(f"Speedwire datagram of {len(data)} bytes, shorter than its header")
    (length,) = struct.unpack_from(">H", data, 12)
    protocol, susy, serial, ticker = struct.unpack_from(">HHII", data, 16)
    start = HEADER
    if protocol != PROTOCOL_METER:
        raise PacketError(f"Speedwire protocol 0x{protocol:04x} is not energy-meter data")
    packet = MeterPacket(susy, serial, ticker)
    end = min(len(data), 16 + length)
    packet.truncated = len(data) < 16 + length
    pos = start
    while pos + 4 <= end:
        channel, index, kind, tariff = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
        if channel == 0 and index == 0 and kind == 0 and tariff == 0:
            break  # end tag
        size = 8 if kind == 8 else 4
        if pos + 4 + size > end:
            packet.truncated = True
            break
        if channel == SOFTWARE_CHANNEL:
            a, b, c, d = data[pos + 4 : pos + 8]
            packet.software = f"{a}.{b}.{c}.{chr(d) if 32 < d < 127 else d}"
        elif kind == 4:
            fmt = ">i" if index in SIGNED else ">I"  # cos phi is signed
            (packet.actual[index],) = struct.unpack_from(fmt, data, pos + 4)
        elif kind == 8:
            (packet.counters[index],) = struct.unpack_from(">Q", data, pos + 4)
        pos += 4 + size
    return packet


PHASES = {"L1": 20, "L2": 40, "L3": 60}


def points(packet: MeterPacket) -> dict[str, PointValue]:
    """The model points a datagram carries (W, var, VA, Wh, A, V, Hz; + = import)."""
    a, c = packet.actual, packet.counters
    out: dict[str, PointValue] = {}

    def net(plus: int, minus: int, scale: float) -> float | None:
        if plus not in a and minus not in a:
            return None
        return (a.get(plus, 0) - a.get(minus, 0)) * scale

    def add(name: str, value: float | None) -> None:
        if value is not None:
            out[name] = round(value, 6)

    add("ActivePower", net(1, 2, 0.1))
    add("ReactivePower", net(3, 4, 0.1))
    if 9 in a or 10 in a:
        add("ApparentPower", (a.get(9, 0) + a.get(10, 0)) * 0.1)
    if 13 in a:
        add("PowerFactor", a[13] / 1000.0)
    if 14 in a:
        add("Frequency", a[14] / 1000.0)
    if 1 in c:
        add("EnergyImported", c[1] / 3600.0)
    if 2 in c:
        add("EnergyExported", c[2] / 3600.0)
    for phase, base in PHASES.items():
        add(f"ActivePower{phase}", net(base + 1, base + 2, 0.1))
        if base + 11 in a:
            add(f"Current{phase}", a[base + 11] / 1000.0)
        if base + 12 in a:
            add(f"Voltage{phase}", a[base + 12] / 1000.0)
        if base + 13 in a:
            add(f"PowerFactor{phase}", a[base + 13] / 1000.0)
        if base + 1 in c:
            add(f"EnergyImported{phase}", c[base + 1] / 3600.0)
        if base + 2 in c:
            add(f"EnergyExported{phase}", c[base + 2] / 3600.0)
    return out


POINTS = (
    "ActivePower",
    "ActivePowerL1",
    "ActivePowerL2",
    "ActivePowerL3",
    "ReactivePower",
    "ApparentPower",
    "PowerFactor",
    "PowerFactorL1",
    "PowerFactorL2",
    "PowerFactorL3",
    "Frequency",
    "CurrentL1",
    "CurrentL2",
    "CurrentL3",
    "VoltageL1",
    "VoltageL2",
    "VoltageL3",
    "EnergyImported",
    "EnergyExported",
    "EnergyImportedL1",
    "EnergyImportedL2",
    "EnergyImportedL3",
    "EnergyExportedL1",
    "EnergyExportedL2",
    "EnergyExportedL3",
)
"""Every point a meter's datagram can carry."""
