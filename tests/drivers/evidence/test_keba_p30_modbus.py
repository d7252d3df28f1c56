"""KEBA P30 over Modbus TCP (``keba_p30_modbus``) against independent register tables: OpenEMS's
KEBA Modbus driver (addresses, UINT32 values, mA / mW / V / 0.1 Wh) and the Smart Appliance
Enabler's KEBA page (1036 in 0.1 Wh on unit 255); the current goes out as FC6 5014 = 1 then 5004
in mA, a pause as 5014 = 0 only. Broken copies of the profile must fail. Provenance in
fixtures/keba_p30_modbus.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from charger_kit import differences, read_units, shipped, written_frames
from evidence_kit import load
from meter_kit import break_profile
from plain_modbus import PlainUnit, words

PROFILE = "keba_p30_modbus"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]


async def table_differences(profile: Any) -> dict[str, str]:
    unit = PlainUnit(fill=0)
    for fact in TABLE["facts"]:
        unit.put(fact["address"], words(round(fact["test_value"] / fact["scale"]), "u32", "big"))
    expect = {f["point"]: {"value": f["model_value"]} for f in TABLE["facts"]}
    readings = await read_units(
        profile, {255: unit}, {f"keba.{p}" for p in expect}, asset_id="keba", within_s=3.0
    )
    return differences(readings, expect, "keba")


async def test_independent_register_table() -> None:
    assert await table_differences(shipped(PROFILE)) == {}


@pytest.mark.parametrize("case", TABLE["writes"], ids=lambda c: f"{c['value']:g} A")
async def test_the_current_and_the_pause_go_out_as_fc6_words(case: dict[str, Any]) -> None:
    sent = await written_frames(
        shipped(PROFILE),
        asset_id="keba",
        point="ChargeCurrentLimit",
        value=case["value"],
        unit_id=255,
        ready="ActivePower",
    )
    assert sent == [tuple(frame) for frame in case["frames"]]


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("ActivePower", "scale"),
        ("EnergyTotal", "word_order"),
        ("CurrentL3", "address"),
        ("VoltageL2", "function"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    found = await table_differences(break_profile(shipped(PROFILE), point, mistake))
    assert point in found, found
