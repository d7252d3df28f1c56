"""KEBA UDP links: one local socket per bind address, one ``KebaLink`` per station.

A KEBA answers to UDP port 7090 whatever port a request came from, so a host talks to all its
KEBAs through one socket bound to port 7090 (``KebaHub``); replies and broadcasts are handed to
the station whose address (IP and port) sent them. A station handles one command at a time and
needs a pause between datagrams: ``KebaLink`` sends one datagram, waits for its answer (a report
with the right ``ID``, or ``TCH-OK :done``), then keeps the pause before the next one. Broadcasts
(``{"State": 3}``, ``{"Plug": 7}``, ``{"E pres": ...}``) that arrive meanwhile are never taken for
an answer; their values update the station's points at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ampacity.assets import OutOfRangeError, PointValue, Quality
from ampacity.drivers.runtime import DeviceError, PointKey, Sample

from . import protocol as p

log = logging.getLogger("ampacity.drivers.keba")

DEFAULT_PORT = 7090


def parse_bind(text: str) -> tuple[str, int]:
    """``"0.0.0.0:7090"``, ``"127.0.0.1:0"`` or ``"[::]:7090"`` → (host, port).

    Raises:
        ValueError: not ``host:port`` with a port 0..65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bind {text!r} is not host:port (e.g. 0.0.0.0:7090)")
    return host.strip("[]"), int(port)


class KebaHub(asyncio.DatagramProtocol):
    """The one UDP socket of a local address, shared by every KEBA link of a site.

    Args:
        bind: local ``host:port`` (``0.0.0.0:7090`` for real stations).
    """

    def __init__(self, bind: str) -> None:
        self.bind = bind
        self._local = parse_bind(bind)
        self._transport: asyncio.DatagramTransport | None = None
        self._open_lock = asyncio.Lock()
        self._stations: dict[tuple[str, int], Callable[[bytes], None]] = {}

    @property
    def local_port(self) -> int | None:
        """The bound port (useful with port 0), ``None`` before the socket is open."""
        if self._transport is None:
            return None
        return int(self._transport.get_extra_info("sockname")[1])

    async def open(self) -> None:
        """Bind the socket once (again after it was lost).

        Raises:
            OSError: the address cannot be bound (in use, not on this machine), in words.
        """
        async with self._open_lock:
            if self._transport is not None and not self._transport.is_closing():
                return
            loop = asyncio.get_running_loop()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: self, local_addr=self._local, allow_broadcast=True
                )
            except OSError as exc:
                why = (
                    "address already in use (another program on this host talks to KEBAs?)"
                    if exc.errno == errno.EADDRINUSE
                    else exc.strerror or str(exc)
                )
                raise OSError(f"cannot listen on UDP {self.bind}: {why}") from exc
            self._transport = transport

    def attach(self, station: tuple[str, int], deliver: Callable[[bytes], None]) -> None:
        """Datagrams from ``station`` (IP, port) go to ``deliver``.

        Raises:
            DeviceError: another device of the site is already at that address.
        """
        other = self._stations.get(station)
        if other is not None and other != deliver:
            raise DeviceError(f"two KEBA devices configured at {station[0]}:{station[1]}")
        self._stations[station] = deliver

    def detach(self, station: tuple[str, int]) -> None:
        self._stations.pop(station, None)

    def send(self, data: bytes, station: tuple[str, int]) -> None:
        if self._transport is None or self._transport.is_closing():
            raise OSError(f"UDP {self.bind} is not open")
        self._transport.sendto(data, station)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        deliver = self._stations.get((addr[0], addr[1]))
        if deliver is None:
            same_ip = [d for (ip, _), d in self._stations.items() if ip == addr[0]]
            deliver = same_ip[0] if len(same_ip) == 1 else None
        if deliver is None:
            log.debug("UDP %s: datagram from unknown sender %s:%s ignored", self.bind, *addr[:2])
            return
        deliver(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP %s: %s", self.bind, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    async def aclose(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """How one station is driven (from its profile).

    Attributes:
        asset_key: the charge point's key in the profile.
        gap_s: pause after each datagram before the next one (the station's minimum delay).
        answer_timeout_s: how long to wait for one answer.
        poll_s: reports are requested this often; a status broadcast in between is published at
            once (``read`` returns its values without a request).
        identification_every_s: ``report 1`` is read after each (re)connect and then this often.
        currtime_delay_s: the delay of ``currtime`` (the station applies a current after it).
        failsafe_timeout_s: the station falls back to ``failsafe_current_a`` when no command came
            within this time (sent with the first setpoint after each (re)connect; 0 = off).
        failsafe_current_a: the fallback current, A (0 = stop charging).
        phase_switch_pause_s: least time between two phase switches.
        after_disable_s: extra pause after ``ena 0`` before the next datagram.
    """

    asset_key: str
    gap_s: float = 0.1
    poll_s: float = 2.0
    answer_timeout_s: float = 1.0
    identification_every_s: float = 600.0
    currtime_delay_s: int = 1
    failsafe_timeout_s: int = 60
    failsafe_current_a: float = 6.0
    phase_switch_pause_s: float = 300.0
    after_disable_s: float = 2.0


@dataclass
class _Known:
    """What the link last learnt from the station."""

    status: dict[str, Any] = field(default_factory=dict)
    meter: dict[str, Any] = field(default_factory=dict)
    ident: dict[str, str] = field(default_factory=dict)
    ident_at: float | None = None
    has_meter: bool = True


class KebaLink:
    """One KEBA station on a shared ``KebaHub`` (a ``DeviceLink``).

    Args:
        host: the station's address (a name is resolved once, at the first request).
        port: the station's UDP port (7090; a simulator's port in tests).
        hub: the shared socket.
        options: pacing, timeouts, fallback.
    """

    def __init__(self, host: str, port: int, hub: KebaHub, options: LinkOptions) -> None:
        self.host = host
        self.port = port
        self.hub = hub
        self.options = options
        self._station: tuple[str, int] | None = None
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self._lock = asyncio.Lock()
        self._ready_at = 0.0
        self._known = _Known()
        self._configured = False
        self._enabled: bool | None = None
        self._phase_switched_at: float | None = None
        self._next_poll = 0.0
        self._broadcast = asyncio.Event()

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    # --- the socket ----------------------------------------------------------------------------

    async def _connect(self) -> tuple[str, int]:
        if self._station is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            if not infos:
                raise socket.gaierror(f"unknown host {self.host}")
            ip = str(infos[0][4][0])
            self._station = (ip, self.port)
        await self.hub.open()
        self.hub.attach(self._station, self._deliver)
        return self._station

    def _deliver(self, data: bytes) -> None:
        """A datagram from the station: broadcasts are applied, everything else is an answer."""
        with contextlib.suppress(p.ProtocolError):
            parsed = p.parse(data)
            if isinstance(parsed, p.Broadcast):
                self._apply_broadcast(parsed.fields)
                return
        if self._inbox.full():
            self._inbox.get_nowait()
        self._inbox.put_nowait(data)

    def _apply_broadcast(self, fields: Mapping[str, Any]) -> None:
        log.debug("%s: broadcast %s", self.endpoint, dict(fields))
        for name, value in fields.items():
            if name == "E pres":
                self._known.meter[name] = value
            else:
                self._known.status[name] = value
        self._broadcast.set()

    async def _exchange(self, command: bytes, want: Callable[[p.Datagram], bool]) -> p.Datagram:
        """Send one datagram and wait for its answer, keeping the station's pace.

        Raises:
            TimeoutError: no answer in time. DeviceError: garbage or a refusal.
        """
        async with self._lock:
            station = await self._connect()
            loop = asyncio.get_running_loop()
            wait = self._ready_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            while not self._inbox.empty():  # late answers to an earlier request
                self._inbox.get_nowait()
            self.hub.send(command, station)
            try:
                async with asyncio.timeout(self.options.answer_timeout_s):
                    while True:
                        data = await self._inbox.get()
                        try:
                            answer = p.parse(data)
                        except p.ProtocolError as exc:
                            raise DeviceError(
                                f"{self.endpoint}: {command.decode()}: {exc}"
                            ) from exc
                        if isinstance(answer, p.Refusal):
                            raise DeviceError(
                                f"{self.endpoint} refused {command.decode()!r}: {answer.text}"
                            )
                        if want(answer):
                            return answer
            except TimeoutError:
                raise TimeoutError(
                    f"no answer to {command.decode()!r} from {self.endpoint} "
                    f"within {self.options.answer_timeout_s:g} s"
                ) from None
            finally:
                self._ready_at = loop.time() + self.options.gap_s

    async def _report(self, number: int) -> Mapping[str, Any]:
        answer = await self._exchange(
            p.report(number), lambda d: isinstance(d, p.Report) and d.number == number
        )
        assert isinstance(answer, p.Report)
        return answer.fields

    async def _command(self, command: bytes) -> None:
        await self._exchange(command, lambda d: isinstance(d, p.Ack))

    # --- DeviceLink ----------------------------------------------------------------------------

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        """``report 1`` (after a (re)connect and every ``identification_every_s``), ``report 2``
        and ``report 3`` as point values.

        Raises:
            TimeoutError, DeviceError, OSError: no usable answer (the runtime counts it).
        """
        try:
            return await self._read()
        except (TimeoutError, DeviceError, OSError):
            self._configured = False
            self._known.ident_at = None
            raise
        except p.ProtocolError as exc:
            self._configured = False
            raise DeviceError(f"{self.endpoint}: {exc}") from exc

    async def _read(self) -> Mapping[PointKey, PointValue | Sample]:
        known = self._known
        loop = asyncio.get_running_loop()
        wait = self._next_poll - loop.time()
        if wait > 0 and not self._broadcast.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._broadcast.wait()
        if self._broadcast.is_set() and loop.time() < self._next_poll:
            self._broadcast.clear()  # a status message between polls: its values, at once
            return self._points()
        self._broadcast.clear()
        self._next_poll = loop.time() + self.options.poll_s
        now = loop.time()
        if known.ident_at is None or now - known.ident_at >= self.options.identification_every_s:
            report1 = await self._report(1)
            known.ident = p.identification(report1)
            known.has_meter = p.has_meter(known.ident.get("Model", ""))
            known.ident_at = now
        known.status = dict(await self._report(2))
        self._enabled = _enabled(known.status)
        if known.has_meter:
            known.meter = dict(await self._report(3))
        return self._points()

    def _points(self) -> dict[PointKey, PointValue | Sample]:
        key = self.options.asset_key
        known = self._known
        out: dict[PointKey, PointValue | Sample] = {
            (key, name): value for name, value in p.status_points(known.status).items()
        }
        if known.has_meter:
            out.update({(key, n): v for n, v in p.meter_points(known.meter).items()})
        else:  # the "DE" variants have no meter: no value, not a made-up 0
            out.update({(key, n): Sample(None, Quality.BAD_OUT_OF_RANGE) for n in p.METER_POINTS})
        out.update({(key, f"Identification.{n}"): v for n, v in known.ident.items()})
        return out

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        """``ChargeCurrentLimit`` (A; 0 = ``ena 0``), ``PhaseSetting`` (1 or 3, ``x2``) or
        ``SessionEnergyLimit`` (Wh, 0 = none; ``setenergy`` in 0.1 Wh).

        The first setpoint after a (re)connect also sets the station's fallback (``failsafe``,
        not stored in flash); every setpoint re-sent by the runtime restarts its timer.

        Raises:
            OutOfRangeError: a phase count other than 1 or 3, an energy limit out of range.
            TimeoutError, DeviceError, OSError: the station did not accept it.
        """
        name = point[1]
        if not self._configured and self.options.failsafe_timeout_s > 0:
            milliamps = round(self.options.failsafe_current_a * 1000)
            await self._command(p.failsafe(self.options.failsafe_timeout_s, milliamps))
            self._configured = True
        if name == "ChargeCurrentLimit":
            return await self._write_current(float(value))
        if name == "PhaseSetting":
            return await self._write_phases(int(value))
        if name == "SessionEnergyLimit":
            try:
                command = p.session_energy_limit(float(value))
            except ValueError as exc:
                raise OutOfRangeError(f"{self.endpoint}: SessionEnergyLimit: {exc}") from None
            await self._command(command)
            return None  # the next report 2 shows it (Setenergy)
        raise DeviceError(f"{self.endpoint}: {name} is not writable on a KEBA")

    async def _write_current(self, amps: float) -> PointValue:
        milliamps = round(amps * 1000)
        if milliamps <= 0:
            await self._command(p.enable(False))
            self._enabled = False
            self._ready_at += self.options.after_disable_s
            return 0.0
        if self._enabled is not True:
            await self._command(p.enable(True))
            self._enabled = True
        await self._command(p.current_with_delay(milliamps, self.options.currtime_delay_s))
        return None  # applied after the currtime delay; the next report 2 shows it

    async def _write_phases(self, count: int) -> PointValue:
        if count not in (1, 3):
            raise OutOfRangeError(f"{self.endpoint}: PhaseSetting {count} (1 or 3 phases)")
        shown = p.status_points(self._known.status).get("PhaseSetting")
        if shown == count:
            return count
        now = asyncio.get_running_loop().time()
        since = self._phase_switched_at
        if since is not None and now - since < self.options.phase_switch_pause_s:
            # too soon after the last switch: the refresh sends it once the pause is over
            return shown if isinstance(shown, int) else None
        await self._command(p.phases(count))
        self._phase_switched_at = now
        return count

    async def close(self) -> None:
        if self._station is not None:
            self.hub.detach(self._station)


def _enabled(status: Mapping[str, Any]) -> bool | None:
    """``Enable user`` as the station reports it (``None`` if not sent)."""
    value = status.get("Enable user")
    return bool(value) if isinstance(value, int | float) else None
