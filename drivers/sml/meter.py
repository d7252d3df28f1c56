"""OBIS values of one SML meter → model points, with the sign rules and the meters' quirks.

Units: energy in Wh, power in W, voltage V, current A, frequency Hz (the model's units; an
entry whose DLMS unit code says otherwise is skipped, not converted by guesswork).

**Sign rule of ``ActivePower``** (+ = import from the grid, − = export, as the model wants):

1. ``1-0:16.7.0`` (sum of active power, signed, + = import; FNN/EDL21) when the meter sends it,
   and ``36.7.0/56.7.0/76.7.0`` per phase, the same way;
2. else ``1-0:1.7.0`` (import power, ≥ 0) minus ``1-0:2.7.0`` (export power, ≥ 0), a missing one
   counted as 0;
3. else ``1-0:15.7.0`` (absolute active power, no direction): + on a meter that has only import
   registers (1.8.x), − on one that has only export registers (2.8.x); on a two-way meter the
   direction of the energy register that moved last (not published until one has moved);
4. else (a meter whose PIN was not entered sends whole kWh and no power): derived from the change
   of the energy registers, published as ``UncertainSubstituteValue`` (see ``DerivedPower``).

**DZG DVS-7412 quirk** (libsml-testing ``DZG_DVS-7412.2_jmberg``: the meter showed 356.24 W and
sent ``53 8B 28``, an Integer16 that reads −299.12 W; libsml's ``SML_WORKAROUND_DZG_NEGATIVE``):
that firmware sends positive powers of 327.68 W and more compressed into a too-short *signed*
integer, and real negatives always as 4 bytes. Newer DZG firmware (DVS-7420, libsml-testing
``..._mtr2_neg``) sends real small negatives compressed (``53 D6 CA`` = −105.50 W). So a DZG power
sent as a negative signed integer of 1–3 bytes is ambiguous. ``dzg_unsigned_power``:
``auto`` (default) decides by the energy registers: if the import register moved last, the value
is read as unsigned (the quirk); if the export register moved last, it is a real export; until
one has moved, the power is not published. ``on`` always reads such values as unsigned, ``off``
never.

**Holley CRC-16/KERMIT quirk**: see ``frames``; such frames are accepted only from Holley
(FLAG ``HLY``) meters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ampacity.assets import PointValue, Quality
from ampacity.drivers.runtime import Sample

from .decode import Decoded, Entry

UNIT_W = 27
UNIT_WH = 30
UNIT_A = 33
UNIT_V = 35
UNIT_HZ = 44

MANUFACTURERS = {
    "DZG": "DZG Metering",
    "EMH": "EMH metering",
    "HLY": "Holley",
    "ISK": "Iskra",
    "EBZ": "eBZ",
    "ITR": "Itron",
    "DNT": "Dr. Neuhaus",
    "HAG": "Hager",
    "HAGER": "Hager",
    "LOG": "Logarex",
    "ESY": "EasyMeter",
    "EFR": "EFR",
    "LGZ": "Landis+Gyr",
    "KFM": "KAIFA",
    "APA": "Apator",
    "ELS": "Elster",
}
"""FLAG manufacturer ids (DLMS UA) of SML meters sold in Germany → names."""

MANUFACTURER_OBIS = ("129-129:199.130.3*255", "1-0:96.50.1*1")
SERVER_ID_OBIS = ("1-0:96.1.0*255", "1-0:0.0.9*255")
TEXT_ID_OBIS = ("1-0:0.0.0*255", "0-0:96.1.255*255")
FIRMWARE_OBIS = ("1-0:0.2.0*0",)

POWER_SUM = "1-0:16.7.0*255"
POWER_IMPORT = "1-0:1.7.0*255"
POWER_EXPORT = "1-0:2.7.0*255"
POWER_ABSOLUTE = "1-0:15.7.0*255"
PHASE_POWER = ("1-0:36.7.0*255", "1-0:56.7.0*255", "1-0:76.7.0*255")
IMPORT_TOTAL = "1-0:1.8.0*255"
EXPORT_TOTAL = "1-0:2.8.0*255"
IMPORT_TARIFFS = ("1-0:1.8.1*255", "1-0:1.8.2*255")
EXPORT_TARIFFS = ("1-0:2.8.1*255", "1-0:2.8.2*255")

DzgMode = Literal["auto", "on", "off"]


@dataclass(frozen=True, slots=True)
class ObisPoint:
    """A model point read from the first of ``obis`` the frame has, in ``unit``."""

    obis: tuple[str, ...]
    unit: int | None


DEFAULT_POINTS: dict[str, ObisPoint] = {
    "EnergyImported": ObisPoint((IMPORT_TOTAL,), UNIT_WH),
    "EnergyExported": ObisPoint((EXPORT_TOTAL,), UNIT_WH),
    "EnergyImportedT1": ObisPoint((IMPORT_TARIFFS[0],), UNIT_WH),
    "EnergyImportedT2": ObisPoint((IMPORT_TARIFFS[1],), UNIT_WH),
    "EnergyExportedT1": ObisPoint((EXPORT_TARIFFS[0],), UNIT_WH),
    "EnergyExportedT2": ObisPoint((EXPORT_TARIFFS[1],), UNIT_WH),
    "ActivePowerL1": ObisPoint((PHASE_POWER[0],), UNIT_W),
    "ActivePowerL2": ObisPoint((PHASE_POWER[1],), UNIT_W),
    "ActivePowerL3": ObisPoint((PHASE_POWER[2],), UNIT_W),
    "CurrentL1": ObisPoint(("1-0:31.7.0*255",), UNIT_A),
    "CurrentL2": ObisPoint(("1-0:51.7.0*255",), UNIT_A),
    "CurrentL3": ObisPoint(("1-0:71.7.0*255",), UNIT_A),
    "VoltageL1": ObisPoint(("1-0:32.7.0*255",), UNIT_V),
    "VoltageL2": ObisPoint(("1-0:52.7.0*255",), UNIT_V),
    "VoltageL3": ObisPoint(("1-0:72.7.0*255",), UNIT_V),
    "Frequency": ObisPoint(("1-0:14.7.0*255",), UNIT_HZ),
}
"""The OBIS codes (DIN EN 62056-61, FNN Lastenheft EDL) of each point; ``ActivePower`` follows
the sign rule above."""


def manufacturer_flag(decoded: Decoded) -> str:
    """The meter's FLAG id (``EMH``, ``HLY``, ``DZG``...), from its manufacturer entry or its
    server id (DIN 43863-5: ``0A 01 'DZG' ...`` / ``09 01 'EBZ' ...`` / ``06 'EMH' ...``)."""
    for obis in MANUFACTURER_OBIS:
        entry = decoded.entries.get(obis)
        if entry is not None and isinstance(entry.raw, str) and entry.raw.isalpha():
            return entry.raw.upper()
    server = server_id(decoded)
    if server:
        data = bytes.fromhex(server) if _is_hex(server) else b""
        for offset in (2, 1):
            flag = data[offset : offset + 3]
            if len(flag) == 3 and flag.isalpha():
                return flag.decode().upper()
    return ""


def server_id(decoded: Decoded) -> str:
    """The meter's server id as hex (or its printed number where it sends only that)."""
    for obis in (*SERVER_ID_OBIS, *TEXT_ID_OBIS):
        entry = decoded.entries.get(obis)
        if entry is not None and entry.raw not in (None, ""):
            return str(entry.raw)
    return ""


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) % 2 == 0


@dataclass(slots=True)
class DerivedPower:
    """Power from the change of an energy register, for meters that send no power.

    A change of the register (net: import − export, Wh) gives the mean power since the previous
    change; the first change after start only sets the reference (the time of the change before
    it is unknown). Between changes the value shown is the last mean, but never more than one
    register step over the time since the last change: when the consumption stops the value
    falls towards 0 instead of standing still. Whole-kWh registers give a coarse figure (1 kWh
    takes two hours at 500 W), hence ``UncertainSubstituteValue``.
    """

    last_energy: float | None = None
    last_change_s: float | None = None
    power_w: float | None = None
    step_wh: float = 0.0

    def update(self, energy_wh: float, now_s: float) -> float | None:
        if self.last_energy is None:
            self.last_energy = energy_wh
            return None
        delta = energy_wh - self.last_energy
        if delta != 0:
            if self.last_change_s is not None and now_s > self.last_change_s:
                self.power_w = delta * 3600.0 / (now_s - self.last_change_s)
            self.step_wh = abs(delta)
            self.last_energy = energy_wh
            self.last_change_s = now_s
        elif self.last_change_s is None:
            return None
        if self.power_w is None or self.last_change_s is None:
            return None
        elapsed = now_s - self.last_change_s
        if elapsed <= 0:
            return self.power_w
        cap = self.step_wh * 3600.0 / elapsed
        return max(-cap, min(cap, self.power_w))


@dataclass(slots=True)
class SmlMeter:
    """The state one meter's values need across frames (directions, derived power).

    Args:
        points: model point → OBIS codes.
        dzg_unsigned_power: the DZG quirk handling (module docstring).
    """

    points: Mapping[str, ObisPoint] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    dzg_unsigned_power: DzgMode = "auto"
    last_moved: Literal["import", "export", ""] = ""
    prev_import: float | None = None
    prev_export: float | None = None
    derived: DerivedPower = field(default_factory=DerivedPower)
    dzg_corrections: int = 0

    def values(self, decoded: Decoded, now_s: float) -> dict[str, PointValue | Sample]:
        """The model points of one frame (``Identification.*`` included)."""
        entries = decoded.entries
        flag = manufacturer_flag(decoded)
        out: dict[str, PointValue | Sample] = {}
        for name, point in self.points.items():
            value = self._number(entries, point.obis, point.unit)
            if value is not None:
                out[name] = value
        self._energy_sums(entries, out)
        self._track_direction(out)
        power = self._active_power(entries, flag, out, now_s)
        if power is not None:
            out["ActivePower"] = power
        for index, obis in enumerate(PHASE_POWER):
            name = f"ActivePowerL{index + 1}"
            entry = entries.get(obis)
            if entry is None or name not in out:
                continue
            fixed = self._dzg(entry, flag)
            if fixed is not None:
                out[name] = fixed
            elif self._dzg_pending(entry, flag):
                del out[name]
        out.update(identification(decoded, flag))
        return out

    # --- energy ---------------------------------------------------------------------------------

    def _energy_sums(
        self, entries: Mapping[str, Entry], out: dict[str, PointValue | Sample]
    ) -> None:
        """A meter without a total register (1.8.0 / 2.8.0) but with both tariff registers:
        the total is their sum."""
        for total, tariffs in (("EnergyImported", "Imported"), ("EnergyExported", "Exported")):
            if total in out:
                continue
            parts = [out.get(f"Energy{tariffs}T1"), out.get(f"Energy{tariffs}T2")]
            numbers = [p for p in parts if isinstance(p, float)]
            if numbers and len(numbers) == len([p for p in parts if p is not None]):
                out[total] = sum(numbers)

    def _track_direction(self, out: Mapping[str, PointValue | Sample]) -> None:
        imported = out.get("EnergyImported")
        exported = out.get("EnergyExported")
        if isinstance(imported, float):
            if self.prev_import is not None and imported > self.prev_import:
                self.last_moved = "import"
            self.prev_import = imported
        if isinstance(exported, float):
            if self.prev_export is not None and exported > self.prev_export:
                self.last_moved = "export"
            self.prev_export = exported

    # --- power ----------------------------------------------------------------------------------

    def _active_power(
        self,
        entries: Mapping[str, Entry],
        flag: str,
        out: Mapping[str, PointValue | Sample],
        now_s: float,
    ) -> PointValue | Sample | None:
        total = entries.get(POWER_SUM)
        if total is not None and total.unit in (UNIT_W, None):
            fixed = self._dzg(total, flag)
            if fixed is not None:
                return fixed
            if self._dzg_pending(total, flag):
                return None
            return total.number
        plus = self._number(entries, (POWER_IMPORT,), UNIT_W)
        minus = self._number(entries, (POWER_EXPORT,), UNIT_W)
        if plus is not None or minus is not None:
            return abs(plus or 0.0) - abs(minus or 0.0)
        absolute = self._number(entries, (POWER_ABSOLUTE,), UNIT_W)
        if absolute is not None:
            has_import = any(k in out for k in ("EnergyImported", "EnergyImportedT1"))
            has_export = any(k in out for k in ("EnergyExported", "EnergyExportedT1"))
            if has_import and not has_export:
                return abs(absolute)
            if has_export and not has_import:
                return 0.0 - abs(absolute) + 0.0  # no -0.0
            if self.last_moved == "import":
                return abs(absolute)
            if self.last_moved == "export":
                return 0.0 - abs(absolute) + 0.0
            return None
        imported = out.get("EnergyImported")
        exported = out.get("EnergyExported")
        if not isinstance(imported, float) and not isinstance(exported, float):
            return None
        net = (imported if isinstance(imported, float) else 0.0) - (
            exported if isinstance(exported, float) else 0.0
        )
        derived = self.derived.update(net, now_s)
        if derived is None:
            return Sample(None, Quality.BAD_WAITING_FOR_INITIAL_DATA)
        return Sample(round(derived, 1), Quality.UNCERTAIN_SUBSTITUTE)

    def _is_dzg_candidate(self, entry: Entry, flag: str) -> bool:
        return (
            flag == "DZG"
            and self.dzg_unsigned_power != "off"
            and entry.tl in (0x52, 0x53, 0x54)
            and isinstance(entry.raw, int)
            and not isinstance(entry.raw, bool)
            and entry.raw < 0
        )

    def _dzg(self, entry: Entry, flag: str) -> float | None:
        """The corrected value of a DZG power sent in the quirk's encoding, else ``None``."""
        if not self._is_dzg_candidate(entry, flag):
            return None
        if self.dzg_unsigned_power == "auto" and self.last_moved != "import":
            return None
        assert isinstance(entry.raw, int)
        size = (entry.tl & 0x0F) - 1
        unsigned = entry.raw + (1 << (8 * size))
        self.dzg_corrections += 1
        fixed = Entry(entry.obis, unsigned, entry.scaler, entry.unit, entry.tl)
        return fixed.number

    def _dzg_pending(self, entry: Entry, flag: str) -> bool:
        """A DZG candidate whose direction the registers have not told yet (``auto``)."""
        return (
            self.dzg_unsigned_power == "auto"
            and self._is_dzg_candidate(entry, flag)
            and self.last_moved == ""
        )

    @staticmethod
    def _number(
        entries: Mapping[str, Entry], codes: tuple[str, ...], unit: int | None
    ) -> float | None:
        for code in codes:
            entry = entries.get(code)
            if entry is None:
                continue
            if unit is not None and entry.unit is not None and entry.unit != unit:
                continue
            number = entry.number
            if number is not None:
                return number
        return None


def identification(decoded: Decoded, flag: str) -> dict[str, PointValue | Sample]:
    """``Identification.*`` from the frame: manufacturer, server id, firmware where sent."""
    out: dict[str, PointValue | Sample] = {}
    if flag:
        out["Identification.Manufacturer"] = MANUFACTURERS.get(flag, flag)
    server = server_id(decoded)
    if server:
        out["Identification.SerialNumber"] = server
    for obis in FIRMWARE_OBIS:
        entry = decoded.entries.get(obis)
        if entry is not None and entry.raw not in (None, ""):
            text = str(entry.raw)
            if _is_hex(text):
                raw = bytes.fromhex(text)
                if raw.isascii() and raw.decode(errors="ignore").isprintable():
                    text = raw.decode()
            out["Identification.FirmwareVersion"] = text
    return out
