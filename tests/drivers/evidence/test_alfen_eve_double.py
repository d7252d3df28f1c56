"""Alfen Eve Double (``alfen_eve_double``) against independent evidence.

Read-outs: register words of real Alfen stations logged by evcc in public issues, served as they
were; the decoded values evcc printed beside them are asserted. Register table: the addresses,
types and units of the ThaStealth/alfen_modbus integration (cross-read with OpenEMS), with known
values encoded per that table on both sockets' unit ids and on the station unit 200.
See fixtures/alfen_eve_double.json for provenance.
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import check, expected_of, fact_words, load, units_from_readout, verify
from plain_modbus import PlainModbusServer, PlainUnit, hex_words, running

PROFILE = "alfen_eve_double"
FIXTURE = load(PROFILE)
SOCKET = {1: "wb-socket1", 2: "wb-socket2"}


def driver_for(server: PlainModbusServer) -> ModbusDriver:
    return ModbusDriver.from_profile_id(
        PROFILE, ModbusDeviceConfig("wb", tcp=TcpEndpoint("127.0.0.1", server.port))
    )


def served(units: dict[int, PlainUnit]) -> PlainModbusServer:
    """The station: both socket units and the station unit 200 answer (unset words read 0)."""
    for uid in (1, 2, 200):
        units.setdefault(uid, PlainUnit(fill=0))
    return PlainModbusServer(units)


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_as_the_source_states(readout: dict[str, Any]) -> None:
    server = served(units_from_readout(readout))
    async with server, running(driver_for(server)) as sink:
        asset = SOCKET[readout["unit_id"]]
        expected = {f"{asset}.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])


@pytest.mark.parametrize("frame", FIXTURE["write_frames"], ids=lambda f: f["point"])
async def test_setpoint_goes_out_as_the_logged_frame(frame: dict[str, Any]) -> None:
    async with served({}) as server:
        driver = driver_for(server)
        async with running(driver) as sink:
            await sink.wait_good([f"{SOCKET[frame['unit_id']]}.ActivePower"])
            await driver.write(SOCKET[frame["unit_id"]], frame["point"], frame["value"])
        sent = [w for w in server.writes if w.address == frame["address"]]
        assert sent, f"nothing written to {frame['address']}: {server.writes}"
        assert (sent[0].unit_id, sent[0].function, list(sent[0].values)) == (
            frame["unit_id"],
            frame["function"],
            hex_words(frame["data"]),
        )


def _socket_value(fact: dict[str, Any], uid: int) -> Any:
    """Socket 2 gets other values than socket 1, so a wrong unit id shows."""
    if uid != 2:
        return fact["test_value"]
    if fact["type"] == "string":
        return "B1"
    return fact["test_value"] + 1


async def test_independent_register_table() -> None:
    table = FIXTURE["register_table"]["facts"]
    units: dict[int, PlainUnit] = {uid: PlainUnit(fill=0) for uid in (1, 2, 200)}
    for fact in table:
        uids = [fact["unit_id"]] if "unit_id" in fact else [1, 2]
        for uid in uids:
            units[uid].put(fact["address"], fact_words(fact, _socket_value(fact, uid)))
    async with PlainModbusServer(units) as server, running(driver_for(server)) as sink:
        expected: dict[str, dict[str, Any]] = {}
        for fact in table:
            if "unit_id" in fact:  # station registers: the same on both charge points
                for asset in SOCKET.values():
                    expected[f"{asset}.{fact['point']}"] = expected_of(fact)
                continue
            expected[f"{SOCKET[1]}.{fact['point']}"] = expected_of(fact)
            if fact["type"] == "string":  # "B1": vehicle connected, not charging
                socket2 = {"VehicleConnected": True, "Charging": False}[fact["point"]]
                expected[f"{SOCKET[2]}.{fact['point']}"] = {"value": socket2}
            else:
                expected[f"{SOCKET[2]}.{fact['point']}"] = {
                    "value": fact["model_value"] + 1,
                    "tolerance": 1e-9,
                }
        readings = await sink.wait_good(expected)
        for key, want in expected.items():
            check(readings[key], want, key)
