"""Heidelberg Energy Control (``heidelberg_energy_control``) against independent evidence.

Read-outs: a real Energy Control logged by evcc (issue #9582) and a captured connect-series
wallbox of the same register map (Schrolli91/heidelberg_energy_control test fixture), served as
they were; the values the sources state are asserted. Register table: the addresses, scales and
word order of the Schrolli91 Home Assistant integration, with known values encoded per that
table. The device is RS485 in the field; the register map is the same through a TCP gateway, so
the tests serve it over Modbus TCP. See fixtures/heidelberg_energy_control.json for provenance.
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, units_from_readout, verify
from plain_modbus import PlainModbusServer, PlainUnit, hex_words, running

PROFILE = "heidelberg_energy_control"
FIXTURE = load(PROFILE)


def driver_for(server: PlainModbusServer, unit_id: int) -> ModbusDriver:
    config = ModbusDeviceConfig(
        "hd", tcp=TcpEndpoint("127.0.0.1", server.port), unit_id=unit_id, timeout_s=0.5
    )
    return ModbusDriver.from_profile_id(PROFILE, config)


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_as_the_source_states(readout: dict[str, Any]) -> None:
    server = PlainModbusServer(units_from_readout(readout))
    async with server, running(driver_for(server, readout["unit_id"])) as sink:
        expected = {f"hd.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])


async def test_independent_register_table() -> None:
    facts = FIXTURE["register_table"]["facts"]
    server = PlainModbusServer(units_from_facts(facts, unit_id=1, table="input"))
    async with server, running(driver_for(server, 1)) as sink:
        await verify(sink, facts_expected(facts, "hd"), "register table")


@pytest.mark.parametrize("frame", FIXTURE["write_frames"], ids=lambda f: f["point"])
async def test_setpoint_writes_standby_off_as_the_logged_frame(frame: dict[str, Any]) -> None:
    unit = PlainUnit(fill=0)
    server = PlainModbusServer({frame["unit_id"]: unit})
    async with server:
        driver = driver_for(server, frame["unit_id"])
        async with running(driver) as sink:
            await sink.wait_good(["hd.ChargeCurrentLimit"])
            await driver.write("hd", frame["point"], frame["value"])
        sent = [(w.unit_id, w.function, w.address, list(w.values)) for w in server.writes]
        logged = (frame["unit_id"], frame["function"], frame["address"], hex_words(frame["data"]))
        assert logged in sent, sent
        # the current itself in 0.1 A (the integration's scale): 10 A -> 100 in holding 261
        assert unit.get(261, 1) == [round(frame["value"] * 10)]
