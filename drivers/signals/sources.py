"""Where the contacts are read: a Modbus I/O module, a KMTronic board, or the in-process bank.

Every source returns the **wire levels** (input active = ``True``), Contact1 first; the driver
applies the NC inversion and the table. Every failure is a ``SourceError`` with a located message
(endpoint, request, what was wrong).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Protocol

import aiohttp
from ampacity.drivers.modbus import LinkRegistry, ModbusIOError, TcpLink
from ampacity.drivers.modbus.link import MAX_READ_BITS, MAX_READ_REGISTERS

from .bank import ContactBank
from .config import KmtronicSource, ModbusSource
from .kmtronic import MAX_STATUS_BYTES, StatusXmlError, parse_status_xml


class SourceError(Exception):
    """Reading the contacts failed; ``str()`` names the endpoint and the cause."""


class ContactSource(Protocol):
    """What the driver needs from a source."""

    @property
    def endpoint(self) -> str:
        """Where it reads, for messages."""
        ...

    async def read(self) -> list[bool]:
        """Wire levels, Contact1 first.

        Raises:
            SourceError: no valid answer.
        """
        ...

    async def wait_change(self, timeout_s: float) -> None:
        """Sleep until the next poll is due (a source that knows of changes may return early)."""
        ...

    async def close(self) -> None: ...


class ModbusContactSource:
    """Contacts on a Modbus TCP I/O module, read through the site's shared ``TcpLink``.

    One request per poll when the contacts lie within one request's reach (2000 bits / 125
    registers), else one per contact.

    Args:
        config: the module's config.
        links: the site's link registry (the link is shared with other users of the endpoint).
        timeout_s: answer timeout per request, s.
    """

    def __init__(self, config: ModbusSource, links: LinkRegistry, timeout_s: float) -> None:
        self.config = config
        self._links = links
        self._link: TcpLink | None = links.tcp(config.host, config.port, timeout_s=timeout_s)

    @property
    def endpoint(self) -> str:
        return f"{self.config.host}:{self.config.port} unit {self.config.unit_id}"

    @property
    def link(self) -> TcpLink | None:
        return self._link

    async def read(self) -> list[bool]:
        link = self._link
        if link is None:
            raise SourceError(f"{self.endpoint}: closed")
        c = self.config
        try:
            if c.function in ("discrete_input", "coil"):
                return await self._read_bits(link)
            return await self._read_register_bits(link)
        except ModbusIOError as exc:
            raise SourceError(str(exc)) from exc

    async def _read_bits(self, link: TcpLink) -> list[bool]:
        c = self.config
        read = link.read_discrete_inputs if c.function == "discrete_input" else link.read_coils
        low, high = min(c.addresses), max(c.addresses)
        if high - low + 1 <= MAX_READ_BITS:
            bits = await read(c.unit_id, low, high - low + 1)
            return [bits[a - low] for a in c.addresses]
        return [(await read(c.unit_id, a, 1))[0] for a in c.addresses]

    async def _read_register_bits(self, link: TcpLink) -> list[bool]:
        c = self.config
        assert c.bits is not None
        read = link.read_input_registers
        if c.function == "holding_bit":
            read = link.read_holding_registers
        low, high = min(c.addresses), max(c.addresses)
        if high - low + 1 <= MAX_READ_REGISTERS:
            words = await read(c.unit_id, low, high - low + 1)
            registers = {a: words[a - low] for a in c.addresses}
        else:
            registers = {a: (await read(c.unit_id, a, 1))[0] for a in dict.fromkeys(c.addresses)}
        return [bool(registers[a] >> b & 1) for a, b in zip(c.addresses, c.bits, strict=True)]

    async def wait_change(self, timeout_s: float) -> None:
        await asyncio.sleep(max(0.0, timeout_s))

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await self._links.release(link)


class KmtronicContactSource:
    """Contacts on a KMTronic LAN web board, read from ``status.xml`` over HTTP (aiohttp).

    Args:
        config: the board's config.
        timeout_s: answer timeout per request (connect and read), s.
    """

    def __init__(self, config: KmtronicSource, timeout_s: float) -> None:
        self.config = config
        self.url = config.url.rstrip("/") + "/status.xml"
        self.timeout_s = timeout_s
        self._headers: dict[str, str] = {}
        if config.user is not None and config.password is not None:
            self._headers["Authorization"] = basic_auth(config.user, config.password)
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return self.url

    async def read(self) -> list[bool]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        where = f"GET {self.url}"
        try:
            async with self._session.get(self.url, allow_redirects=False) as response:
                if response.status == 401:
                    raise SourceError(f"{where}: HTTP 401, user or password wrong or missing")
                if response.status != 200:
                    raise SourceError(f"{where}: HTTP {response.status} {response.reason or ''}")
                body = await response.content.read(MAX_STATUS_BYTES + 1)
        except TimeoutError as exc:
            raise SourceError(f"{where}: no answer within {self.timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise SourceError(f"{where}: {type(exc).__name__}: {exc}") from exc
        try:
            return parse_status_xml(
                body.decode("utf-8", errors="replace"), self.config.elements, where=where
            )
        except StatusXmlError as exc:
            raise SourceError(str(exc)) from exc

    async def wait_change(self, timeout_s: float) -> None:
        await asyncio.sleep(max(0.0, timeout_s))

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class BankContactSource:
    """The in-process ``ContactBank``; wakes the driver on every flip."""

    def __init__(self, bank: ContactBank) -> None:
        self.bank = bank

    @property
    def endpoint(self) -> str:
        return "simulated contact bank"

    async def read(self) -> list[bool]:
        if self.bank.fail is not None:
            raise SourceError(f"{self.endpoint}: {self.bank.fail}")
        return list(self.bank.closed)

    async def wait_change(self, timeout_s: float) -> None:
        await self.bank.wait_change(timeout_s)

    async def close(self) -> None:
        return None


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP basic auth (RFC 7617, UTF-8)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def levels_to_closed(levels: Sequence[bool], invert: Sequence[bool]) -> tuple[bool, ...]:
    """Wire levels -> contact states (an NC contact's input is active while it is open)."""
    return tuple(bool(level) != bool(inv) for level, inv in zip(levels, invert, strict=True))
