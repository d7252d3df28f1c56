"""Simulated ripple-control receivers on loopback: a Modbus I/O module and a KMTronic board.

Both hold the receiver's contacts; a test or the demo flips them with ``set_contact(n, closed)``
and makes them misbehave with ``faults.set(Fault...)`` (``sim.faults``):

* ``ModbusContactSim`` - a pymodbus TCP server (``sim.server.SimServer``) with the contacts as
  discrete inputs, coils, or bits of holding/input registers. Faults as every simulated Modbus
  device: ``SILENT``, ``EXCEPTION``, ``GARBAGE``, ``DISCONNECT``.
* ``KmtronicSim`` - an aiohttp server answering ``GET /status.xml`` in the boards' format
  (``<response><relay1>0</relay1>...</response>``, see ``drivers.signals.kmtronic``), with
  optional HTTP basic auth. Faults: ``SILENT`` (the request hangs), ``EXCEPTION`` (HTTP 500),
  ``GARBAGE`` (not XML), ``DISCONNECT`` (the connection is closed without an answer).

A normally-closed wiring is simulated with ``normally_closed``: the input of such a contact is
active while the contact is open.

The in-process contact bank of the demo (no network) is ``drivers.signals.ContactBank``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Literal

from aiohttp import web
from ampacity.assets import PointValue
from ampacity.drivers.profile import Profile
from ampacity.drivers.signals.kmtronic import status_xml

from .faults import Fault, FaultSwitch
from .server import SimServer, SimulatedDevice

ContactFunction = Literal["discrete_input", "coil", "holding_bit", "input_bit"]

_PROFILE_FUNCTION = {
    "discrete_input": "discrete_input",
    "coil": "coil",
    "holding_bit": "holding",
    "input_bit": "input",
}

KMTRONIC_RELAYS = tuple(f"relay{n}" for n in range(1, 9))
"""The relay elements of an 8-channel board's ``status.xml`` (served, always 0)."""
DEFAULT_INPUT_ELEMENTS = ("input1", "input2", "input3", "input4")
"""Element names the simulator gives the contact inputs by default. An assumption for tests and
the demo, not taken from a vendor document: a real board's names are configured as it shows
them."""


class _Contacts:
    """Contact states and their wire levels."""

    def __init__(self, contacts: int, normally_closed: Iterable[int]) -> None:
        if not 1 <= contacts <= 4:
            raise ValueError(f"contacts: {contacts} outside 1..4")
        self.closed = [False] * contacts
        self.normally_closed = frozenset(normally_closed)
        for n in self.normally_closed:
            self._check(n)

    def _check(self, n: int) -> None:
        if not 1 <= n <= len(self.closed):
            raise ValueError(f"contact {n} outside 1..{len(self.closed)}")

    def set(self, n: int, closed: bool) -> None:
        self._check(n)
        self.closed[n - 1] = bool(closed)

    def level(self, n: int) -> bool:
        """The input level the module sees: the contact state, inverted for an NC wiring."""
        return self.closed[n - 1] != (n in self.normally_closed)


class _ContactModel:
    """``DeviceModel`` of the I/O module: ``ContactN`` reads as the wire level of contact N."""

    def __init__(self, contacts: _Contacts) -> None:
        self.contacts = contacts

    def read(self, asset: str, point: str) -> PointValue:
        if point.startswith("Contact"):
            return self.contacts.level(int(point.removeprefix("Contact")))
        return None

    def write(self, asset: str, point: str, value: PointValue) -> None:
        return None


def contact_module_profile(
    function: ContactFunction, addresses: Sequence[int], bits: Sequence[int] | None = None
) -> Profile:
    """The register map of a simulated I/O module with one contact per address (or bit)."""
    points: dict[str, dict[str, object]] = {}
    for i, address in enumerate(addresses):
        point: dict[str, object] = {"address": address, "function": _PROFILE_FUNCTION[function]}
        if function in ("holding_bit", "input_bit"):
            if bits is None:
                raise ValueError(f"{function} needs one bit per contact")
            point["bit"] = bits[i]
        points[f"Contact{i + 1}"] = point
    return Profile.model_validate(
        {
            "id": "sim_contact_module",
            "manufacturer": "Ampacity simulator",
            "products": ["Modbus TCP digital input module"],
            "source": "Simulated device; the layout is whatever the test configures.",
            "assets": [{"key": "receiver", "kind": "RippleControlReceiver", "points": points}],
        }
    )


class ModbusContactSim:
    """A Modbus TCP digital-input module with a ripple-control receiver's contacts on it.

    Args:
        contacts: contacts wired, 1..4.
        function: where they are: discrete inputs (FC2), coils (FC1), or bits of holding (FC3)
            / input (FC4) registers.
        addresses: protocol address per contact (default 0, 1, 2, ...).
        bits: bit per contact for ``holding_bit`` / ``input_bit`` (default 0, 1, 2, ... in one
            register at ``addresses[0]``).
        unit_id: the module's unit id.
        normally_closed: contacts (1-based) wired as NC: their input is active while open.
    """

    def __init__(
        self,
        contacts: int = 4,
        *,
        function: ContactFunction = "discrete_input",
        addresses: Sequence[int] | None = None,
        bits: Sequence[int] | None = None,
        unit_id: int = 1,
        normally_closed: Iterable[int] = (),
    ) -> None:
        self._contacts = _Contacts(contacts, normally_closed)
        in_register = function in ("holding_bit", "input_bit")
        if addresses is None:
            addresses = [0] * contacts if in_register else list(range(contacts))
        if in_register and bits is None:
            bits = list(range(contacts))
        self.function: ContactFunction = function
        self.addresses = tuple(addresses)
        self.bits = tuple(bits) if bits is not None else None
        self.unit_id = unit_id
        profile = contact_module_profile(function, self.addresses, self.bits)
        self.device = SimulatedDevice(
            profile, _ContactModel(self._contacts), unit_id=unit_id, name="contact module"
        )
        self.server = SimServer([self.device])
        self.host: str | None = None
        self.port: int | None = None

    @property
    def faults(self) -> FaultSwitch:
        """The module's fault switch (``faults.set(Fault.SILENT)``; ``Fault.NONE`` heals)."""
        return self.device.faults

    @property
    def closed(self) -> tuple[bool, ...]:
        return tuple(self._contacts.closed)

    def set_contact(self, n: int, closed: bool) -> None:
        """Close or open contact ``n`` (1-based); the module's inputs follow at once."""
        self._contacts.set(n, closed)
        self.device.refresh()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen (0 = a free port); returns the bound address."""
        self.host, self.port = await self.server.start_tcp(host, port)
        return self.host, self.port

    async def stop(self) -> None:
        await self.server.stop()

    async def __aenter__(self) -> ModbusContactSim:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class KmtronicSim:
    """A KMTronic LAN web board with a ripple-control receiver's contacts on its inputs.

    Args:
        contacts: contacts wired, 1..4.
        elements: the ``status.xml`` element of each contact's input, Contact1 first.
        user / password: require HTTP basic auth with these credentials (``None``: no auth).
        normally_closed: contacts (1-based) wired as NC.
    """

    def __init__(
        self,
        contacts: int = 4,
        *,
        elements: Sequence[str] | None = None,
        user: str | None = None,
        password: str | None = None,
        normally_closed: Iterable[int] = (),
    ) -> None:
        self._contacts = _Contacts(contacts, normally_closed)
        self.elements = tuple(elements or DEFAULT_INPUT_ELEMENTS[:contacts])
        if len(self.elements) != contacts:
            raise ValueError(f"{len(self.elements)} elements for {contacts} contacts")
        if (user is None) != (password is None):
            raise ValueError("give both user and password, or neither")
        self.user = user
        self.password = password
        self.faults = FaultSwitch()
        self.requests = 0
        """``GET /status.xml`` requests answered or refused so far."""
        self._healed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.host: str | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The board's base URL (``http://host:port``), once started."""
        if self.host is None or self.port is None:
            raise RuntimeError("not started")
        return f"http://{self.host}:{self.port}"

    @property
    def closed(self) -> tuple[bool, ...]:
        return tuple(self._contacts.closed)

    def set_contact(self, n: int, closed: bool) -> None:
        """Close or open contact ``n`` (1-based)."""
        self._contacts.set(n, closed)

    def set_fault(self, fault: Fault) -> None:
        """Switch the fault (``Fault.NONE`` heals; a hanging request then returns)."""
        self.faults.set(fault)
        if fault is Fault.NONE:
            self._healed.set()
        else:
            self._healed.clear()

    def document(self) -> str:
        """The ``status.xml`` the board serves now."""
        values = {name: False for name in KMTRONIC_RELAYS}
        for n, name in enumerate(self.elements, start=1):
            values[name] = self._contacts.level(n)
        return status_xml(values)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.user is not None and not self._authorised(request):
            return web.Response(
                status=401, headers={"WWW-Authenticate": 'Basic realm="KMTronic"'}, text="401"
            )
        fault = self.faults.fault
        if fault is Fault.SILENT:
            await self._healed.wait()
            fault = self.faults.fault
        if fault is Fault.EXCEPTION:
            return web.Response(status=500, text="internal error")
        if fault is Fault.GARBAGE:
            return web.Response(text="<response><inp", content_type="text/xml")
        if fault is Fault.DISCONNECT:
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("simulated disconnect")
        return web.Response(text=self.document(), content_type="text/xml")

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            login, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(login, self.user or "") and hmac.compare_digest(
            password, self.password or ""
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen (0 = a free port); returns the bound address."""
        app = web.Application()
        app.router.add_get("/status.xml", self._status)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self.host, self.port = str(bound[0]), int(bound[1])
        return self.host, self.port

    async def stop(self) -> None:
        self._healed.set()  # let hanging requests finish
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()

    async def __aenter__(self) -> KmtronicSim:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
