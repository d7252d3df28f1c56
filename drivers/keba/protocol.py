"""The KEBA UDP protocol as data: datagrams in and out, report fields as model points.

Source: KEBA "KeContact P20/P30 UDP Programmer's Guide" (commands ``report 1/2/3``, ``ena``,
``currtime``, ``failsafe``, ``x2``, ``setenergy``; the report fields and their units).
Units on the wire: U in V, I in mA, P in mW, PF in 0.1 %, energies in 0.1 Wh, currents of
``report 2`` in mA. The model: W, Wh, A, V; a charge point's power + = consumption.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACK = "TCH-OK :done"
"""The station's answer to a command it accepted."""
REFUSAL_PREFIX = "TCH-ERR"
"""The start of the station's answer to a command it refused."""

PLUG_VEHICLE_BIT = 0b100
"""``Plug`` bit 2: cable plugged into the vehicle (values 5 and 7)."""
STATE_CHARGING = 3
"""``State`` 3: charging (0 start-up, 1 not ready, 2 ready, 4 error, 5 interrupted)."""

MIN_CURRENT_MA = 6000
MAX_CURRENT_MA = 63000


class ProtocolError(ValueError):
    """A datagram that is not what the protocol allows (the message says what and where)."""


@dataclass(frozen=True, slots=True)
class Ack:
    """``TCH-OK :done``: the command was accepted."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """``TCH-ERR ...``: the command was refused (``text`` as the station sent it)."""

    text: str


@dataclass(frozen=True, slots=True)
class Report:
    """A reply to ``report <n>``: the JSON object with ``"ID": "<n>"``."""

    number: int
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A status message the station sends by itself (a JSON object without ``ID``), e.g.
    ``{"State": 3}`` or ``{"Plug": 7}``."""

    fields: Mapping[str, Any]


Datagram = Ack | Refusal | Report | Broadcast


def parse(data: bytes) -> Datagram:
    """One received datagram.

    Raises:
        ProtocolError: not text, not a JSON object, or a report ID that is not a number.
    """
    try:
        text = data.decode("latin-1").strip().strip("\x00").strip()
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise ProtocolError(f"not text: {data[:40]!r}") from exc
    if text.startswith("TCH-OK"):
        return Ack()
    if text.startswith(REFUSAL_PREFIX):
        return Refusal(text)
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"neither an acknowledgement nor JSON: {data[:40]!r}") from exc
    if not isinstance(body, dict):
        raise ProtocolError(f"JSON but not an object: {data[:40]!r}")
    if "ID" not in body:
        return Broadcast(body)
    try:
        number = int(str(body["ID"]))
    except ValueError as exc:
        raise ProtocolError(f"report ID {body['ID']!r} is not a number") from exc
    return Report(number, body)


def _number(report: Mapping[str, Any], name: str, where: str) -> float | None:
    """A numeric field (``None`` when the firmware does not send it).

    Raises:
        ProtocolError: the field is there but not a number.
    """
    if name not in report:
        return None
    value = report[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"{where} field {name!r} is {value!r}, not a number")
    return float(value)


def _put(out: dict[str, float | bool], point: str, value: float | None, scale: float) -> None:
    if value is not None:
        out[point] = round(value * scale, 6)


def status_points(report2: Mapping[str, Any]) -> dict[str, float | bool]:
    """``report 2`` (or a broadcast's fields) as model points.

    * ``VehicleConnected``: ``Plug`` has bit 2 set (5: cable at station and vehicle, 7: and locked).
    * ``Charging``: ``State`` is 3.
    * ``ChargeCurrentLimit``: ``Max curr`` mA → A, the current in force (0 while disabled).
    * ``PhaseSetting``: ``X2 phaseSwitch`` 0 → 1 phase, 1 → 3 phases (firmware ≥ 3.10 only).
    * ``SessionEnergyLimit``: ``Setenergy`` 0.1 Wh → Wh, the session's energy limit (0 = none).
    * ``AuthorizationRequired``: ``Authreq`` ≠ 0, the station waits for an RFID card or ``start``.

    Raises:
        ProtocolError: a field is not a number.
    """
    where = "report 2"
    out: dict[str, float | bool] = {}
    plug = _number(report2, "Plug", where)
    if plug is not None:
        out["VehicleConnected"] = bool(int(plug) & PLUG_VEHICLE_BIT)
    state = _number(report2, "State", where)
    if state is not None:
        out["Charging"] = int(state) == STATE_CHARGING
    _put(out, "ChargeCurrentLimit", _number(report2, "Max curr", where), 0.001)
    x2 = _number(report2, "X2 phaseSwitch", where)
    if x2 is not None:
        out["PhaseSetting"] = 3 if int(x2) == 1 else 1
    _put(out, "SessionEnergyLimit", _number(report2, "Setenergy", where), 0.1)
    authreq = _number(report2, "Authreq", where)
    if authreq is not None:
        out["AuthorizationRequired"] = int(authreq) != 0
    return out


def meter_points(report3: Mapping[str, Any]) -> dict[str, float | bool]:
    """``report 3`` (or a broadcast's ``E pres``) as model points: U1..U3 V, I1..I3 mA → A,
    P mW → W (+ = consumption), E pres / E total 0.1 Wh → Wh.

    Raises:
        ProtocolError: a field is not a number.
    """
    where = "report 3"
    out: dict[str, float | bool] = {}
    for n in (1, 2, 3):
        _put(out, f"VoltageL{n}", _number(report3, f"U{n}", where), 1.0)
        _put(out, f"CurrentL{n}", _number(report3, f"I{n}", where), 0.001)
    _put(out, "ActivePower", _number(report3, "P", where), 0.001)
    _put(out, "SessionEnergy", _number(report3, "E pres", where), 0.1)
    _put(out, "EnergyTotal", _number(report3, "E total", where), 0.1)
    return out


STATUS_POINTS = (
    "VehicleConnected",
    "Charging",
    "ChargeCurrentLimit",
    "SessionEnergyLimit",
    "AuthorizationRequired",
)
METER_POINTS = (
    "VoltageL1",
    "VoltageL2",
    "VoltageL3",
    "CurrentL1",
    "CurrentL2",
    "CurrentL3",
    "ActivePower",
    "SessionEnergy",
    "EnergyTotal",
)


def identification(report1: Mapping[str, Any]) -> dict[str, str]:
    """``report 1``: ``Product`` → Model, ``Serial`` → SerialNumber, ``Firmware``."""
    names = {"Product": "Model", "Serial": "SerialNumber", "Firmware": "FirmwareVersion"}
    return {
        model: str(report1[field]).strip()
        for field, model in names.items()
        if isinstance(report1.get(field), str | int) and str(report1[field]).strip()
    }


def has_meter(product: str) -> bool:
    """Whether a product code has an energy meter: the P30 "DE" variants (product code ending in
    ``-DE``, e.g. ``KC-P30-EC220112-000-DE``) have none (the rule keba-kecontact applies)."""
    return not product.strip().upper().endswith("-DE")


# --- commands ----------------------------------------------------------------------------------


def report(number: int) -> bytes:
    return f"report {number}".encode()


def enable(on: bool) -> bytes:
    """``ena 1`` / ``ena 0``: enable or disable charging (user enable; not stored in flash)."""
    return f"ena {1 if on else 0}".encode()


def current_with_delay(milliamps: int, delay_s: int) -> bytes:
    """``currtime <mA> <s>``: the current (0 or 6000..63000 mA) the station applies after the
    delay (``Curr timer`` and ``Tmo CT`` in report 2 show the pending value and its countdown)."""
    if milliamps != 0 and not MIN_CURRENT_MA <= milliamps <= MAX_CURRENT_MA:
        raise ValueError(f"currtime {milliamps} mA outside 0 or 6000..63000")
    return f"currtime {milliamps} {delay_s}".encode()


def failsafe(timeout_s: int, milliamps: int, persist: bool = False) -> bytes:
    """``failsafe <timeout s> <mA> <persist>``: without a command within the timeout the station
    falls back to the current (0 = stop). ``persist`` 0 keeps it out of the flash."""
    return f"failsafe {timeout_s} {milliamps} {1 if persist else 0}".encode()


SETENERGY_MAX = 999_999_999
"""The largest ``setenergy`` argument, 0.1 Wh."""


def session_energy_limit(watt_hours: float) -> bytes:
    """``setenergy <0.1 Wh>``: the station ends the session once ``E pres`` reaches it
    (0 = no limit).

    Raises:
        ValueError: negative or above the largest value.
    """
    tenths = round(watt_hours * 10)
    if not 0 <= tenths <= SETENERGY_MAX:
        raise ValueError(f"setenergy {tenths} (0.1 Wh) outside 0..{SETENERGY_MAX}")
    return f"setenergy {tenths}".encode()


def phases(count: int) -> bytes:
    """``x2 0`` one phase, ``x2 1`` three phases."""
    return f"x2 {1 if count == 3 else 0}".encode()
