"""Fronius GEN24 / Verto (``fronius_gen24``) against a real register capture.

A Fronius Verto 17.5 Plus's register reads (Julian0021/fronius_modbus's live capture: int+SF
models 1, 103, 120-124, 160 on unit 1; a Smart Meter TS 65A-3, model 203, on unit 200) are served
as read from a plain Modbus server; the SunSpec driver, built from the shipped profile, discovers
both units and the decoded values are checked, including the meter's sign (+ = import: the site
feeds in) and the limit in force (model 123). The limit write goes to WMaxLimPct with its revert
timer. See fixtures/fronius_gen24.json.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ampacity.drivers.modbus import Backoff, TcpLink
from ampacity.drivers.profile import all_profiles
from ampacity.drivers.sunspec.driver import SunSpecDriver
from evidence_kit import FIXTURES, load, verify
from plain_modbus import PlainModbusServer, PlainUnit, running

PROFILE = "fronius_gen24"
FIXTURE = load(PROFILE)
READOUT = FIXTURE["readouts"][0]


def captured_units() -> dict[int, PlainUnit]:
    capture = json.loads((FIXTURES / READOUT["file"]).read_text(encoding="utf-8"))
    units: dict[int, PlainUnit] = {}
    for key, values in capture["register_reads"].items():
        unit, address, _count = (int(part) for part in key.split(":"))
        units.setdefault(unit, PlainUnit(fill=None)).put(address, values)
    # the capture's model 160 read began at L, so the body's last register is missing
    units[1].put(40362, [0])
    # unit 200: the capture holds the two model bodies only; add what their places imply
    meter = units[200]
    meter.put(40000, [0x5375, 0x6E53, 1, 65])
    meter.put(40069, [203, 105])
    meter.put(40174, [0, 0, 0xFFFF, 0])  # the body's last two registers, the end marker
    return units


def driver_for(server: PlainModbusServer) -> SunSpecDriver:
    link = TcpLink(
        "127.0.0.1", server.port, timeout_s=0.3, backoff=Backoff(initial_s=0.05, cap_s=0.2)
    )
    return SunSpecDriver(
        "fr", link, profile=all_profiles()[PROFILE], poll_s=0.2, request_timeout_s=0.3
    )


@pytest.mark.parametrize("asset", ["inverter", "meter"])
async def test_verto_capture(asset: str) -> None:
    server = PlainModbusServer(captured_units())
    async with server, running(driver_for(server)) as sink:
        expected: dict[str, Any] = {f"fr-{asset}.{p}": e for p, e in READOUT[asset].items()}
        await verify(sink, expected, READOUT["source"])


async def test_the_limit_goes_to_model_123_with_its_revert_timer() -> None:
    case = FIXTURE["limit_write"]
    server = PlainModbusServer(captured_units())
    async with server:
        driver = driver_for(server)
        await driver.discover(timeout_s=5)
        result = await driver.write("fr-inverter", "ActivePowerLimit", case["write_w"])
        assert result.written == pytest.approx(case["write_w"])
        assert result.read_back == pytest.approx(case["write_w"])
    # model 123 body starts at 40229: WMaxLimPct +3, WMaxLimPct_RvrtTms +5, WMaxLim_Ena +7
    words = {w.address + i: v for w in server.writes for i, v in enumerate(w.values)}
    assert words[40229 + 3] == case["expect"]["WMaxLimPct"]
    assert words[40229 + 5] == case["expect"]["WMaxLimPct_RvrtTms"]
    assert words[40229 + 7] == case["expect"]["WMaxLim_Ena"]
