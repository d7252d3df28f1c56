"""Configuration of a ripple-control receiver (one ``ripple_control`` entry of a site config).

The contacts are read from one ``source``:

* ``modbus`` - a Modbus TCP I/O module: discrete inputs (FC2), coils (FC1), or one bit of a
  holding (FC3) or input register (FC4) per contact;
* ``kmtronic`` - a KMTronic LAN web board: its ``status.xml`` page (``drivers.signals.kmtronic``);
* ``simulated`` - an in-process contact bank (the demo site; no network).

Wiring of a normally-closed (NC) contact: set ``invert`` for that contact, so that "relay
energised" still reads as closed.

Times in seconds; limits in % of installed PV power.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .table import MAX_CONTACTS, NO_MATCH_LIMIT, ContactTable

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
"""Asset ids become NodeIds (``<asset-id>.<Point>``): no dots or spaces."""
XML_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"

KMTRONIC_MIN_POLL_S = 0.3
"""Default poll interval of a KMTronic board, s: users report that the board's web server hangs
(until power-cycled) when asked more often than every 300 ms (openHAB community, "KMTronic via
HTTP binding")."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ModbusSource(_Strict):
    """A Modbus TCP I/O module with the receiver's contacts on its inputs.

    Attributes:
        host: IP address or host name of the module.
        port: Modbus TCP port.
        unit_id: Modbus unit id.
        function: where the contacts are: ``discrete_input`` (FC2), ``coil`` (FC1),
            ``holding_bit`` / ``input_bit`` (one bit of a holding (FC3) / input (FC4) register).
        addresses: 0-based protocol address per contact, Contact1 first (for the ``*_bit``
            functions: the register).
        bits: for ``holding_bit``/``input_bit``: the bit (0 = least significant) per contact.
        invert: per contact: ``True`` for a normally-closed contact (input high = contact open).
    """

    type: Literal["modbus"]
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255)
    function: Literal["discrete_input", "coil", "holding_bit", "input_bit"] = "discrete_input"
    addresses: list[int] = Field(min_length=1, max_length=MAX_CONTACTS)
    bits: list[int] | None = None
    invert: list[bool] | None = None

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[int]) -> list[int]:
        for i, address in enumerate(value):
            if not 0 <= address <= 65535:
                raise ValueError(f"addresses[{i}]: {address} outside 0..65535")
        return value

    @model_validator(mode="after")
    def _bits(self) -> ModbusSource:
        in_register = self.function in ("holding_bit", "input_bit")
        if in_register and self.bits is None:
            raise ValueError(f"function {self.function} needs 'bits' (one per contact)")
        if not in_register and self.bits is not None:
            raise ValueError(f"'bits' only with holding_bit or input_bit, not {self.function}")
        if self.bits is not None:
            if len(self.bits) != len(self.addresses):
                raise ValueError(
                    f"bits: {len(self.bits)} entries for {len(self.addresses)} addresses"
                )
            for i, bit in enumerate(self.bits):
                if not 0 <= bit <= 15:
                    raise ValueError(f"bits[{i}]: {bit} outside 0..15")
        return self


class KmtronicSource(_Strict):
    """A KMTronic LAN web board; the contacts are elements of its ``status.xml``.

    Attributes:
        url: base URL of the board, ``http://host`` (``status.xml`` is appended).
        user / password: HTTP basic auth, if the board asks for it.
        elements: per contact, Contact1 first: the name of the child element of ``<response>``
            in ``status.xml`` that carries the input (``0`` / ``1``). Take the names from the
            board's own ``status.xml`` (open ``http://host/status.xml`` in a browser).
        invert: per contact: ``True`` for a normally-closed contact.
    """

    type: Literal["kmtronic"]
    url: str = Field(pattern=r"^https?://[^/\s]+/?$")
    user: str | None = None
    password: str | None = None
    elements: list[Annotated[str, Field(pattern=XML_NAME_PATTERN)]] = Field(
        min_length=1, max_length=MAX_CONTACTS
    )
    invert: list[bool] | None = None

    @model_validator(mode="after")
    def _auth(self) -> KmtronicSource:
        if (self.user is None) != (self.password is None):
            raise ValueError("give both 'user' and 'password' (HTTP basic auth), or neither")
        if len(set(self.elements)) != len(self.elements):
            raise ValueError("elements: a contact per element, no element twice")
        return self

    @property
    def addresses(self) -> list[str]:
        return self.elements


class SimulatedSource(_Strict):
    """An in-process contact bank (the demo site): flipped with ``RippleReceiverDriver.bank``.

    Attributes:
        closed: the initial state per contact (default: all open).
    """

    type: Literal["simulated"]
    closed: list[bool] | None = None


Source = Annotated[ModbusSource | KmtronicSource | SimulatedSource, Field(discriminator="type")]


class RippleReceiverConfig(_Strict):
    """One ripple-control receiver / grid-operator control box.

    Attributes:
        id: asset id (``<id>.Contact1``, ``<id>.ActiveLimit``).
        source: where the contacts are read (``type: modbus | kmtronic | simulated``).
        contacts: contacts in use, 1..4 (Contact1..ContactN).
        table: pattern -> feed-in limit in % of installed PV power, first match wins
            (``drivers.signals.table``); ``None`` = the usual K1..K4 = 100/60/30/0 %.
        default_limit: the limit when no pattern matches, %.
        dimming_contact: the §14a EnWG "dim controllable consumers" contact (1..contacts), or
            ``None``; it is reported as its ``ContactN`` and signals no feed-in stage.
        poll_s: poll interval, s (``None``: 0.1 s; a KMTronic board 0.3 s). The 200 ms budget
            from a contact change to the device write includes up to one poll interval.
        timeout_s: answer timeout per request, s.
        reconnect_max_s: longest pause between attempts while the source fails, s.
        name: display name.
    """

    id: str = Field(pattern=ID_PATTERN)
    source: Source
    contacts: int = Field(MAX_CONTACTS, ge=1, le=MAX_CONTACTS)
    table: dict[str, float] | None = None
    default_limit: float = Field(NO_MATCH_LIMIT, ge=0.0, le=100.0)
    dimming_contact: int | None = Field(None, ge=1, le=MAX_CONTACTS)
    poll_s: float | None = Field(None, ge=0.01, le=60.0)
    timeout_s: float = Field(0.5, gt=0.0, le=30.0)
    reconnect_max_s: float = Field(5.0, gt=0.0, le=300.0)
    name: str | None = None

    @field_validator("table", mode="before")
    @classmethod
    def _quoted_patterns(cls, value: object) -> object:
        """A pattern YAML read as a number gets its own message (``0100`` would lose a digit)."""
        if isinstance(value, dict):
            for pattern in value:
                if not isinstance(pattern, str):
                    raise ValueError(
                        f"table[{pattern!r}]: a pattern is a string of 0, 1 and x; write it in "
                        'quotes ("0100"): YAML reads 0100 as a number'
                    )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RippleReceiverConfig:
        self.contact_table()  # raises TableError (a ValueError) with the located entry
        source = self.source
        if isinstance(source, ModbusSource | KmtronicSource):
            if len(source.addresses) != self.contacts:
                what = "addresses" if isinstance(source, ModbusSource) else "elements"
                raise ValueError(
                    f"source.{what}: {len(source.addresses)} entries for {self.contacts} contacts"
                )
            if source.invert is not None and len(source.invert) != self.contacts:
                raise ValueError(
                    f"source.invert: {len(source.invert)} entries for {self.contacts} contacts"
                )
        if (
            isinstance(source, SimulatedSource)
            and source.closed is not None
            and len(source.closed) != self.contacts
        ):
            raise ValueError(
                f"source.closed: {len(source.closed)} entries for {self.contacts} contacts"
            )
        return self

    def contact_table(self) -> ContactTable:
        """The validated table.

        Raises:
            TableError: an invalid entry, e.g. ``table["10a0"]: pattern may contain only 0, 1
                and x``.
        """
        return ContactTable.build(
            self.contacts,
            self.table,
            default=self.default_limit,
            dimming_contact=self.dimming_contact,
        )

    @property
    def poll_interval_s(self) -> float:
        """The poll interval in use, s."""
        if self.poll_s is not None:
            return self.poll_s
        return KMTRONIC_MIN_POLL_S if isinstance(self.source, KmtronicSource) else 0.1

    @property
    def invert(self) -> tuple[bool, ...]:
        """Per contact: the wire level is inverted (NC contact)."""
        source = self.source
        flags = None if isinstance(source, SimulatedSource) else source.invert
        return tuple(flags) if flags is not None else (False,) * self.contacts
