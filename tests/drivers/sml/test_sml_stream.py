"""The stream as an optical head delivers it (raw dumps, split reads, garbage, CRC errors), the
manufacturers' quirks, and bad input seen through the driver's Health."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from ampacity.assets import Quality
from ampacity.drivers.registry import ReadTarget
from ampacity.drivers.sml.decode import decode_entries
from ampacity.drivers.sml.frames import FrameReader, build_frame, crc_kermit
from ampacity.drivers.sml.meter import SmlMeter
from ampacity.server.read import read_device
from ampacity.sim.sml import SmlReplay, SmlStreamServer
from sml_kit import CAPTURES, frame_bytes, sml_profiles

RAW = {
    "EMH_eHZ-GW8E2A500AK2": 16,
    "EMH_eHZ-IW8E2A5L0EK2P_with_error": 11,
    "HOLLEY_DTZ541-ZDBA": 7,
    "ISKRA_MT175_eHZ": 10,
}
"""Complete frames in each 4096-byte raw dump (the dump ends inside the next one)."""


@pytest.mark.parametrize("name", sorted(RAW))
@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_raw_dumps_in_any_chunking(name: str, chunk: int) -> None:
    data = (CAPTURES / f"{name}.bin").read_bytes()
    reader = FrameReader()
    frames = []
    for i in range(0, len(data), chunk):
        frames += reader.feed(data[i : i + chunk])
    assert len(frames) == RAW[name]
    assert reader.stats.crc_errors == 0
    first = frame_bytes(name)
    if first in data:
        assert frames[0].message == first


def test_start_mid_frame_and_garbage_between_frames() -> None:
    a, b = frame_bytes("ISKRA_MT175_eHZ"), frame_bytes("HOLLEY_DTZ541-BDBA_with_PIN")
    stream = a[100:] + b"\x00\xff\x1b\x1b\x1bnoise" + b + bytes(range(256)) + a
    reader = FrameReader()
    frames = reader.feed(stream)
    assert [f.message for f in frames] == [b, a]
    assert reader.stats.garbage_bytes > 0


def test_crc_broken_frame_is_counted_and_dropped() -> None:
    good = frame_bytes("ITRON_OpenWay-3.HZ_with_PIN")
    broken = bytearray(good)
    broken[120] ^= 0x01
    reader = FrameReader()
    frames = reader.feed(good + bytes(broken) + good)
    assert len(frames) == 2
    assert reader.stats.crc_errors == 1
    assert "CRC error" in reader.last_problem


def test_a_frame_cut_off_by_the_next_start_loses_only_itself() -> None:
    a, b = frame_bytes("ISKRA_MT175_eHZ"), frame_bytes("EMH_mME40-AE6AKF0K0")
    frames = FrameReader().feed(a[:200] + b)
    assert [f.message for f in frames] == [b]


def test_escaped_payload_round_trip() -> None:
    payload = b"\x76" + b"\x1b" * 4 + bytes(range(11))
    [frame] = FrameReader().feed(build_frame(payload))
    assert frame.payload == payload


def test_openmuc_hager_frame_corrupted_in_its_source_is_rejected() -> None:
    reader = FrameReader()
    assert reader.feed(frame_bytes("openmuc_test_Hager_eHZ")) == []
    assert reader.stats.crc_errors == 1


def test_holley_kermit_crc_accepted_only_from_holley() -> None:
    """smllib issue 8: a Holley DTZ541 whose CRC verifies only as CRC-16/KERMIT."""
    holley = frame_bytes("smllib_test_Frame_Issue_8_FIXED_Holley")
    [frame] = FrameReader().feed(holley)
    assert frame.kermit
    values = SmlMeter().values(decode_entries(frame.payload), 0.0)
    assert values["Identification.Manufacturer"] == "Holley"
    assert values["EnergyImported"] == 10793898.7
    # an EMH frame with a KERMIT CRC is reported as such (the link rejects it: not Holley)
    emh = frame_bytes("EMH_eHZ-HW8E2A5L0EK2P")
    forged = emh[:-2] + crc_kermit(emh[:-2]).to_bytes(2, "big")
    [other] = FrameReader().feed(forged)
    assert other.kermit


# --- quirks -------------------------------------------------------------------------------------


def dzg_7412() -> bytes:
    return bytes.fromhex((CAPTURES / "DZG_DVS-7412.2_jmberg.frame.hex").read_text().strip())


def test_dzg_7412_quirk_forced_on() -> None:
    source = json.loads((CAPTURES / "DZG_quirk.provenance.json").read_text())
    stated = source["DZG_DVS-7412.2_jmberg.frame.hex"]["expected"]
    [frame] = FrameReader().feed(dzg_7412())
    decoded = decode_entries(frame.payload)
    assert (
        SmlMeter(dzg_unsigned_power="off").values(decoded, 0)["ActivePower"]
        == stated["as_sent_signed"]
    )
    assert (
        SmlMeter(dzg_unsigned_power="on").values(decoded, 0)["ActivePower"]
        == stated["1-0:16.7.0*255"]
    )


def test_dzg_7412_quirk_detected_from_the_import_register() -> None:
    """auto: not published until a register moves; the import register moved, so the short
    negative is the firmware's encoding error: 356.24 W. (The second frame is the capture with
    1.8.0 raised by one step, 0.1 Wh, CRCs redone: a constructed frame.)"""
    replay = SmlReplay(dzg_7412())
    first = replay.frame()
    replay.set("1-0:1.8.0*255", 5431917.8)  # 54319177 + 1 (x 0.1 Wh)
    second = replay.frame()
    meter = SmlMeter()
    [f1, f2] = FrameReader().feed(first + second)
    assert "ActivePower" not in meter.values(decode_entries(f1.payload), 0)
    assert meter.values(decode_entries(f2.payload), 1)["ActivePower"] == 356.24
    assert meter.dzg_corrections == 1


def test_dzg_7420_real_feed_in_stays_negative() -> None:
    """DVS-7420 generator meter: its export register moves, so -105.50 W is real."""
    data = bytes.fromhex((CAPTURES / "DZG_DVS-7420.2V.G2_mtr2_neg.stream.hex").read_text().strip())
    frames = FrameReader().feed(data)
    assert len(frames) == 3
    meter = SmlMeter()
    out = [
        meter.values(decode_entries(f.payload), i).get("ActivePower") for i, f in enumerate(frames)
    ]
    assert out == [None, -106.78, -104.38]
    assert meter.dzg_corrections == 0


def test_pinless_meter_power_derived_from_the_energy_register() -> None:
    """Holley DTZ541 without PIN: whole kWh, no power. Replayed with 1.8.0 rising 1 kWh every
    2 h of (fake) time, the power is 500 W, marked UncertainSubstituteValue, and falls off
    when the register stops."""
    replay = SmlReplay(frame_bytes("HOLLEY_DTZ541-BDBA_without_PIN"))
    meter = SmlMeter()
    shown = []
    for step, (t_s, kwh) in enumerate(
        [(0, 2324), (600, 2325), (7800, 2326), (8400, 2326), (15000, 2327), (30000, 2327)]
    ):
        replay.set("1-0:1.8.0*255", kwh * 1000.0)
        [frame] = FrameReader().feed(replay.frame())
        value = meter.values(decode_entries(frame.payload), float(t_s))["ActivePower"]
        shown.append((step, value.value, value.quality))  # type: ignore[union-attr]
    assert shown[0][2] is Quality.BAD_WAITING_FOR_INITIAL_DATA
    assert shown[1][2] is Quality.BAD_WAITING_FOR_INITIAL_DATA  # first change: reference only
    assert shown[2][1:] == (500.0, Quality.UNCERTAIN_SUBSTITUTE)
    assert shown[3][1] == 500.0  # 600 s later: 1 kWh / 600 s would allow 6 kW; 500 W stands
    assert shown[4][1] == pytest.approx(1000 * 3600 / 7200, rel=0.01)
    assert shown[5][1] == pytest.approx(1000 * 3600 / 15000, rel=0.01)  # capped: falls off


def test_replay_rewrites_values_with_valid_crcs() -> None:
    replay = SmlReplay(frame_bytes("ISKRA_MT175_D1A52-V22-K0t"))
    assert replay.frame() == frame_bytes("ISKRA_MT175_D1A52-V22-K0t")
    replay.set("1-0:16.7.0*255", 1234.0)
    [frame] = FrameReader().feed(replay.frame())
    assert SmlMeter().values(decode_entries(frame.payload), 0)["ActivePower"] == 1234.0


# --- bad input through the driver ---------------------------------------------------------------


async def read_stream(make, timeout_s: float = 1.5):  # type: ignore[no-untyped-def]
    server = SmlStreamServer(make, period_s=0.05)
    await server.start_tcp()
    quick = {"frame_timeout_s": 0.5, "discover_s": 0}
    profile = sml_profiles()["sml"].model_copy(update=quick)
    try:
        return await read_device(
            "sml",
            ReadTarget(host=server.host, port=server.port),
            {"sml": profile},
            timeout_s=timeout_s,
        )
    finally:
        await server.stop()


async def test_noise_says_no_frame_and_wrong_baud_rate() -> None:
    frame = frame_bytes("ISKRA_MT175_eHZ")
    # what 9600-baud SML looks like read at another rate: bytes, but never a start sequence
    garbled = bytes((b * 7 + 13) & 0xFF for b in frame).replace(b"\x1b", b"\x1c")
    result = await read_stream(lambda: garbled)
    assert not result.answered
    assert "no SML frame" in result.error and "baud rate" in result.error


async def test_silence_says_no_data() -> None:
    result = await read_stream(lambda: b"")
    assert not result.answered
    assert result.error.startswith("no data from 127.0.0.1:")
    [meter] = result.assets
    assert meter.readings["ActivePower"].quality is Quality.BAD_COMMUNICATION_ERROR


async def test_crc_errors_are_counted_in_health_never_published() -> None:
    from ampacity.server.config import SiteConfig
    from ampacity.server.factory import build_context, build_drivers

    good = frame_bytes("ITRON_OpenWay-3.HZ_with_PIN")
    broken = bytearray(good)
    broken[150] ^= 0x40
    sent = iter([good, bytes(broken), bytes(broken), good] * 100)
    server = SmlStreamServer(lambda: next(sent), period_s=0.02)
    await server.start_tcp()
    profiles = sml_profiles()
    config = SiteConfig.model_validate(
        {"devices": [{"id": "m", "profile": "sml", "host": server.host, "port": server.port}]},
        context={"profiles": profiles},
    )
    [driver] = await build_drivers(config, build_context(config))
    published: list = []
    errors = asyncio.Event()

    class Sink:
        def publish(self, readings) -> None:  # type: ignore[no-untyped-def]
            published.extend(readings)
            if any(r.point == "Health.ErrorCount" and r.value >= 2 for r in readings):
                errors.set()

    task = asyncio.create_task(driver.run(Sink()))
    try:
        await asyncio.wait_for(errors.wait(), 5.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
    powers = [r.value for r in published if r.point == "ActivePower"]
    assert powers and set(powers) == {542.0}
    last_error = [r.value for r in published if r.point == "Health.LastError"][-1]
    assert "CRC error" in last_error
    connected = [r.value for r in published if r.point == "Health.Connected"]
    assert connected[-1] is True  # bad frames do not disconnect the meter


async def test_missing_serial_device_is_named() -> None:
    result = await read_device(
        "sml", ReadTarget(serial="/dev/ttyUSB-not-there"), sml_profiles(), timeout_s=1.0
    )
    assert not result.answered
    assert "no such serial device /dev/ttyUSB-not-there" in result.error


def test_absolute_power_sign_from_the_registers_the_meter_has() -> None:
    """15.7.0 has no direction: an export-only meter (Dr. Neuhaus SMARTY on a PV plant) shows
    it negative, an import-only one (EMH ED300L) positive. (The SMARTY capture sends 0 W; here it
    is replayed with 250 W.)"""
    smarty = SmlReplay(frame_bytes("DrNeuhaus_SMARTY_ix-130"))
    smarty.set("1-0:15.7.0*255", 250.0)
    [frame] = FrameReader().feed(smarty.frame())
    assert SmlMeter().values(decode_entries(frame.payload), 0)["ActivePower"] == -250.0
    [frame] = FrameReader().feed(frame_bytes("EMH-ED300L_consumption"))
    assert SmlMeter().values(decode_entries(frame.payload), 0)["ActivePower"] == 137.1
