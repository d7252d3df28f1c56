"""Alpitronic hypercharger (``alpitronic_hypercharger``, DC, two connectors) against independent
evidence.

Read-outs: input and holding frames of real hyperchargers in evcc trace logs, served as they
were and decoded by the independent table's types. Register table: OpenEMS's Alpitronic driver
(connector blocks at 100 and 200, state codes, power in W, session energy in 0.01 kWh, the
vehicle's SoC in 0.01 % as evcc also reads it since its fix, the power limit written as one FC16
doubleword). A pause (0 W) must not reach the station as 0 W, which
ends the session. Broken copies of the profile must fail. Provenance in
fixtures/alpitronic_hypercharger.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from charger_kit import (
    differences,
    key_of,
    read_units,
    readout_differences,
    shipped,
    state_differences,
    written_frames,
)
from evidence_kit import load
from meter_kit import break_profile
from plain_modbus import PlainUnit, words

PROFILE = "alpitronic_hypercharger"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]
DEVICE = "hyc"


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_by_the_independent_table(readout: dict[str, Any]) -> None:
    assert await readout_differences(shipped(PROFILE), readout, asset_id=DEVICE) == {}


async def register_table_differences(profile: Any) -> dict[str, str]:
    unit = PlainUnit(fill=0)
    for fact in TABLE["facts"]:
        raw = round(fact["test_value"] / fact["scale"])
        unit.put(fact["address"], words(raw, fact["type"], "big"), fact["table"])
    expect = {f["point"]: {"value": f["model_value"]} for f in TABLE["facts"]}
    keys = {key_of(DEVICE, p) for p in expect}
    readings = await read_units(profile, {1: unit}, keys, asset_id=DEVICE, within_s=2.0)
    return differences(readings, expect, DEVICE)


async def test_independent_register_table() -> None:
    assert await register_table_differences(shipped(PROFILE)) == {}


async def test_connector_states_as_documented() -> None:
    found = await state_differences(
        shipped(PROFILE), TABLE["states"], address=100, asset_id=DEVICE, unit_id=1, table="input"
    )
    assert found == {}


async def test_the_power_limit_is_one_fc16_doubleword_in_watts() -> None:
    frame = TABLE["write"]
    sent = await written_frames(
        shipped(PROFILE),
        asset_id=DEVICE,
        point=frame["point"],
        value=frame["value"],
        unit_id=1,
        ready="connector2.ActivePower",
    )
    assert (frame["function"], frame["address"], frame["words"]) in sent, sent


async def test_a_pause_is_sent_as_1547_w_not_as_0_w_which_ends_the_session() -> None:
    sent = await written_frames(
        shipped(PROFILE),
        asset_id=DEVICE,
        point="connector1.ChargePowerLimit",
        value=0.0,
        unit_id=1,
        ready="connector1.ActivePower",
    )
    assert sent == [(16, 100, [0, 1547])], sent


@pytest.mark.parametrize(
    ("point", "mistake"),
    [
        ("ActivePower", "address"),
        ("ActivePower", "word_order"),
        ("SessionEnergy", "scale"),
        ("VehicleSoc", "scale"),
        ("VehicleSoc", "address"),
    ],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)  # connector 1's mapping
    assert f"connector1.{point}" in await register_table_differences(broken)


async def test_a_wrong_energy_word_order_fails_on_the_read_out() -> None:
    broken = break_profile(shipped(PROFILE), "EnergyTotal", "word_order")
    found = await readout_differences(broken, FIXTURE["readouts"][0], asset_id=DEVICE)
    assert "connector1.EnergyTotal" in found
