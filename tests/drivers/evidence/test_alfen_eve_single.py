"""Alfen Eve Single Pro-line (``alfen_eve_single``, EVSE-23): the socket of the Eve Double's
register map on unit 1, checked against the same independent evidence as ``alfen_eve_double``
(fixtures/alfen_eve_double.json): evcc's logged read-outs of real Alfen sockets on unit 1 and the
ThaStealth/alfen_modbus register table; broken copies of the profile must fail.
"""

from __future__ import annotations

from typing import Any

import pytest
from charger_kit import readout_differences, shipped, table_differences
from evidence_kit import load
from meter_kit import break_profile

PROFILE = "alfen_eve_single"
FIXTURE = load("alfen_eve_double")
STATION = (200,)  # the station unit answers too (identification)
SOCKET_FACTS = [
    f
    for f in FIXTURE["register_table"]["facts"]
    if f.get("unit_id", 1) == 1 and not f["point"].startswith("Identification.")
]


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_socket_readout_decodes_as_the_source_states(readout: dict[str, Any]) -> None:
    assert readout["unit_id"] == 1
    assert (
        await readout_differences(shipped(PROFILE), readout, asset_id="eve", also_units=STATION)
        == {}
    )


async def test_independent_register_table_on_unit_1() -> None:
    assert SOCKET_FACTS, "the fixture has socket facts on unit 1"
    found = await table_differences(
        shipped(PROFILE), SOCKET_FACTS, device_id="eve", unit_id=1, also_units=STATION
    )
    assert found == {}


@pytest.mark.parametrize(
    ("point", "mistake"),
    [("CurrentL2", "address"), ("ActivePower", "word_order"), ("VoltageL1", "scale")],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)
    found = await table_differences(
        broken, SOCKET_FACTS, device_id="eve", unit_id=1, within_s=1.0, also_units=STATION
    )
    assert point in found, found
