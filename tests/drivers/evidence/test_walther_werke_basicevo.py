"""Walther-Werke basicEVO (``walther_werke_basicevo``, EVSE-15): a Heidelberg Energy Control OEM
box, checked against the Heidelberg evidence (fixtures/heidelberg_energy_control.json: evcc's
logged read-out of a real Energy Control and a connect-series capture, and evcc's template listing
the Basic Evo Pro under the Energy Control); a broken copy of the profile must fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from charger_kit import readout_differences, shipped
from evidence_kit import load
from meter_kit import break_profile

PROFILE = "walther_werke_basicevo"
FIXTURE = load("heidelberg_energy_control")


def test_the_oem_mapping_is_on_record() -> None:
    assert "Basic Evo Pro" in FIXTURE["sources"]["evcc-same-map"]["note"]


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_as_the_source_states(readout: dict[str, Any]) -> None:
    assert await readout_differences(shipped(PROFILE), readout, asset_id="evo") == {}


@pytest.mark.parametrize(("point", "mistake"), [("VoltageL1", "address"), ("CurrentL1", "scale")])
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)
    readout = next(r for r in FIXTURE["readouts"] if r["source"] == "evcc-9582")
    if point == "CurrentL1":  # the logged currents are 0 A: serve 16.0 A to see a scale error
        readout = {
            **readout,
            "registers": {**readout["registers"], "input:6": "00 a0 00 a0 00 a0"},
            "expect": {"CurrentL1": {"value": 16.0, "tolerance": 0}},
        }
    found = await readout_differences(broken, readout, asset_id="evo", within_s=1.0)
    assert point in found, found
