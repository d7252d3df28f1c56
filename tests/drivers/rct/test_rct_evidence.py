"""Evidence for the RCT profiles: a plain responder that knows only object ids and raw bytes
(from ``fixtures/rct_objects.json``: evcc's and mlnoga's object tables, the real battery.soc
answer) is read through the shipped profile; the model values must be what those sources say
(SoC 0..1 → %, battery + = discharge, grid + = import, PV = A + B). The setpoint's frames are
checked against evcc's procedure: battery_power_extern float32 W (+ = discharge) and
soc_strategy 2, grid charging enabled for a charge setpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from ampacity.assets import Quality, WriteError
from ampacity.drivers.rct.protocol import Command, Frame, FrameReader, encode
from rct_rig import rct_driver

FACTS = json.loads((Path(__file__).parent / "fixtures" / "rct_objects.json").read_text())[
    "register_table"
]["facts"]


def oid(text: str) -> int:
    return int(text, 16)


def packed(fact: dict) -> bytes:  # type: ignore[type-arg]
    if "wire_hex" in fact:
        return bytes.fromhex(fact["wire_hex"])
    if fact["type"] == "int32":
        return struct.pack(">i", fact["test_value"])
    return struct.pack(">f", fact["test_value"])


class PlainRct:
    """Answers READ with the stored bytes of an object id; stores WRITE data. Nothing else."""

    def __init__(self, store: dict[int, bytes]) -> None:
        self.store = store
        self.writes: list[tuple[int, bytes]] = []
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(4096):
                for f in frames.feed(chunk):
                    assert isinstance(f, Frame), f
                    if f.command == Command.WRITE:
                        self.writes.append((f.oid, f.data))
                        self.store[f.oid] = f.data
                    elif f.command == Command.READ and f.oid in self.store:
                        writer.write(encode(Command.RESPONSE, f.oid, self.store[f.oid]))
                await writer.drain()
        writer.close()


@pytest_asyncio.fixture
async def plain() -> AsyncIterator[PlainRct]:
    store = {oid(f["oid"]): packed(f) for f in FACTS if "test_value" in f or "wire_hex" in f}
    for f in FACTS:
        if "with" in f:
            store[oid(f["with"]["oid"])] = struct.pack(">f", f["with"]["test_value"])
    store[0xEBC62737] = b"PS 6.0 BA3L".ljust(64, b"\x00")  # the captured name
    store[0xF168B748] = b"\x04"  # internal
    store[0x36A9E9A6] = b"\x00"
    store[0xBD008E29] = struct.pack(">f", 0.0)
    device = PlainRct(store)
    device.server = await asyncio.start_server(device.serve, "127.0.0.1", 0)
    try:
        yield device
    finally:
        device.server.close()


async def driver_for(device: PlainRct, profile: str = "rct_power_storage_dc"):  # type: ignore[no-untyped-def]
    assert device.server is not None
    return await rct_driver(device.server.sockets[0].getsockname()[1], profile)


async def test_values_are_the_sources_values_in_model_units(plain: PlainRct) -> None:
    driver = await driver_for(plain)
    try:
        readings = {(r.asset_id, r.point): r for r in await driver.read_once()}
    finally:
        await driver.link.close()
    setpoint = readings.pop(("rct-battery", "BatteryPowerSetpoint"))
    assert setpoint.quality is Quality.BAD_OUT_OF_RANGE  # strategy 4: no external setpoint
    assert all(r.quality is Quality.GOOD for r in readings.values())
    for fact in FACTS:
        if "point" not in fact:
            continue
        asset, point = fact["point"]
        got = readings[(f"rct-{asset}", point)].value
        assert got == pytest.approx(fact["model_value"], abs=0.001), fact["name"]
    assert readings[("rct-battery", "Identification.Model")].value == "PS 6.0 BA3L"


async def test_the_ac_profile_reads_battery_and_grid(plain: PlainRct) -> None:
    driver = await driver_for(plain, "rct_power_storage_ac")
    try:
        readings = {(r.asset_id, r.point): r.value for r in await driver.read_once()}
    finally:
        await driver.link.close()
    assert readings[("rct-battery", "ActivePower")] == -1520.0  # charging
    assert readings[("rct-grid", "ActivePower")] == -2310.5  # feeding in
    assert not any(a == "rct-pv" for a, _ in readings)


async def test_setpoint_frames_follow_evccs_procedure(plain: PlainRct) -> None:
    driver = await driver_for(plain)
    try:
        result = await driver.write("rct-battery", "BatteryPowerSetpoint", 2500.0)
        assert result.read_back == 2500.0
        assert plain.writes == [
            (0xBD008E29, struct.pack(">f", 2500.0)),  # + = discharge
            (0xF168B748, b"\x02"),  # external
        ]
        plain.writes.clear()
        await driver.write("rct-battery", "BatteryPowerSetpoint", -3000.0)
        assert plain.writes == [
            (0x36A9E9A6, b"\x01"),  # grid charging on for a charge setpoint
            (0xBD008E29, struct.pack(">f", -3000.0)),
        ]  # strategy already external: not written again
        plain.writes.clear()
        plain.store[0x70A2AF4F] = struct.pack(">i", 1032)  # battery not ready
        with pytest.raises(WriteError, match=r"bat_status = 1032.*refused"):
            await driver.write("rct-battery", "BatteryPowerSetpoint", 1000.0)
        assert plain.writes == []
        plain.store[0x70A2AF4F] = struct.pack(">i", 0)
    finally:
        await driver.link.close()
    # closing gives the battery back: 0 W, the strategy and grid flag found before
    assert plain.writes == [
        (0xBD008E29, struct.pack(">f", 0.0)),
        (0xF168B748, b"\x04"),
        (0x36A9E9A6, b"\x00"),
    ]


def test_a_profile_naming_an_unknown_object_is_a_located_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ampacity.drivers.profile import ProfileError
    from ampacity.drivers.rct.driver import PROFILES
    from ampacity.drivers.registry import load_profile_file

    text = (Path(PROFILES) / "rct_power_storage_ac.yaml").read_text()
    broken = tmp_path / "rct_power_storage_ac.yaml"
    broken.write_text(text.replace("[battery.soc]", "[battery.socc]"))
    with pytest.raises(ProfileError) as error:
        load_profile_file(broken)
    message = str(error.value)
    assert message.startswith("rct_power_storage_ac.yaml:")
    assert "unknown RCT object 'battery.socc'" in message
