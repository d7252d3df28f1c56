"""Bender CC612/613 "Ebee/Bender" register set (``bender_cc613``: Mennekes AMTRON Professional /
Charge Control, Webasto Live) against independent evidence.

Read-outs: words of real Bender-controller stations (Mennekes AMTRON 4You) in evcc trace logs,
served as they were; the values evcc printed are asserted (a charging read-out settles that the
currents are mA). Register table: OpenEMS's Bender driver (voltages, vehicle states, the HEMS
current limit written with FC16). Broken copies of the profile must fail. Provenance in
fixtures/bender_cc613.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from charger_kit import differences as diff
from charger_kit import (
    read_units,
    readout_differences,
    shipped,
    state_differences,
    written_frames,
)
from evidence_kit import load, units_from_facts
from meter_kit import break_profile

PROFILE = "bender_cc613"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]
ASSET = "cp"


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_as_the_source_states(readout: dict[str, Any]) -> None:
    assert await readout_differences(shipped(PROFILE), readout, asset_id=ASSET) == {}


async def test_independent_register_table() -> None:
    facts = TABLE["facts"]
    units = units_from_facts(facts, unit_id=255, table="holding")
    keys = {f"{ASSET}.{f['point']}" for f in facts}
    readings = await read_units(shipped(PROFILE), units, keys, asset_id=ASSET)
    expect = {f["point"]: {"value": f["model_value"]} for f in facts}
    assert diff(readings, expect, ASSET) == {}


async def test_vehicle_states_as_documented() -> None:
    found = await state_differences(
        shipped(PROFILE), TABLE["states"], address=122, asset_id=ASSET, unit_id=255
    )
    assert found == {}


async def test_the_current_limit_is_one_fc16_word_in_amperes() -> None:
    frame = TABLE["write"]
    sent = await written_frames(
        shipped(PROFILE),
        asset_id=ASSET,
        point=frame["point"],
        value=frame["value"],
        unit_id=255,
        ready="VoltageL1",
    )
    assert (frame["function"], frame["address"], frame["words"]) in sent, sent


@pytest.mark.parametrize(
    ("point", "mistake", "readout"),
    [
        ("CurrentL1", "scale", 0),
        ("CurrentL1", "address", 0),
        ("EnergyTotal", "word_order", 0),
        ("VoltageL2", "address", 0),
        ("ActivePower", "sign", 2),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str, readout: int) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)
    case = FIXTURE["readouts"][readout]
    if mistake == "sign":  # a zero power cannot show a sign: serve 7360 W instead
        case = {**case, "registers": {**case["registers"], "220": "00 00 1c c0"}}
        case = {**case, "expect": {"ActivePower": {"value": 7360}}}
    found = await readout_differences(broken, case, asset_id=ASSET, within_s=1.0)
    assert point in found, f"{mistake} at {point} not caught"
