"""KEBA P30 over UDP: the session's energy limit (``setenergy``, read back from report 2's
``Setenergy`` in 0.1 Wh) and the authorisation state (``Authreq``), against the real reports of
OpenEMS and BEMCom and a simulated station whose car stops at the limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ampacity.assets import OutOfRangeError, Quality, Reading
from ampacity.drivers.keba import protocol as p
from ampacity.drivers.registry import BuildContext
from ampacity.sim.keba import KebaSimulator, KebaStation
from keba_rig import StationClock, capture, free_udp_port, keba_driver

OPENEMS = "openems_KC-P30-EC240422-E00_fw3.10.57"
BEMCOM = "bemcom_KC-P30-ES240022-E0R_fw3.9.10"


@pytest.fixture
async def context() -> AsyncIterator[BuildContext]:
    ctx = BuildContext()
    yield ctx
    await ctx.aclose()


@pytest.fixture
def bind_port() -> int:
    return free_udp_port()


async def station(st: KebaStation, bind_port: int) -> KebaSimulator:
    sim = KebaSimulator(st, reply_port=bind_port)
    await sim.start()
    return sim


def _values(readings: list[Reading]) -> dict[str, tuple[Any, Quality]]:
    return {r.point: (r.value, r.quality) for r in readings}


async def _read(reports: dict[int, bytes], context: BuildContext, bind_port: int) -> dict[str, Any]:
    sim = await station(KebaStation.from_capture(reports), bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        return _values(await driver.read_once())
    finally:
        await sim.stop()


@pytest.mark.parametrize("name", [OPENEMS, BEMCOM])
async def test_the_real_reports_have_no_energy_limit_and_need_no_authorisation(
    name: str, context: BuildContext, bind_port: int
) -> None:
    """Both captured report 2s carry ``"Setenergy": 0`` (no limit) and ``"Authreq": 0``."""
    reports = capture(name)
    raw = json.loads(reports[2])
    assert (raw["Setenergy"], raw["Authreq"]) == (0, 0)
    got = await _read(reports, context, bind_port)
    assert got["SessionEnergyLimit"] == (0.0, Quality.GOOD)
    assert got["AuthorizationRequired"] == (False, Quality.GOOD)


async def test_setenergy_and_authreq_of_a_real_report_in_their_units(
    context: BuildContext, bind_port: int
) -> None:
    """The OpenEMS report 2 with ``Setenergy`` 100000 (0.1 Wh = 10 kWh) and ``Authreq`` 1."""
    reports = capture(OPENEMS)
    reports[2] = reports[2].replace(b'"Setenergy": 0', b'"Setenergy": 100000')
    reports[2] = reports[2].replace(b'"Authreq": 0', b'"Authreq": 1')
    assert json.loads(reports[2])["Setenergy"] == 100000
    got = await _read(reports, context, bind_port)
    assert got["SessionEnergyLimit"] == (10000.0, Quality.GOOD)
    assert got["AuthorizationRequired"] == (True, Quality.GOOD)
    assert got["SessionEnergy"][0] == pytest.approx(6530.2)  # the rest of the report unchanged


async def test_a_non_numeric_setenergy_is_a_located_error(
    context: BuildContext, bind_port: int
) -> None:
    reports = capture(BEMCOM)
    reports[2] = reports[2].replace(b'"Setenergy": 0', b'"Setenergy": "none"')
    with pytest.raises(Exception, match=r"report 2 field 'Setenergy' is 'none', not a number"):
        await _read(reports, context, bind_port)


async def test_the_energy_limit_is_sent_in_tenths_of_wh_and_the_car_stops_at_it(
    context: BuildContext, bind_port: int
) -> None:
    clock = StationClock()
    st = KebaStation(plugged=True, clock=clock, curr_user_ma=16000, car_max_ma=16000)
    sim = await station(st, bind_port)
    try:  # no failsafe: the station's clock jumps further than its timeout
        driver = await keba_driver(
            sim.port, f"127.0.0.1:{bind_port}", context, profile_changes={"failsafe_timeout_s": 0}
        )
        got = _values(await driver.read_once())
        assert got["SessionEnergyLimit"] == (0.0, Quality.GOOD)
        assert got["ActivePower"][0] == pytest.approx(230 * 16 * 3)  # 11040 W
        result = await driver.write("keba", "SessionEnergyLimit", 1000.0)
        assert result.written == 1000.0
        assert st.commands[-1] == "setenergy 10000"
        got = _values(await driver.read_once())
        assert got["SessionEnergyLimit"] == (1000.0, Quality.GOOD)
        assert got["Charging"][0] is True
        clock.t += 360.0  # 0.1 h at 11040 W: 1104 Wh, past the limit
        got = _values(await driver.read_once())
        assert got["SessionEnergy"][0] >= 1000.0
        assert (got["Charging"][0], got["ActivePower"][0]) == (False, 0.0)
        # 0 lifts the limit and the car charges again
        await driver.write("keba", "SessionEnergyLimit", 0.0)
        assert st.commands[-1] == "setenergy 0"
        got = _values(await driver.read_once())
        assert got["SessionEnergyLimit"][0] == 0.0
        assert got["Charging"][0] is True
        # out of range: refused, nothing sent
        sent = len(st.commands)
        with pytest.raises(OutOfRangeError):
            await driver.write("keba", "SessionEnergyLimit", -1.0)
        with pytest.raises(OutOfRangeError):
            await driver.write("keba", "SessionEnergyLimit", 2.0e7)
        assert len(st.commands) == sent
    finally:
        await sim.stop()


async def test_a_station_waiting_for_authorisation_reports_it_and_does_not_charge(
    context: BuildContext, bind_port: int
) -> None:
    st = KebaStation(plugged=True, authreq=True)
    sim = await station(st, bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        got = _values(await driver.read_once())
    finally:
        await sim.stop()
    assert got["AuthorizationRequired"] == (True, Quality.GOOD)
    assert (got["VehicleConnected"][0], got["Charging"][0]) == (True, False)


def test_setenergy_command_units_and_range() -> None:
    assert p.session_energy_limit(10000.0) == b"setenergy 100000"
    assert p.session_energy_limit(0.0) == b"setenergy 0"
    assert p.session_energy_limit(0.15) == b"setenergy 2"
    with pytest.raises(ValueError, match="outside"):
        p.session_energy_limit(-0.1)
    with pytest.raises(ValueError, match="outside"):
        p.session_energy_limit(100_000_000.0)
