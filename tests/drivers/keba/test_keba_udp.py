"""KEBA P30 over UDP: real reports served by a local UDP responder, the protocol's quirks (answers
to one port, one command in flight, pacing, broadcasts), the write path and the failure cases."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ampacity.assets import OutOfRangeError, Quality, Reading
from ampacity.drivers.keba import protocol as p
from ampacity.drivers.registry import BuildContext, ReadTarget, builtin_profiles
from ampacity.server.read import read_device
from ampacity.sim.faults import Fault
from ampacity.sim.keba import KebaSimulator, KebaStation
from keba_rig import (
    FIXTURES,
    Sink,
    StationClock,
    capture,
    free_udp_port,
    keba_driver,
    until,
)

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


async def station(
    st: KebaStation, bind_port: int
) -> KebaSimulator:  # answers to the bind port, as a real station answers to 7090
    sim = KebaSimulator(st, reply_port=bind_port)
    await sim.start()
    return sim


# --- the real reports ------------------------------------------------------------------------


def _values(readings: list[Reading]) -> dict[str, tuple[Any, Quality]]:
    return {r.point: (r.value, r.quality) for r in readings}


async def test_fw_3_10_57_report_as_openems_states_it(context, bind_port) -> None:
    """OpenEMS's test asserts 1866 W (P 1866156 mW), 9075 mA, 228/227 V, 7747834 Wh (E total
    77478335 x 0.1 Wh), session 6530 Wh (E pres 65302), plug 7 = plugged and locked, state 5 =
    interrupted, Max curr 0."""
    sim = await station(KebaStation.from_capture(capture(OPENEMS)), bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        got = _values(await driver.read_once())
    finally:
        await sim.stop()
    good = {k: v for k, (v, q) in got.items() if q is Quality.GOOD}
    assert good["ActivePower"] == pytest.approx(1866.156)
    assert round(good["ActivePower"]) == 1866  # type: ignore[arg-type]
    assert good["CurrentL1"] == pytest.approx(9.075)
    assert (good["CurrentL2"], good["CurrentL3"]) == (0.0, 0.0)
    assert (good["VoltageL1"], good["VoltageL2"], good["VoltageL3"]) == (228.0, 227.0, 0.0)
    assert good["EnergyTotal"] == pytest.approx(7747833.5)
    assert round(good["EnergyTotal"]) == 7747834  # type: ignore[arg-type]
    assert good["SessionEnergy"] == pytest.approx(6530.2)
    assert good["VehicleConnected"] is True
    assert good["Charging"] is False
    assert good["ChargeCurrentLimit"] == 0.0
    assert good["Identification.Model"] == "KC-P30-EC240422-E00"
    assert good["Identification.SerialNumber"] == "12345678"
    assert good["Identification.FirmwareVersion"] == "P30 v 3.10.57 (240521-093236)"
    assert [c for _, c in sim.received] == ["report 1", "report 2", "report 3"]


async def test_fw_3_9_10_report_as_bemcom_states_it(context, bind_port) -> None:
    """BEMCom's decoded test message: no cable (Plug 0), state 1, E total 4781461 and E pres
    330130 in 0.1 Wh, Curr user 16000 mA but Max curr 0 (not enabled)."""
    sim = await station(KebaStation.from_capture(capture(BEMCOM)), bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        got = _values(await driver.read_once())
    finally:
        await sim.stop()
    stated = json.loads((FIXTURES / f"{BEMCOM}.expected.json").read_text())
    r3 = stated["source_stated_expected_parsed"]["report 3"]
    assert got["EnergyTotal"] == (pytest.approx(r3["E total"] / 10), Quality.GOOD)
    assert got["EnergyTotal"][0] == pytest.approx(478146.1)
    assert got["SessionEnergy"][0] == pytest.approx(33013.0)
    assert got["ActivePower"] == (0.0, Quality.GOOD)
    assert got["VehicleConnected"] == (False, Quality.GOOD)
    assert got["Charging"] == (False, Quality.GOOD)
    assert got["ChargeCurrentLimit"] == (0.0, Quality.GOOD)
    assert got["Identification.SerialNumber"][0] == "17643683"


async def test_ampacity_read_prints_a_real_report_as_json(bind_port) -> None:
    sim = await station(KebaStation.from_capture(capture(OPENEMS)), bind_port)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ampacity.server.cli",
            "read",
            "keba_p30",
            "--host",
            "127.0.0.1",
            "--port",
            str(sim.port),
            "--bind",
            f"127.0.0.1:{bind_port}",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await sim.stop()
    assert process.returncode == 0, err.decode()
    body = json.loads(out)
    assert body["profile"] == "keba_p30"
    [asset] = body["assets"]
    points = asset["points"]
    assert points["ActivePower"] == {"value": 1866.156, "unit": "W", "status": "Good"}
    assert points["EnergyTotal"]["value"] == pytest.approx(7747833.5)
    assert points["EnergyTotal"]["unit"] == "Wh"
    assert points["CurrentL1"] == {"value": 9.075, "unit": "A", "status": "Good"}
    assert points["VehicleConnected"]["value"] is True
    assert points["Identification.SerialNumber"]["value"] == "12345678"


async def test_read_device_without_a_station_says_why(bind_port) -> None:
    silent = free_udp_port()  # nothing answers there
    result = await read_device(
        "keba_p30",
        ReadTarget(host="127.0.0.1", port=silent, bind=f"127.0.0.1:{bind_port}"),
        builtin_profiles(),
        timeout_s=2.0,
    )
    assert not result.any_good
    assert result.error == f"no answer from 127.0.0.1:{silent} in time"


# --- the protocol's quirks -------------------------------------------------------------------


async def test_two_stations_share_one_socket_and_get_their_own_answers(context, bind_port) -> None:
    """Both stations answer to the same local port; each device gets its own station's values."""
    a = await station(KebaStation.from_capture(capture(OPENEMS)), bind_port)
    b = await station(KebaStation.from_capture(capture(BEMCOM)), bind_port)
    try:
        bind = f"127.0.0.1:{bind_port}"
        first = await keba_driver(a.port, bind, context, device_id="a")
        second = await keba_driver(b.port, bind, context, device_id="b")
        got_a, got_b = await asyncio.gather(first.read_once(), second.read_once())
    finally:
        await a.stop()
        await b.stop()
    assert len([k for k in context.resources if k.startswith("keba.udp")]) == 1
    assert _values(got_a)["Identification.SerialNumber"][0] == "12345678"
    assert _values(got_b)["Identification.SerialNumber"][0] == "17643683"
    assert _values(got_a)["ActivePower"][0] == pytest.approx(1866.156)
    assert _values(got_b)["ActivePower"][0] == 0.0


async def test_one_datagram_at_a_time_with_the_stations_pause(context, bind_port) -> None:
    sim = await station(KebaStation(plugged=True), bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        await asyncio.gather(
            driver.read_once(),
            driver.write("keba", "ChargeCurrentLimit", 10.0),
            driver.read_once(),
        )
    finally:
        await sim.stop()
    times = [t for t, _ in sim.received]
    assert len(times) >= 8
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.095, gaps  # 100 ms after every answer, never two in flight


async def test_a_broadcast_during_a_request_is_not_taken_for_the_answer(context, bind_port) -> None:
    class Chatty(KebaSimulator):
        def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
            if data.startswith(b"report 2"):
                self.broadcast({"State": 3})  # the station's own message comes first
                self.broadcast({"Plug": 7})
            super().datagram_received(data, addr)

    sim = Chatty(KebaStation.from_capture(capture(BEMCOM)), reply_port=bind_port)
    await sim.start()
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        got = _values(await driver.read_once())
    finally:
        await sim.stop()
    # report 2 itself (state 1, plug 0) is the answer; the broadcasts did not replace it
    assert got["Charging"] == (False, Quality.GOOD)
    assert got["VehicleConnected"] == (False, Quality.GOOD)
    assert got["EnergyTotal"][0] == pytest.approx(478146.1)


async def test_a_broadcast_between_polls_is_published_at_once(context, bind_port) -> None:
    sim = await station(KebaStation.from_capture(capture(BEMCOM)), bind_port)
    sink = Sink()
    task = None
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context, poll_s=5.0)
        task = asyncio.create_task(driver.run(sink))
        plugged = lambda: sink.latest("keba", "VehicleConnected")  # noqa: E731
        await until(lambda: plugged() is not None and plugged().quality is Quality.GOOD)
        assert plugged().value is False
        polls = [c for _, c in sim.received].count("report 2")
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        sim.broadcast({"Plug": 7})  # the station's own message: a vehicle was plugged in
        await until(lambda: plugged().value is True, within_s=1.0)
        assert loop.time() - sent_at < 1.0  # not at the next poll, 5 s later
        assert [c for _, c in sim.received].count("report 2") == polls  # no request for it
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await sim.stop()


# --- writes ----------------------------------------------------------------------------------


async def test_current_limit_failsafe_enable_and_the_cars_delay(context, bind_port) -> None:
    clock = StationClock()
    st = KebaStation(plugged=True, clock=clock, curr_user_ma=16000)
    sim = await station(st, bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        result = await driver.write("keba", "ChargeCurrentLimit", 10.0)
        assert result.written == 10.0
        # not read yet, so its enable state is unknown: ena 1 before the current
        assert st.commands == ["failsafe 60 6000 0", "ena 1", "currtime 10000 1"]
        got = _values(await driver.read_once())
        assert got["ChargeCurrentLimit"][0] == 16.0  # the station waits its delay
        assert got["ActivePower"][0] == pytest.approx(230 * 16 * 3)
        clock.t += 1.0
        got = _values(await driver.read_once())
        assert got["ChargeCurrentLimit"][0] == 10.0
        assert got["CurrentL1"][0] == 10.0
        assert got["ActivePower"][0] == pytest.approx(230 * 10 * 3)
        assert got["Charging"][0] is True
        # 0 A pauses with ena 0; the next current enables again first
        await driver.write("keba", "ChargeCurrentLimit", 0.0)
        assert st.commands[-1] == "ena 0"
        assert driver.link._ready_at - asyncio.get_running_loop().time() > 1.9  # type: ignore[attr-defined]
        driver.link._ready_at = 0.0  # type: ignore[attr-defined]  # skip the 2 s after ena 0
        got = _values(await driver.read_once())
        assert (got["ActivePower"][0], got["Charging"][0]) == (0.0, False)
        await driver.write("keba", "ChargeCurrentLimit", 8.0)
        assert st.commands[-2:] == ["ena 1", "currtime 8000 1"]
        # below the minimum: paused, not charging more; outside the range: nothing sent
        sent = len(st.commands)
        result = await driver.write("keba", "ChargeCurrentLimit", 4.0)
        assert (result.written, result.clamped) == (0.0, True)
        assert st.commands[sent:] == ["ena 0"]
        with pytest.raises(OutOfRangeError):
            await driver.write("keba", "ChargeCurrentLimit", 40.0)
        assert len(st.commands) == sent + 1
    finally:
        await sim.stop()


async def test_the_station_falls_back_when_the_ems_goes_quiet(bind_port) -> None:
    clock = StationClock()
    st = KebaStation(plugged=True, clock=clock)
    st.handle("failsafe 60 6000 0")
    st.handle("currtime 16000 0")
    assert st.max_curr_ma() == 16000
    clock.t += 59
    assert st.max_curr_ma() == 16000
    clock.t += 2  # 61 s without a command
    assert st.max_curr_ma() == 6000
    st.handle("currtime 12000 0")  # a command restarts the timer
    assert st.max_curr_ma() == 12000


async def test_the_runtime_refreshes_the_setpoint_before_the_failsafe(context, bind_port) -> None:
    st = KebaStation(plugged=True)
    sim = await station(st, bind_port)
    task = None
    try:
        driver = await keba_driver(
            sim.port, f"127.0.0.1:{bind_port}", context, chargepoint_changes={"refresh_s": 0.3}
        )
        task = asyncio.create_task(driver.run(Sink()))
        await driver.write("keba", "ChargeCurrentLimit", 12.0)
        await until(lambda: st.commands.count("currtime 12000 1") >= 3, within_s=3.0)
        assert st.commands.count("failsafe 60 6000 0") == 1  # once per connection, not in flash
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await sim.stop()


async def test_phase_switching_with_the_stations_pause(context, bind_port) -> None:
    st = KebaStation(plugged=True)
    sim = await station(st, bind_port)
    try:
        driver = await keba_driver(
            sim.port,
            f"127.0.0.1:{bind_port}",
            context,
            chargepoint_changes={"phase_switching": True},
        )
        [info] = driver.assets
        assert "PhaseSetting" in info.points
        got = _values(await driver.read_once())
        assert got["PhaseSetting"][0] == 3
        result = await driver.write("keba", "PhaseSetting", 1)
        assert (st.commands[-1], result.read_back) == ("x2 0", 1)
        got = _values(await driver.read_once())
        assert got["PhaseSetting"][0] == 1
        assert got["CurrentL2"][0] == 0.0
        assert got["ActivePower"][0] == pytest.approx(230 * 16)
        sent = len(st.commands)
        result = await driver.write("keba", "PhaseSetting", 3)  # within 300 s of the last switch
        assert st.commands[sent:] == []
        assert result.read_back == 1
    finally:
        await sim.stop()


# --- bad input ------------------------------------------------------------------------------


async def test_garbage_and_silence_give_a_located_error_and_the_right_quality(
    context, bind_port, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = await station(KebaStation(plugged=True), bind_port)
    sink = Sink()
    driver = await keba_driver(
        sim.port,
        f"127.0.0.1:{bind_port}",
        context,
        profile_changes={"answer_timeout_s": 0.2},
        poll_s=0.1,
    )
    task = asyncio.create_task(driver.run(sink))
    try:
        power = lambda: sink.latest("keba", "ActivePower")  # noqa: E731
        await until(lambda: power() is not None and power().quality is Quality.GOOD)
        sim.faults.set(Fault.GARBAGE)
        await until(lambda: power().quality is Quality.UNCERTAIN_LAST_USABLE)
        error = sink.latest("keba", "Health.LastError")
        assert error is not None
        assert "neither an acknowledgement nor JSON" in str(error.value)
        assert f"127.0.0.1:{sim.port}" in str(error.value)
        sim.faults.set(Fault.SILENT)
        await until(lambda: "no answer from" in str(sink.latest("keba", "Health.LastError").value))
        assert sink.latest("keba", "Health.Connected").value is False
        sim.faults.clear()
        await until(lambda: power().quality is Quality.GOOD, within_s=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await sim.stop()
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


async def test_a_report_with_a_wrong_field_type_is_a_device_error(context, bind_port) -> None:
    reports = capture(BEMCOM)
    reports[3] = reports[3].replace(b'"P": 0', b'"P": "zero"')
    sim = await station(KebaStation.from_capture(reports), bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        with pytest.raises(Exception, match=r"report 3 field 'P' is 'zero', not a number"):
            await driver.read_once()
    finally:
        await sim.stop()


async def test_a_station_without_meter_reads_bad_not_zero(context, bind_port) -> None:
    st = KebaStation(plugged=True, product="KC-P30-EC220112-000-DE")
    sim = await station(st, bind_port)
    try:
        driver = await keba_driver(sim.port, f"127.0.0.1:{bind_port}", context)
        got = _values(await driver.read_once())
    finally:
        await sim.stop()
    assert got["ActivePower"] == (None, Quality.BAD_OUT_OF_RANGE)
    assert got["EnergyTotal"] == (None, Quality.BAD_OUT_OF_RANGE)
    assert got["VehicleConnected"] == (True, Quality.GOOD)
    assert "report 3" not in st.commands


async def test_a_taken_local_port_is_a_clear_error(context, bind_port) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        driver = await keba_driver(7090, f"127.0.0.1:{port}", context)
        with pytest.raises(OSError, match=r"cannot listen on UDP 127.0.0.1:\d+: address already"):
            await driver.read_once()


def test_datagrams_parse_into_what_they_are() -> None:
    assert p.parse(b"TCH-OK :done\n") == p.Ack()
    assert p.parse(b"TCH-ERR :bad\n") == p.Refusal("TCH-ERR :bad")
    assert p.parse(b'{"State": 3}') == p.Broadcast({"State": 3})
    assert p.parse(b'{"ID": "2", "State": 3}').number == 2  # type: ignore[union-attr]
    for bad in (b"\x00\xff{", b"[1, 2]", b'{"ID": "x"}'):
        with pytest.raises(p.ProtocolError):
            p.parse(bad)
    with pytest.raises(ValueError):
        p.current_with_delay(5000, 1)
    assert p.current_with_delay(0, 1) == b"currtime 0 1"
    assert p.has_meter("KC-P30-EC240422-E00") and not p.has_meter("KC-P30-EC220112-000-DE")


def test_a_wrong_site_entry_is_a_located_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ampacity.server.config import ConfigError, load_config

    site = tmp_path / "site.yaml"
    site.write_text(
        "devices:\n"
        "  - id: keba\n"
        "    profile: keba_p30\n"
        "    host: 192.0.2.50\n"
        '    bind: "7090"\n'
        "  - id: keba2\n"
        "    profile: keba_p30\n"
        "    url: http://192.0.2.51\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(site)
    assert error.value.errors == [
        "site.yaml:5: devices[0].bind: bind '7090' is not host:port (e.g. 0.0.0.0:7090)",
        "site.yaml:6: devices[1].host: Field required",
        "site.yaml:8: devices[1].url: Extra inputs are not permitted",
    ]
