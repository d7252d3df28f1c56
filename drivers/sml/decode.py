"""SML payload → OBIS list entries, with smllib doing the SML layer.

Each list entry of a GetListResponse (SML 1.04 ``SML_ListEntry``: objName, status, valTime, unit,
scaler, value, valueSignature) starts with the bytes ``77 07`` (a list of 7 whose first element
is a 6-byte octet string, the OBIS code). ``decode_entries`` finds the entries of the media the
meters use (``01`` electricity, ``00`` abstract, ``81`` manufacturer-specific) and has smllib
build each one on its own, so an entry smllib rejects (e.g. the EMH eHZ-IW8E2A5L0EK2P entry
``1-0:96.50.2*6`` with an empty value) loses only that entry, never the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smllib.builder import create_context
from smllib.sml import SmlListEntry
from smllib.sml_frame import SmlFrame

_ENTRY_STARTS = (b"\x77\x07\x01", b"\x77\x07\x00", b"\x77\x07\x81")
_CONTEXT = create_context()


@dataclass(frozen=True, slots=True)
class Entry:
    """One OBIS value of a frame.

    Attributes:
        obis: the OBIS code, ``"1-0:16.7.0*255"``.
        raw: the value as sent (an int, or text/hex for an octet string).
        scaler: the power of ten to apply (``None``: none sent).
        unit: the DLMS unit code (27 W, 30 Wh, 33 A, 35 V, 44 Hz; ``None``: none sent).
        tl: the value's type-length byte on the wire (``0x53`` = Integer16, ``0x65`` =
            Unsigned32, ...); the DZG quirk needs it.
    """

    obis: str
    raw: int | str | bool | None
    scaler: int | None
    unit: int | None
    tl: int

    @property
    def number(self) -> float | None:
        """The value in the unit sent (raw × 10^scaler), or ``None`` for non-numbers."""
        if isinstance(self.raw, bool) or not isinstance(self.raw, int):
            return None
        if not self.scaler:
            return float(self.raw)
        if self.scaler < 0:
            return self.raw / 10 ** (-self.scaler)
        return float(self.raw * 10**self.scaler)

    @property
    def text(self) -> str:
        """The value as text (ASCII where smllib found it printable, else hex)."""
        return "" if self.raw is None else str(self.raw)


@dataclass(slots=True)
class Decoded:
    """The entries of one frame by OBIS code, and what could not be decoded."""

    entries: dict[str, Entry] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)


def decode_entries(payload: bytes) -> Decoded:
    """Every list entry of a frame's payload (escapes undone)."""
    frame = SmlFrame(payload, build_ctx=_CONTEXT)
    out = Decoded()
    consumed = 0
    for start in _starts(payload):
        if start < consumed:  # inside an entry already decoded (e.g. a signature's bytes)
            continue
        try:
            snippet = frame.get_value(start)
            if not isinstance(snippet.value, list) or len(snippet.value) != 7:
                continue
            frame._parse_msg(snippet)  # smllib's own list walker (a private helper)
            entry = _CONTEXT[SmlListEntry].build(snippet, _CONTEXT)
            value_tl = payload[snippet.value[5].pos]
        except Exception as exc:  # smllib raises ValueError, its own errors, IndexError ...
            out.rejected.append(_describe(payload, start, exc))
            continue
        obis = entry.obis.obis_code
        raw = entry.value
        if not isinstance(raw, int | str | bool) and raw is not None:
            raw = str(raw)
        out.entries[obis] = Entry(obis, raw, entry.scaler, entry.unit, value_tl)
        consumed = frame.next_pos
    return out


def _starts(payload: bytes) -> list[int]:
    found: list[int] = []
    for marker in _ENTRY_STARTS:
        pos = payload.find(marker)
        while pos >= 0:
            found.append(pos)
            pos = payload.find(marker, pos + 1)
    return sorted(found)


def _describe(payload: bytes, start: int, exc: Exception) -> str:
    obis = payload[start + 2 : start + 8]
    code = f"{obis[0]}-{obis[1]}:{obis[2]}.{obis[3]}.{obis[4]}*{obis[5]}" if len(obis) == 6 else "?"
    return f"{code}: {exc}"
