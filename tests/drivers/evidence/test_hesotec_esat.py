"""hesotec eSat / electrify eBox (``hesotec_esat``) against a real read-out: evcc's log of a
charging hesotec box (issue #8060) with the raw values it printed, served as words; the current
and the pause as frames; broken copies of the profile must fail. Provenance in
fixtures/hesotec_esat.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from charger_kit import readout_differences, shipped, written_frames
from evidence_kit import load
from meter_kit import break_profile

PROFILE = "hesotec_esat"
FIXTURE = load(PROFILE)
READOUT = FIXTURE["readouts"][0]


async def test_real_readout_decodes_as_the_source_states() -> None:
    assert await readout_differences(shipped(PROFILE), READOUT, asset_id="esat") == {}


@pytest.mark.parametrize("case", FIXTURE["writes"], ids=lambda c: f"{c['value']:g} A")
async def test_the_current_runs_and_0_a_pauses(case: dict[str, Any]) -> None:
    sent = await written_frames(
        shipped(PROFILE),
        asset_id="esat",
        point="ChargeCurrentLimit",
        value=case["value"],
        unit_id=1,
        ready="VoltageL1",
    )
    assert sent == [tuple(frame) for frame in case["frames"]]


@pytest.mark.parametrize(
    ("point", "mistake"),
    [("CurrentL1", "scale"), ("CurrentL2", "word_order"), ("VoltageL2", "address")],
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)
    found = await readout_differences(broken, READOUT, asset_id="esat", within_s=1.0)
    assert point in found, found
