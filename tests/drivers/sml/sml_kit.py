"""Helpers of the SML tests: the captures and what their sidecars say a reader must show.

The captures in ``captures/`` are copies of the shared collection (real meters' frames and raw
serial dumps, provenance in each ``*.expected.json``), plus two DZG captures from
devZer0/libsml-testing (``DZG_quirk.provenance.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import load_profile_file
from ampacity.drivers.sml.driver import PROFILES

CAPTURES = Path(__file__).parent / "captures"

POINT_OF_OBIS = {
    "1-0:1.8.0*255": "EnergyImported",
    "1-0:2.8.0*255": "EnergyExported",
    "1-0:1.8.1*255": "EnergyImportedT1",
    "1-0:1.8.2*255": "EnergyImportedT2",
    "1-0:2.8.1*255": "EnergyExportedT1",
    "1-0:2.8.2*255": "EnergyExportedT2",
    "1-0:36.7.0*255": "ActivePowerL1",
    "1-0:56.7.0*255": "ActivePowerL2",
    "1-0:76.7.0*255": "ActivePowerL3",
    "1-0:31.7.0*255": "CurrentL1",
    "1-0:51.7.0*255": "CurrentL2",
    "1-0:71.7.0*255": "CurrentL3",
    "1-0:32.7.0*255": "VoltageL1",
    "1-0:52.7.0*255": "VoltageL2",
    "1-0:72.7.0*255": "VoltageL3",
    "1-0:14.7.0*255": "Frequency",
}
"""OBIS → model point, from the FNN / DIN EN 62056-61 names (written here independently of the
profile, so a wrong line in the profile fails the tests)."""

FLAGS = {"EMH", "ISK", "HLY", "DZG", "EBZ", "ITR", "DNT", "HAGER"}

FRAME_CAPTURES = sorted(
    p.name.removesuffix(".frame.hex")
    for p in CAPTURES.glob("*.frame.hex")
    if (CAPTURES / p.name.replace(".frame.hex", ".expected.json")).exists()
)
GOOD_CAPTURES = [c for c in FRAME_CAPTURES if c != "openmuc_test_Hager_eHZ"]
"""Every capture with a good CRC (the openmuc Hager frame is corrupted in its source)."""


def frame_bytes(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.frame.hex").read_text().strip())


def sidecar(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURES / f"{name}.expected.json").read_text())
    return data


def sidecar_entries(name: str) -> dict[str, dict[str, Any]]:
    data = sidecar(name)
    entries = data.get("entries") or data.get("entries_decoded_here") or []
    return {e["obis"]: e for e in entries}


def expected_points(name: str) -> dict[str, float]:
    """The model values a reader must show for a capture, from its sidecar's entries.

    ``ActivePower``: 16.7.0; else 1.7.0 − 2.7.0; else 15.7.0 with the sign of the only energy
    direction the meter has (the sign rule of the README); meters without any power get none.
    """
    entries = sidecar_entries(name)
    values = {o: e["value"] for o, e in entries.items() if "value" in e}
    out = {POINT_OF_OBIS[o]: float(v) for o, v in values.items() if o in POINT_OF_OBIS}
    for total, t1, t2 in (
        ("EnergyImported", "EnergyImportedT1", "EnergyImportedT2"),
        ("EnergyExported", "EnergyExportedT1", "EnergyExportedT2"),
    ):
        if total not in out and (t1 in out or t2 in out):
            out[total] = out.get(t1, 0.0) + out.get(t2, 0.0)
    if "1-0:16.7.0*255" in values:
        out["ActivePower"] = float(values["1-0:16.7.0*255"])
    elif "1-0:1.7.0*255" in values or "1-0:2.7.0*255" in values:
        out["ActivePower"] = float(values.get("1-0:1.7.0*255", 0)) - float(
            values.get("1-0:2.7.0*255", 0)
        )
    elif "1-0:15.7.0*255" in values:
        exports_only = not any(k.startswith("EnergyImported") for k in out)
        out["ActivePower"] = (
            -float(values["1-0:15.7.0*255"]) if exports_only else float(values["1-0:15.7.0*255"])
        )
        out["ActivePower"] += 0.0
    return out


def expected_flag(name: str) -> str:
    for entry in sidecar_entries(name).values():
        text = entry.get("value_ascii")
        if entry["obis"] in ("129-129:199.130.3*255", "1-0:96.50.1*1") and text:
            return str(text)
    return ""


def sml_profiles() -> dict[str, ProfileHeader]:
    """The shipped ``sml`` profile alone (independent of other drivers' profiles)."""
    return {"sml": load_profile_file(PROFILES / "sml.yaml")}
