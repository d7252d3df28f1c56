"""A KEBA KeContact P30 on loopback: the UDP protocol (port 7090 on a real station), answering
to a fixed port the way the station does, with a vehicle that follows the current.

Two ways to run it:

* ``KebaStation.from_capture(report1, report2, report3)``: the reports are served exactly as a
  real station sent them (the bytes of a capture); commands are acknowledged and change nothing;
* ``KebaStation()``: a station with a car. ``currtime <mA> <s>`` takes effect after its delay
  (report 2 shows ``Curr timer`` and the countdown ``Tmo CT``), ``ena 0/1`` disables and enables,
  ``failsafe <s> <mA> <persist>`` makes the station fall back to that current when no command
  came within the timeout, ``x2 0/1`` switches to one or three phases, ``setenergy <0.1 Wh>``
  ends the car's charging once the session energy reaches it (0 = no limit). The car draws the
  current in force on its phases while it is plugged in (``plugged``) and authorised
  (``authreq`` False); energies integrate the power.

``KebaStation(car=ChargePointSim(...))`` lets a charge point of the site physics be the vehicle
(the demo): the station hands it the current in force (``car.limit_a``; the station's own
failsafe decides the fallback) and the phase setting, and reports the car's plug state, current,
power and energies.

``KebaSimulator(station, reply_port=P)`` serves it on ``127.0.0.1``: answers go to port ``P`` of
the sender's address (a real station always answers to port 7090), or to the sender's own port
when ``reply_port`` is ``None``. ``fault`` makes it silent or send garbage; ``broadcast`` sends a
status message the way a station does on a change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .ev import ChargePointSim
from .faults import Fault, FaultSwitch

ACK = b"TCH-OK :done\n"
NOMINAL_VOLTAGE_V = 230


@dataclass
class KebaStation:
    """The station's behaviour, without sockets (times from ``clock``, seconds).

    Attributes:
        plugged: a vehicle is plugged in (``Plug`` 7, else 1).
        car_phases: phases the vehicle charges on (1 or 3).
        car_max_ma: the vehicle's own current limit, mA.
        curr_hw_ma: the station's hardware limit (DIP switches, cable), mA.
        serial, product, firmware: report 1.
        phase_switch: the firmware reports ``X2 phaseSwitch`` (≥ 3.10).
    """

    plugged: bool = False
    car_phases: int = 3
    car_max_ma: int = 16000
    curr_hw_ma: int = 32000
    serial: str = "22054282"
    product: str = "KC-P30-EC240422-E00"
    firmware: str = "P30 v 3.10.57 (240521-093236)"
    phase_switch: bool = True
    clock: Callable[[], float] = time.monotonic
    enabled: bool = True
    curr_user_ma: int = 32000
    pending: tuple[int, float] | None = None
    failsafe_timeout_s: int = 0
    failsafe_ma: int = 0
    last_command_at: float = 0.0
    x2: int = 1
    energy_total: float = 0.0
    """0.1 Wh."""
    energy_session: float = 0.0
    """0.1 Wh."""
    setenergy: int = 0
    """The session's energy limit, 0.1 Wh (``setenergy``; 0 = none): the car stops drawing once
    ``E pres`` reaches it."""
    authreq: bool = False
    """``Authreq``: the station waits for an RFID card or ``start`` (the car draws nothing)."""
    commands: list[str] = field(default_factory=list)
    captured: Mapping[int, bytes] | None = None
    car: ChargePointSim | None = None
    """A charge point of the site physics that draws the current (``None``: the built-in car)."""
    _last_t: float | None = None
    _was_plugged: bool = False

    @classmethod
    def from_capture(cls, reports: Mapping[int, bytes]) -> KebaStation:
        """A station that answers ``report n`` with the captured bytes, unchanged."""
        return cls(captured=dict(reports))

    # --- what the station does -----------------------------------------------------------------

    def handle(self, text: str) -> bytes | None:
        """The answer to one datagram (``None``: the station stays silent)."""
        words = text.strip().split()
        if not words:
            return None
        self.advance()
        self.commands.append(text.strip())
        verb, args = words[0], words[1:]
        if verb == "report" and len(args) == 1 and args[0].isdigit():
            number = int(args[0])
            if self.captured is not None:
                return self.captured.get(number)
            return self.report(number)
        if verb == "i":
            return f'"Firmware":"{self.firmware}"\n'.encode()
        if self.captured is not None:
            return ACK
        try:
            numbers = [int(a) for a in args]
        except ValueError:
            return b"TCH-ERR :bad parameter\n"
        return self._command(verb, numbers)

    def _command(self, verb: str, n: list[int]) -> bytes:
        now = self.clock()
        if verb == "ena" and len(n) == 1:
            self.enabled = n[0] == 1
        elif verb == "curr" and len(n) == 1 and (n[0] == 0 or 6000 <= n[0] <= 63000):
            self.curr_user_ma, self.pending = n[0], None
        elif verb == "currtime" and len(n) == 2 and (n[0] == 0 or 6000 <= n[0] <= 63000):
            self.pending = (n[0], now + n[1])
        elif verb == "failsafe" and len(n) == 3:
            self.failsafe_timeout_s, self.failsafe_ma = n[0], n[1]
        elif verb == "x2" and len(n) == 1 and self.phase_switch:
            self.x2 = 1 if n[0] else 0
        elif verb == "setenergy" and len(n) == 1 and 0 <= n[0] <= 999_999_999:
            self.setenergy = n[0]
        else:
            return b"TCH-ERR :unknown command\n"
        if verb in ("ena", "curr", "currtime", "failsafe"):
            self.last_command_at = now
        self.advance()
        return ACK

    def failsafe_active(self, now: float) -> bool:
        timeout = self.failsafe_timeout_s
        return timeout > 0 and now - self.last_command_at > timeout

    def max_curr_ma(self, now: float | None = None) -> int:
        """The current in force, mA (0 while disabled)."""
        now = self.clock() if now is None else now
        if not self.enabled:
            return 0
        user = self.failsafe_ma if self.failsafe_active(now) else self.curr_user_ma
        return min(user, self.curr_hw_ma)

    @property
    def phases(self) -> int:
        if self.car is not None:
            return self.car.phases
        return self.car_phases if self.x2 == 1 else 1

    def current_ma(self) -> int:
        """What the car draws per phase, mA."""
        if self.car is not None:
            return round(self.car.current_a * 1000)
        limit = self.max_curr_ma()
        if not self.plugged or limit < 6000 or self.authreq or self.energy_reached():
            return 0
        return min(limit, self.car_max_ma)

    def energy_reached(self) -> bool:
        """The session's energy limit is set and reached."""
        return 0 < self.setenergy <= self.energy_session

    def power_mw(self) -> int:
        if self.car is not None:
            return round(self.car.power_w * 1000)
        return NOMINAL_VOLTAGE_V * self.current_ma() * self.phases

    def advance(self) -> None:
        """Apply a due ``currtime`` and integrate the energy up to now (or hand the current in
        force to the physics' car)."""
        now = self.clock()
        if self.pending is not None and now >= self.pending[1]:
            self.curr_user_ma, self.pending = self.pending[0], None
        if self.car is not None:
            self.plugged = self.car.connected
            stopped = self.authreq or self.energy_reached()
            self.car.limit_a = 0.0 if stopped else self.max_curr_ma(now) / 1000.0
            self.car.set_phases(3 if self.x2 == 1 else 1)
            self.energy_total = self.car.total_wh * 10.0
            self.energy_session = self.car.session_wh * 10.0
            return
        if self.plugged and not self._was_plugged:
            self.energy_session = 0.0
        self._was_plugged = self.plugged
        if self._last_t is not None and now > self._last_t:
            energy = self.power_mw() / 1000.0 * (now - self._last_t) / 3600.0 * 10.0
            self.energy_total += energy
            self.energy_session += energy
        self._last_t = now

    def report(self, number: int) -> bytes | None:
        now = self.clock()
        body: dict[str, Any]
        if number == 1:
            body = {
                "ID": "1",
                "Product": self.product,
                "Serial": self.serial,
                "Firmware": self.firmware,
                "COM-module": 0,
                "Sec": int(now),
            }
        elif number == 2:
            current = self.current_ma()
            body = {
                "ID": "2",
                "State": 3 if current > 0 else (2 if self.plugged else 1),
                "Error1": 0,
                "Error2": 0,
                "Plug": 7 if self.plugged else 1,
                "AuthON": 1 if self.authreq else 0,
                "Authreq": 1 if self.authreq else 0,
                "Enable sys": 1 if self.max_curr_ma() > 0 else 0,
                "Enable user": 1 if self.enabled else 0,
                "Max curr": self.max_curr_ma(),
                "Max curr %": 1000,
                "Curr HW": self.curr_hw_ma,
                "Curr user": self.curr_user_ma,
                "Curr FS": self.failsafe_ma,
                "Tmo FS": self.failsafe_timeout_s,
                "Curr timer": self.pending[0] if self.pending else 0,
                "Tmo CT": max(0, round(self.pending[1] - now)) if self.pending else 0,
                "Setenergy": self.setenergy,
                "Output": 0,
                "Input": 0,
                "Serial": self.serial,
                "Sec": int(now),
            }
            if self.phase_switch:
                body["X2 phaseSwitch source"] = 4
                body["X2 phaseSwitch"] = self.x2
        elif number == 3:
            current = self.current_ma()
            phases = self.phases
            body = {
                "ID": "3",
                "U1": NOMINAL_VOLTAGE_V,
                "U2": NOMINAL_VOLTAGE_V,
                "U3": NOMINAL_VOLTAGE_V,
                "I1": current,
                "I2": current if phases == 3 else 0,
                "I3": current if phases == 3 else 0,
                "P": self.power_mw(),
                "PF": 1000 if current else 0,
                "E pres": round(self.energy_session),
                "E total": round(self.energy_total),
                "Serial": self.serial,
                "Sec": int(now),
            }
        else:
            return None
        return json.dumps(body, indent=0).encode() + b"\n"


class KebaSimulator(asyncio.DatagramProtocol):
    """A ``KebaStation`` on a UDP socket.

    Args:
        station: the behaviour.
        reply_port: answers go to this port of the sender's address (``None``: to the sender's
            own port).
        host: the address to listen on.
        port: the port to listen on (0: a free one; see ``port`` after ``start``).
    """

    def __init__(
        self,
        station: KebaStation,
        *,
        reply_port: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.station = station
        self.reply_port = reply_port
        self.host = host
        self.port = port
        self.faults = FaultSwitch()
        self.received: list[tuple[float, str]] = []
        """``(monotonic time, command)`` of every datagram received."""
        self._transport: asyncio.DatagramTransport | None = None
        self._peer: str | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> KebaSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        text = data.decode("latin-1")
        self.received.append((time.monotonic(), text.strip()))
        self._peer = str(addr[0])
        fault = self.faults.fault
        if fault in (Fault.SILENT, Fault.DISCONNECT):
            return
        answer = b"\x00\xff{garbage" if fault is not Fault.NONE else self.station.handle(text)
        if answer is not None and self._transport is not None:
            port = self.reply_port if self.reply_port is not None else int(addr[1])
            self._transport.sendto(answer, (addr[0], port))

    def broadcast(self, fields: Mapping[str, Any]) -> None:
        """A status message such as ``{"State": 3}`` to the last client's reply port."""
        if self._transport is None or self._peer is None or self.reply_port is None:
            raise RuntimeError("broadcast needs a client and a reply_port")
        self._transport.sendto(json.dumps(dict(fields)).encode(), (self._peer, self.reply_port))
