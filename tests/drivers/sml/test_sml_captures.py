"""Every real SML capture through the real driver, over a TCP socket (a network IR reader) and
over a pseudo-terminal (an optical head on a serial port), read the way `ampacity read` reads:
the values must be the sidecars' (scaled, signed, in Wh / W / V / A / Hz)."""

from __future__ import annotations

import asyncio

import pytest
from ampacity.assets import Quality
from ampacity.drivers.registry import ReadTarget
from ampacity.server.read import read_device
from ampacity.sim.sml import SmlStreamServer
from sml_kit import (
    CAPTURES,
    GOOD_CAPTURES,
    expected_flag,
    expected_points,
    frame_bytes,
    sml_profiles,
)

MANUFACTURER = {
    "EMH": "EMH metering",
    "ISK": "Iskra",
    "HLY": "Holley",
    "DZG": "DZG Metering",
    "EBZ": "eBZ",
    "ITR": "Itron",
    "DNT": "Dr. Neuhaus",
    "HAGER": "Hager",
}
NO_POWER = {"HOLLEY_DTZ541-BDBA_without_PIN", "eBZ_DD3_DD32R06DTA-SMZ1", "EMH_eHZ361L5R"}
"""Captures without any power entry (PIN not entered, or only a manufacturer-specific 1.7.1)."""


async def read_capture(name: str, transport: str, timeout_s: float = 3.0):  # type: ignore[no-untyped-def]
    data = frame_bytes(name)
    server = SmlStreamServer(lambda: data, period_s=0.05)
    if transport == "tcp":
        await server.start_tcp()
        target = ReadTarget(host=server.host, port=server.port)
    else:
        target = ReadTarget(serial=server.start_pty())
    try:
        return await read_device("sml", target, sml_profiles(), timeout_s=timeout_s)
    finally:
        await server.stop()


@pytest.mark.parametrize("transport", ["tcp", "pty"])
@pytest.mark.parametrize("name", GOOD_CAPTURES)
async def test_capture_values(name: str, transport: str) -> None:
    # without a power entry the read waits out its timeout (ActivePower never completes); the
    # capture is sent every 0.05 s, so 1.5 s still carries some 30 frames
    result = await read_capture(name, transport, timeout_s=1.5 if name in NO_POWER else 5.0)
    assert result.answered, result.error
    [meter] = result.assets
    got = {p: r for p, r in meter.readings.items() if not p.startswith("Identification.")}
    expected = expected_points(name)
    assert expected, "the sidecar gives values"
    for point, value in expected.items():
        assert point in got, f"{point} missing; got {sorted(got)}"
        assert got[point].quality is Quality.GOOD
        assert got[point].value == pytest.approx(value, rel=1e-12, abs=1e-9), point
    if name in NO_POWER:
        # no power entry: ActivePower is derived from the energy register (needs two changes)
        assert got["ActivePower"].quality is Quality.BAD_WAITING_FOR_INITIAL_DATA
    extra = set(got) - set(expected) - {"ActivePower"}
    assert not extra, f"points the capture does not carry: {extra}"
    flag = expected_flag(name)
    if flag:
        assert meter.readings["Identification.Manufacturer"].value == MANUFACTURER[flag]
    assert result.error == ""


async def test_sign_rule_feed_in_is_negative() -> None:
    """Iskra MT175 exporting 4.3 kW: 16.7.0 and the phases are negative (export)."""
    result = await read_capture("ISKRA_MT175_D1A52-V22-K0t", "tcp")
    points = result.assets[0].readings
    assert points["ActivePower"].value == -4308.0
    assert [points[f"ActivePowerL{i}"].value for i in (1, 2, 3)] == [-1392.0, -1432.0, -1482.0]
    assert points["EnergyExported"].value == 28275324.5


async def test_absolute_power_of_an_export_only_meter_is_negative() -> None:
    """Dr. Neuhaus SMARTY on a PV plant: only 2.8.x registers, 15.7.0 (no direction)."""
    result = await read_capture("DrNeuhaus_SMARTY_ix-130", "tcp")
    points = result.assets[0].readings
    assert points["EnergyExported"].value == 4373.0
    assert "EnergyImported" not in points
    assert points["ActivePower"].value == 0.0


async def test_an_entry_smllib_rejects_loses_only_that_entry() -> None:
    """EMH eHZ-IW8E2A5L0EK2P: 1-0:96.50.2*6 has an empty value (smllib rejects it); the rest of
    the frame is read."""
    result = await read_capture("EMH_eHZ-IW8E2A5L0EK2P_with_error", "pty")
    points = result.assets[0].readings
    assert points["EnergyImported"].value == 2795692.7
    assert points["ActivePower"].value == 136.7
    assert points["Identification.SerialNumber"].value == "06454d480107197c2456"


def test_captures_are_all_here() -> None:
    assert len(GOOD_CAPTURES) == 20
    assert (CAPTURES / "openmuc_test_Hager_eHZ.frame.hex").exists()


@pytest.mark.parametrize("name", ["ISKRA_MT175_D1A52-V22-K0t", "HOLLEY_DTZ541-ZDBA"])
async def test_ampacity_read_command_over_tcp(name: str) -> None:
    """`ampacity read sml --host H --port P --json` prints the capture's values."""
    import json
    import sys

    data = frame_bytes(name)
    server = SmlStreamServer(lambda: data, period_s=0.05)
    await server.start_tcp()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ampacity.server.cli",
            "read",
            "sml",
            "--host",
            server.host,
            "--port",
            str(server.port),
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await server.stop()
    assert process.returncode == 0, err.decode()
    points = json.loads(out)["assets"][0]["points"]
    for point, value in expected_points(name).items():
        assert points[point]["value"] == pytest.approx(value), point
        assert points[point]["status"] == "Good"
    assert points["ActivePower"]["unit"] == "W"
    assert points["EnergyImported"]["unit"] == "Wh"
