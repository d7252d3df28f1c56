"""Schneider PowerLogic PM5300 series (``schneider_pm5300``) against a real PM5330's read-out and
an independent register table.

The read-out is a PM5330's holding registers published as test data by SolarNetwork, with the
values that test states (model, frequency, the L-N voltage and current averages); the registers
the read-out does not cover (the phase currents) come from SolarNetwork's PM5100/PM5300 register
table. The meter's own redundant registers check what no stated value covers: its total power
against the phase powers the profile reads, and its 'delivered + received' / 'delivered -
received' counters against the two energies. See fixtures/schneider_pm5300.json.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from ampacity.assets import Reading
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile
from evidence_kit import check, load, units_from_readout
from meter_kit import break_profile, check_mistake_is_caught, check_register_table, shipped
from plain_modbus import PlainModbusServer, running
from test_read_real_readouts import assert_stated, read_json

PROFILE = "schneider_pm5300"
FIXTURE = load(PROFILE)
READOUT = FIXTURE["readout"]
STATED = READOUT["stated"]
POINTS = [
    *("VoltageL1", "VoltageL2", "VoltageL3"),
    *("ActivePowerL1", "ActivePowerL2", "ActivePowerL3", "ActivePower", "ReactivePower"),
    *("Frequency", "EnergyImported", "EnergyExported"),
]


async def read_the_readout(profile: Profile) -> dict[str, Reading]:
    """The PM5330's words served from a plain Modbus server, read through ``profile``."""
    keys = [f"meter.{point}" for point in POINTS]
    server = PlainModbusServer(units_from_readout(READOUT))
    async with server:
        config = ModbusDeviceConfig("meter", tcp=TcpEndpoint("127.0.0.1", server.port))
        async with running(ModbusDriver(profile, config)) as sink:
            good = await sink.wait_good([*keys, "meter.Identification.Model"])
    return {key.removeprefix("meter."): reading for key, reading in good.items()}


def stated_and_consistent(readings: dict[str, Any]) -> dict[str, str]:
    """What in ``readings`` disagrees with the read-out's stated values or the meter's own
    redundant registers (empty: everything agrees)."""
    value = {k: r.value for k, r in readings.items()}
    wrong: dict[str, str] = {}

    def expect(name: str, got: float, want: float, tolerance: float) -> None:
        if not math.isclose(got, want, abs_tol=tolerance):
            wrong[name] = f"{got!r} != {want!r}"

    expect("Frequency", value["Frequency"], STATED["Frequency"]["value"], 1e-5)
    mean_v = (value["VoltageL1"] + value["VoltageL2"] + value["VoltageL3"]) / 3
    expect("voltage average", mean_v, STATED["voltage_ln_average_v"]["value"], 1e-3)
    phases_w = value["ActivePowerL1"] + value["ActivePowerL2"] + value["ActivePowerL3"]
    expect("total = phases", value["ActivePower"], phases_w, 1.0)  # float32 kW, 3 sums
    sums = READOUT["consistency"]
    imported, exported = value["EnergyImported"], value["EnergyExported"]
    expect(
        "delivered + received", imported + exported, sums["energy_delivered_plus_received_wh"], 0
    )
    expect(
        "delivered - received", imported - exported, sums["energy_delivered_minus_received_wh"], 0
    )
    if value["Identification.Model"] != STATED["Model"]["value"]:
        wrong["Model"] = repr(value["Identification.Model"])
    return wrong


async def test_a_real_pm5330_reads_as_its_source_states() -> None:
    readings = await read_the_readout(shipped(PROFILE))
    assert stated_and_consistent(readings) == {}
    # the decoded values themselves, as a grid meter sees them (+ = import)
    check(readings["ActivePower"], {"value": 93797.1878, "tolerance": 0.01}, "total power W")
    check(readings["ReactivePower"], {"value": -1456.8216, "tolerance": 0.01}, "var")
    check(readings["EnergyImported"], {"value": 74_347_498}, "Wh delivered")
    check(readings["EnergyExported"], {"value": 91_265}, "Wh received")


@pytest.mark.parametrize(
    ("point", "mistake", "caught_by"),
    [
        ("Frequency", "address", "Frequency"),
        ("VoltageL2", "address", "voltage average"),
        ("ActivePowerL3", "scale", "total = phases"),
        ("ActivePower", "word_order", "total = phases"),
        ("EnergyExported", "address", "delivered + received"),
        ("EnergyImported", "word_order", "delivered + received"),
    ],
)
async def test_a_wrong_profile_disagrees_with_the_readout(
    point: str, mistake: str, caught_by: str
) -> None:
    readings = await read_the_readout(break_profile(shipped(PROFILE), point, mistake))
    assert caught_by in stated_and_consistent(readings)


async def test_ampacity_read_prints_the_pm5330() -> None:
    server = PlainModbusServer(units_from_readout(READOUT))
    async with server:
        payload = await read_json(PROFILE, "--host", "127.0.0.1", "--port", str(server.port))
    [meter] = payload["assets"]
    assert_stated(meter["points"]["Frequency"], STATED["Frequency"], "Frequency")
    assert meter["points"]["Identification.Model"]["value"] == "PM5330"
    assert meter["points"]["Identification.Manufacturer"]["value"] == "Schneider Electric"


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE, asset_id="meter", table="holding")


@pytest.mark.parametrize(
    ("point", "mistake"),
    [("CurrentL2", "address"), ("CurrentL1", "word_order"), ("ActivePowerL2", "sign")],
)
async def test_a_wrong_profile_fails_the_table(point: str, mistake: str) -> None:
    await check_mistake_is_caught(
        PROFILE, FIXTURE, point, mistake, asset_id="meter", table="holding"
    )
