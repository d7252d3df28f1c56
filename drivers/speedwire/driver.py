"""The ``sma_energy_meter`` driver: SMA Energy Meter 1.0/2.0 and Sunny Home Manager 1.0/2.0.

The meters multicast a datagram about once a second to 239.12.255.254:9522 (newer firmware can
also unicast to configured addresses). Every device of a site that listens on the same address
shares one socket (``SpeedwireHub``): datagrams are routed by the sender's serial number, so
several meters on one network are several devices with their ``serial_number``. Datagrams of
other protocol ids (inverter traffic, 0x6065) and of other serial numbers are ignored (counted);
a truncated datagram is ignored and counted in the meter's ``Health`` (its ``LastError`` says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ampacity.assets import AssetKind, PointValue
from ampacity.drivers.base import Driver
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry
from ampacity.drivers.runtime import AssetPlan, DeviceError, PointKey, PolledDriver, Sample
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .packet import (
    POINTS,
    PROTOCOL_METER,
    PacketError,
    header,
    parse,
    points,
)

log = logging.getLogger("ampacity.drivers.speedwire")

PROFILES = Path(__file__).parent / "profiles"
GROUP = "239.12.255.254"
PORT = 9522


class SpeedwireAsset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    kind: AssetKind = AssetKind.ELECTRICITY_METER

    @field_validator("kind")
    @classmethod
    def _meter(cls, kind: AssetKind) -> AssetKind:
        if kind is not AssetKind.ELECTRICITY_METER:
            raise ValueError("an SMA Energy Meter is an ElectricityMeter")
        return kind


class SpeedwireProfile(ProfileHeader):
    driver: Literal["sma_energy_meter"] = "sma_energy_meter"
    assets: tuple[SpeedwireAsset, ...] = Field(min_length=1, max_length=1)
    packet_timeout_s: float = Field(
        5.0, gt=0, le=60, description="No datagram of the meter for this long is a failure."
    )


class SpeedwireConnection(BaseModel):
    """Which meter (``serial_number``) and where to listen (``bind``)."""

    model_config = ConfigDict(extra="forbid")

    serial_number: int = Field(ge=0, le=0xFFFFFFFF, description="The meter's serial number.")
    bind: str = Field(
        f"0.0.0.0:{PORT}",
        description="Address:port to listen on (a local address, or 127.0.0.1 for unicast).",
    )
    multicast_group: str | None = Field(GROUP, description="Group to join (none: unicast only).")
    interface: str = Field(
        "0.0.0.0", description="Local address of the interface to join the group on."
    )

    @field_validator("bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("give host:port, e.g. 0.0.0.0:9522")
        ipaddress.ip_address(host)
        return value

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.bind.rpartition(":")
        return host, int(port)


@dataclass(slots=True)
class HubStats:
    datagrams: int = 0
    other_protocol: int = 0
    not_speedwire: int = 0
    other_serials: set[int] = field(default_factory=set)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, hub: SpeedwireHub) -> None:
        self.hub = hub

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.hub.received(data)


class SpeedwireHub:
    """One UDP socket on one address, shared by the meters listening there."""

    def __init__(self, address: tuple[str, int], group: str | None, interface: str) -> None:
        self.address = address
        self.group = group
        self.interface = interface
        self.queues: dict[int, asyncio.Queue[bytes]] = {}
        self.stats = HubStats()
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    async def open(self) -> None:
        if self._transport is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):  # SMA software on the same host shares it
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(self.address)
            if self.group and not ipaddress.ip_address(self.address[0]).is_loopback:
                membership = struct.pack(
                    "4s4s", socket.inet_aton(self.group), socket.inet_aton(self.interface)
                )
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
                except OSError as exc:
                    log.warning(
                        "%s: cannot join %s (%s); unicast datagrams only",
                        self.endpoint,
                        self.group,
                        exc.strerror or exc,
                    )
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport

    def subscribe(self, serial: int) -> asyncio.Queue[bytes]:
        queue = self.queues.get(serial)
        if queue is None:
            queue = self.queues[serial] = asyncio.Queue(maxsize=1)
        return queue

    def received(self, data: bytes) -> None:
        self.stats.datagrams += 1
        head = header(data)
        if head is None:
            self.stats.not_speedwire += 1
            return
        protocol, _susy, serial = head
        if protocol != PROTOCOL_METER:
            self.stats.other_protocol += 1
            return
        queue = self.queues.get(serial)
        if queue is None:
            self.stats.other_serials.add(serial)
            return
        if queue.full():  # keep the newest
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(data)

    async def aclose(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


def hub_for(context: BuildContext, connection: SpeedwireConnection) -> SpeedwireHub:
    """The site's hub on the connection's address (made on first use, closed at shutdown)."""
    name = f"speedwire:{connection.bind}"
    if name not in context.resources:
        hub = SpeedwireHub(connection.address, connection.multicast_group, connection.interface)
        context.resources[name] = hub
        context.closers.append(hub.aclose)
    hub = context.resources[name]
    assert isinstance(hub, SpeedwireHub)
    return hub


class SpeedwireLink:
    """How to read one meter: its next datagram's points."""

    def __init__(self, hub: SpeedwireHub, serial: int, *, asset_key: str, timeout_s: float) -> None:
        self.hub = hub
        self.serial = serial
        self.asset_key = asset_key
        self.timeout_s = timeout_s
        self.queue = hub.subscribe(serial)
        self.on_bad_packet: Any = None
        self.truncated = 0
        self._pending: Mapping[PointKey, PointValue | Sample] | None = None

    @property
    def endpoint(self) -> str:
        return self.hub.endpoint

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        """The points of the meter's next complete datagram.

        Raises:
            DeviceError: none within ``timeout_s`` (the message says what else came).
            OSError: the address cannot be bound.
        """
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending
        await self.hub.open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    data = await self.queue.get()
            except TimeoutError:
                raise DeviceError(self._silence()) from None
            try:
                packet = parse(data)
            except PacketError as exc:
                self._bad(str(exc))
                continue
            if packet.truncated:
                self.truncated += 1
                self._bad(f"truncated Speedwire datagram of {len(data)} bytes ignored")
                continue
            values: dict[PointKey, PointValue | Sample] = {
                (self.asset_key, name): value for name, value in points(packet).items()
            }
            values[(self.asset_key, "Identification.Model")] = packet.model
            values[(self.asset_key, "Identification.SerialNumber")] = str(packet.serial)
            if packet.software:
                values[(self.asset_key, "Identification.FirmwareVersion")] = packet.software
            return values

    async def discover(self) -> list[str] | None:
        """The points the meter's first datagram carries (kept for the first ``read``), or
        ``None`` when none came in time (then every point is served)."""
        try:
            values = await self.read()
        except (DeviceError, OSError) as exc:
            log.warning("%s: no datagram at start (%s); serving every point", self.endpoint, exc)
            return None
        self._pending = values
        return [p for (_, p) in values if not p.startswith("Identification.")]

    def _silence(self) -> str:
        stats = self.hub.stats
        others = sorted(stats.other_serials)
        seen = f"; heard meters {', '.join(map(str, others[:5]))}" if others else ""
        if stats.datagrams == 0:
            return (
                f"no Speedwire datagram on {self.hub.endpoint} for {self.timeout_s:g} s "
                "(same network as the meter? multicast blocked?)"
            )
        if self.truncated:
            seen = f"; {self.truncated} truncated datagrams of it ignored since start{seen}"
        return (
            f"no complete datagram from the meter with serial number {self.serial} on "
            f"{self.hub.endpoint} for {self.timeout_s:g} s{seen}"
        )

    def _bad(self, cause: str) -> None:
        text = f"{cause} from {self.endpoint} (meter {self.serial})"
        log.debug("%s", text)
        if self.on_bad_packet is not None:
            self.on_bad_packet(text)

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        raise DeviceError("an SMA Energy Meter has no setpoints")

    async def close(self) -> None:
        return None


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, SpeedwireProfile)
    connection = entry.connection
    assert isinstance(connection, SpeedwireConnection)
    asset = profile.assets[0]
    link = SpeedwireLink(
        hub_for(context, connection),
        connection.serial_number,
        asset_key=asset.key,
        timeout_s=profile.packet_timeout_s,
    )
    found = await link.discover()
    plan = AssetPlan(
        asset.key,
        entry.asset_ids[asset.key],
        asset.kind,
        tuple(p for p in POINTS if found is None or p in found),
        identification={
            "Manufacturer": "SMA",
            "SerialNumber": str(connection.serial_number),
            "DeviceProfile": profile.id,
        },
    )
    driver = PolledDriver(
        entry.device_id,
        [plan],
        link,
        poll_s=entry.poll_s or profile.poll_s,
        streaming=True,
        timeout_s=profile.packet_timeout_s + 1.0,
        backoff_max_s=10.0,
    )
    health = driver.runtime.health
    link.on_bad_packet = lambda cause: health.failed(cause, disconnected=False)
    return driver
