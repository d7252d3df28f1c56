"""wallbe Pro / Eco 2.0 with the Phoenix Contact controller (``wallbe_phoenix``) against
independent evidence: the sun2drive controller for a wallbe (state codes at input 100, the preset
528 in 0.1 A written with FC6, coil 400 to start and stop) and a wallbe's power register logged
by evcc (#1245); a broken copy of the profile must fail. Provenance in
fixtures/wallbe_phoenix.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from charger_kit import readout_differences, shipped, state_differences
from evidence_kit import load
from meter_kit import break_profile
from plain_modbus import PlainModbusServer, PlainUnit, running

PROFILE = "wallbe_phoenix"
FIXTURE = load(PROFILE)
TABLE = FIXTURE["register_table"]


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_by_the_documented_type(readout: dict[str, Any]) -> None:
    assert await readout_differences(shipped(PROFILE), readout, asset_id="wb") == {}


async def test_states_as_the_independent_implementation_reads_them() -> None:
    found = await state_differences(
        shipped(PROFILE), TABLE["states"], address=100, asset_id="wb", unit_id=255, table="input"
    )
    assert found == {}


@pytest.mark.parametrize("case", TABLE["writes"], ids=lambda c: f"{c['value']:g} A")
async def test_the_preset_and_the_enable_coil(case: dict[str, Any]) -> None:
    async with PlainModbusServer({255: PlainUnit(fill=0)}) as server:
        config = ModbusDeviceConfig("wb", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
        driver = ModbusDriver(shipped(PROFILE), config)
        async with running(driver) as sink:
            await sink.wait_good(["wb.ActivePower"])
            await driver.write("wb", "ChargeCurrentLimit", case["value"])
        sent = [(w.function, w.address, list(w.values)) for w in server.writes]
    expected = []
    if case["register"] is not None:
        expected.append(tuple(case["register"]))
    expected.append((5, case["coil"][0], [1 if case["coil"][1] else 0]))
    assert sent == expected


@pytest.mark.parametrize(
    ("point", "mistake"), [("ActivePower", "word_order"), ("ActivePower", "function")]
)
async def test_a_wrong_profile_fails(point: str, mistake: str) -> None:
    broken = break_profile(shipped(PROFILE), point, mistake)
    found = await readout_differences(broken, FIXTURE["readouts"][0], asset_id="wb", within_s=1.0)
    assert point in found, found
