"""Sungrow SG string inverters (``sungrow_sg``) against two independent register tables.

A register image of a 125 kW inverter, built from OpenEMS's Sungrow table (device type code at
4999, then the 5000 block, 32-bit values low word first) and evcc's (5003 total yield in kWh),
is served as it is from a plain Modbus server; the engine, built from the shipped profile, reads
it, and the values the tables make of the words are checked. The limit write is checked against
the meaning OpenEMS's table gives 5006/5007 (0xAA = on; 62500 W of 125 kW -> 500 in 0.1 %, FC6).
The device type code -> model names come from three transcriptions of Sungrow's appendix: the
profile's table must be the codes two of them agree on, and served codes must read as those
names (a code only one lists reads BadOutOfRange). See fixtures/sungrow_sg.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.registry import all_profiles
from evidence_kit import load, units_from_readout, verify
from plain_modbus import PlainModbusServer, running

PROFILE = "sungrow_sg"
FIXTURE = load(PROFILE)
READOUT = FIXTURE["readouts"][0]


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    config = ModbusDeviceConfig("sg", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    return ModbusDriver.from_profile_id(PROFILE, config)


async def test_openems_register_image() -> None:
    server = PlainModbusServer(units_from_readout(READOUT, fill=0))
    async with server, running(driver_for(server)) as sink:
        expected = {f"sg.{p}": e for p, e in READOUT["expect"].items()}
        await verify(sink, expected, READOUT["source"])


async def test_the_limit_is_the_limitation_setting_in_tenths_of_a_percent() -> None:
    case = FIXTURE["limit_write"]
    server = PlainModbusServer(units_from_readout(READOUT, fill=0))
    async with server:
        driver = driver_for(server)
        async with running(driver) as sink:
            nominal = await sink.wait_good(["sg.NominalPower"])
            assert nominal["sg.NominalPower"].value == case["nominal_w"]
            result = await driver.write("sg", "ActivePowerLimit", case["limit_w"])
            assert result.written == case["limit_w"]
            await driver.write("sg", "ActivePowerLimit", case["limit_w"])
        sent = [[w.address, *w.values] for w in server.writes if w.function == 6]
        # the switch once per connection, then the setting with every write
        assert sent == [*case["expect_fc6"], case["expect_fc6"][1]], sent


def agreed_codes(sources: dict[str, Any]) -> dict[int, str]:
    """Code -> model text, for the codes at least two transcriptions list with the same names
    (a code given to two models shows both names, shortest first)."""
    listed: dict[int, list[set[str]]] = {}
    for source in sources.values():
        for code, names in source["codes"].items():
            listed.setdefault(int(code, 16), []).append(set(names))
    agreed: dict[int, str] = {}
    for code, name_sets in listed.items():
        if len(name_sets) < 2:
            continue
        assert len({min(names) for names in name_sets}) == 1 or set.intersection(*name_sets), (
            f"the transcriptions disagree on 0x{code:04X}: {name_sets}"
        )
        names = sorted(set().union(*name_sets), key=lambda n: (len(n), n))
        agreed[code] = " / ".join(names)
    return agreed


CODES = FIXTURE["device_type_codes"]["sources"]


def test_the_model_table_is_the_codes_the_transcriptions_agree_on() -> None:
    model = all_profiles()[PROFILE].assets[0].identification["Model"]
    assert model.address == 4999 and model.type.value == "u16"
    assert model.enum == agreed_codes(CODES)


@pytest.mark.parametrize(
    ("code", "model"),
    [
        (0x2430, "SG5.0RT"),
        (0x2433, "SG10RT"),  # the code an SG10RT's WiNet-S reports (fixture: observed)
        (0x2609, "SG10RS"),
        (0x2C06, "SG110CX"),
        (0x2C0C, "SG250HX"),
        (0x013E, "SG10KTL-M"),  # in all three transcriptions
        (0x0138, "SG80KTL / SG80KTL-20"),  # one code, two models
        (0x2C2D, None),  # SG125CX-P2 in one transcription only: not claimed
    ],
)
async def test_the_device_type_code_names_the_model(code: int, model: str | None) -> None:
    words = list(READOUT["registers"]["input:4999"])
    words[0] = code
    readout = {**READOUT, "registers": {**READOUT["registers"], "input:4999": words}}
    server = PlainModbusServer(units_from_readout(readout, fill=0))
    async with server, running(driver_for(server)) as sink:
        want = {"quality": "BAD_OUT_OF_RANGE"} if model is None else {"value": model}
        await verify(sink, {"sg.Identification.Model": want}, f"device type 0x{code:04X}")
