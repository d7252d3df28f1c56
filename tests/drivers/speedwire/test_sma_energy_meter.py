"""SMA Energy Meter / Home Manager: real Speedwire datagrams (captures/, provenance in each
``*.expected.json``) decoded and read through the real driver on loopback unicast, with the
values the sources state (openHAB's EnergyMeterTest, smasolar's decoder test), inverter
traffic, other meters and a truncated datagram on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ampacity.assets import Quality
from ampacity.drivers.registry import ReadTarget, load_profile_file
from ampacity.drivers.speedwire.driver import PROFILES
from ampacity.drivers.speedwire.packet import parse, points
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.read import read_device

CAPTURES = Path(__file__).parent / "captures"
OPENHAB = "openhab_SHM1.0_fw1.2.4R_sample"
EM10 = "smasolar_EM1.0_fw2.0.16R"
NYMEA = "nymea_SHM1.0_fw1.2.8R"
TRUNCATED = "openhab_SHM1.0_truncated"


def datagram(name: str) -> bytes:
    return bytes.fromhex((CAPTURES / f"{name}.hex").read_text().strip())


def sidecar(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURES / f"{name}.expected.json").read_text())
    return data


def profiles():  # type: ignore[no-untyped-def]
    return {"sma_energy_meter": load_profile_file(PROFILES / "sma_energy_meter.yaml")}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


INVERTER = bytes.fromhex("534d4100000402a00000000100260010606509a0") + bytes(40)
"""A Speedwire datagram of the inverter protocol (0x6065), laid out like the 58-byte ones a
Tripower X sends to the same port (kellerza/hassio-sma-em#27): to be ignored."""


class Sender:
    """Sends datagrams to a loopback port every ``period_s`` until stopped."""

    def __init__(self, port: int, packets: list[bytes], period_s: float = 0.05) -> None:
        self.port = port
        self.packets = packets
        self.period_s = period_s
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while True:
                for packet in self.packets:
                    sock.sendto(packet, ("127.0.0.1", self.port))
                await asyncio.sleep(self.period_s)

    async def __aenter__(self) -> Sender:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def multicast_on_loopback() -> bool:
    """Whether a datagram to the group, sent on lo, comes back to a member on lo."""
    group = "239.12.255.254"
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        try:
            rx.bind(("0.0.0.0", 0))
            member = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, member)
            rx.settimeout(0.5)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            tx.sendto(b"probe", (group, rx.getsockname()[1]))
            return rx.recv(16) == b"probe"
        except OSError:
            return False


# --- the decoder against the sources' stated values ---------------------------------------------


def test_openhab_sample_as_openhab_states_it() -> None:
    packet = parse(datagram(OPENHAB))
    assert packet.serial == 1901567275 and packet.software == "1.2.4.R"
    got = points(packet)
    assert got["ActivePower"] == pytest.approx(0 - 68.3)  # P+ 0 W, P- 68.3 W: export
    assert got["EnergyImported"] == pytest.approx(7162.3505e3, abs=0.1)
    assert got["EnergyExported"] == pytest.approx(1710.3903e3, abs=0.1)
    assert got["ActivePowerL1"] == pytest.approx(333.0)
    assert got["ActivePowerL2"] == pytest.approx(-196.5)
    assert got["ActivePowerL3"] == pytest.approx(-204.8)
    assert got["EnergyImportedL1"] == pytest.approx(5499.6965e3, abs=0.1)
    assert got["EnergyExportedL3"] == pytest.approx(1420.4354e3, abs=0.1)
    assert got["ReactivePower"] == pytest.approx(-950.7)
    assert got["ApparentPower"] == pytest.approx(953.2)
    assert got["PowerFactor"] == -0.072
    assert [got[f"PowerFactor{p}"] for p in ("L1", "L2", "L3")] == [0.616, -0.757, -0.5]
    assert [got[f"Current{p}"] for p in ("L1", "L2", "L3")] == [2.972, 1.319, 1.91]
    assert [got[f"Voltage{p}"] for p in ("L1", "L2", "L3")] == [238.801, 240.305, 239.776]
    assert got["Frequency"] == 50.033


def test_energy_meter_1_0_with_its_64_bit_counters() -> None:
    """smasolar's own assertions truncate 64-bit counters; the sidecar's decode has the right
    values (0:1.8.0 = 15385645440 Ws)."""
    packet = parse(datagram(EM10))
    assert packet.model == "Energy Meter 1.0" and packet.software == "2.0.16.R"
    got = points(packet)
    stated = sidecar(EM10)["source_stated_expected"]
    assert stated["current sum P+"] == "634.7 W"
    assert got["ActivePower"] == pytest.approx(634.7)
    assert got["ActivePowerL1"] == pytest.approx(634.7)
    assert got["CurrentL1"] == 2.999 and got["VoltageL1"] == 225.757
    assert got["EnergyImported"] == pytest.approx(15385645440 / 3600)
    assert got["EnergyExported"] == pytest.approx(15.9273e3, abs=0.1)
    assert got["ReactivePower"] == pytest.approx(71.1)


def test_every_record_of_every_capture_matches_the_sidecar_decode() -> None:
    for name in (OPENHAB, EM10, NYMEA, TRUNCATED):
        packet = parse(datagram(name))
        for code, record in sidecar(name)["decoded_here"]["obis"].items():
            index, kind = (int(x) for x in code.split(":")[1].split(".")[:2])
            table = packet.actual if kind == 4 else packet.counters
            assert table[index] == record.get("signed_raw", record["raw"]), (name, code)


def test_truncated_datagram_keeps_the_complete_records_and_says_so() -> None:
    packet = parse(datagram(TRUNCATED))
    assert packet.truncated and packet.serial == 1900203871
    assert points(packet)["ActivePower"] == pytest.approx(2172.8)
    assert "ActivePowerL2" not in points(packet)


def test_other_protocols_and_garbage_are_refused() -> None:
    from ampacity.drivers.speedwire.packet import PacketError

    with pytest.raises(PacketError, match="0x6065"):
        parse(INVERTER)
    with pytest.raises(PacketError, match="signature"):
        parse(b"\x00" * 60)
    with pytest.raises(PacketError, match="shorter"):
        parse(datagram(OPENHAB)[:20])


# --- through the driver -------------------------------------------------------------------------


async def test_read_one_meter_among_inverter_traffic_and_other_meters() -> None:
    port = free_udp_port()
    noise = [INVERTER, datagram(EM10), datagram(TRUNCATED), b"garbage"]
    async with Sender(port, [*noise, datagram(OPENHAB)]):
        result = await read_device(
            "sma_energy_meter",
            ReadTarget(bind=f"127.0.0.1:{port}", serial_number="1901567275"),
            profiles(),
            timeout_s=5.0,
        )
    assert result.answered, result.error
    got = result.assets[0].readings
    assert got["ActivePower"].value == pytest.approx(-68.3)
    assert got["ActivePower"].quality is Quality.GOOD
    assert got["Identification.SerialNumber"].value == "1901567275"
    assert got["Identification.Model"].value == "Sunny Home Manager 1.0"
    assert got["Frequency"].value == 50.033


async def test_two_meters_on_one_port_and_a_truncated_datagram_counted() -> None:
    port = free_udp_port()
    profile = profiles()["sma_energy_meter"].model_copy(update={"packet_timeout_s": 0.5})
    config = SiteConfig.model_validate(
        {
            "devices": [
                {
                    "id": "grid",
                    "profile": "sma_energy_meter",
                    "bind": f"127.0.0.1:{port}",
                    "serial_number": 1901567275,
                },
                {
                    "id": "pv",
                    "profile": "sma_energy_meter",
                    "bind": f"127.0.0.1:{port}",
                    "serial_number": 1900203871,
                },
            ]
        },
        context={"profiles": {"sma_energy_meter": profile}},
    )
    published: list[Any] = []
    done = asyncio.Event()

    class Sink:
        def publish(self, readings: list[Any]) -> None:
            published.extend(readings)
            if any(
                r.asset_id == "pv" and r.point == "Health.ErrorCount" and r.value for r in readings
            ):
                done.set()

    async with Sender(port, [datagram(OPENHAB), datagram(TRUNCATED)]):
        drivers = await build_drivers(config, build_context(config))
        tasks = [asyncio.create_task(d.run(Sink())) for d in drivers]
        try:
            await asyncio.wait_for(done.wait(), 5.0)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    grid = [r.value for r in published if r.asset_id == "grid" and r.point == "ActivePower"]
    assert grid and grid[-1] == pytest.approx(-68.3)
    pv_errors = [r.value for r in published if r.asset_id == "pv" and r.point == "Health.LastError"]
    assert any("truncated" in e for e in pv_errors), pv_errors
    pv_power = [r for r in published if r.asset_id == "pv" and r.point == "ActivePower"]
    assert all(r.value is None for r in pv_power)  # never published from a truncated datagram


async def test_a_meter_that_is_not_there_is_named() -> None:
    port = free_udp_port()
    profile = profiles()["sma_energy_meter"].model_copy(update={"packet_timeout_s": 0.5})
    async with Sender(port, [datagram(EM10)]):
        result = await read_device(
            "sma_energy_meter",
            ReadTarget(bind=f"127.0.0.1:{port}", serial_number="42"),
            {"sma_energy_meter": profile},
            timeout_s=2.0,
        )
    assert not result.answered
    assert "serial number 42" in result.error and "1901403938" in result.error


def test_ampacity_read_command_prints_one_datagram() -> None:
    """`ampacity read sma_energy_meter --bind 127.0.0.1:PORT --serial-number S --json`."""
    port = free_udp_port()
    command = [
        sys.executable,
        "-m",
        "ampacity.server.cli",
        "read",
        "sma_energy_meter",
        "--bind",
        f"127.0.0.1:{port}",
        "--serial-number",
        "1901403938",
        "--json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(400):
                sock.sendto(datagram(EM10), ("127.0.0.1", port))
                try:
                    process.wait(0.05)
                    break
                except subprocess.TimeoutExpired:
                    continue
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    body = json.loads(out)
    meter = body["assets"][0]["points"]
    assert meter["ActivePower"] == {"value": 634.7, "unit": "W", "status": "Good"}
    assert meter["VoltageL1"]["value"] == 225.757


def test_home_manager_2_0_sends_the_same_records() -> None:
    """A Sunny Home Manager 2.0 datagram from a user's log (uni-meter #36; only its first 427
    bytes are public): protocol 0x6069, SUSy id 372, the EM 1.0 record layout. Cut off, so the
    driver would ignore it; the records before the cut decode consistently (P / S = cos phi)."""
    data = bytes.fromhex((CAPTURES / "unimeter36_SHM2.0_head.hex").read_text().strip())
    packet = parse(data)
    assert (packet.susy_id, packet.serial, packet.model) == (
        372,
        3011842589,
        "Sunny Home Manager 2.0",
    )
    assert packet.truncated
    got = points(packet)
    assert got["ActivePower"] == pytest.approx(596.4)
    assert got["ApparentPower"] == pytest.approx(763.4)
    assert got["PowerFactor"] == pytest.approx(got["ActivePower"] / got["ApparentPower"], abs=5e-4)
    assert got["Frequency"] == 49.994 and got["VoltageL1"] == 233.052


async def test_multicast_on_the_group() -> None:
    """The meter's own way: datagrams to 239.12.255.254; the driver joins the group (here on
    the loopback interface) and reads them."""
    if not multicast_on_loopback():
        pytest.skip("this machine does not loop multicast back on 127.0.0.1")
    port = free_udp_port()
    config = SiteConfig.model_validate(
        {
            "devices": [
                {
                    "id": "em",
                    "profile": "sma_energy_meter",
                    "bind": f"0.0.0.0:{port}",
                    "interface": "127.0.0.1",
                    "serial_number": 1901403938,
                }
            ]
        },
        context={"profiles": profiles()},
    )
    seen = asyncio.Event()
    powers: list[Any] = []

    class Sink:
        def publish(self, readings: list[Any]) -> None:
            for r in readings:
                if r.point == "ActivePower" and r.value is not None:
                    powers.append(r.value)
                    seen.set()

    async def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            while True:
                sock.sendto(datagram(EM10), ("239.12.255.254", port))
                await asyncio.sleep(0.05)

    sender = asyncio.create_task(send())
    try:
        [driver] = await build_drivers(config, build_context(config))
        task = asyncio.create_task(driver.run(Sink()))
        try:
            await asyncio.wait_for(seen.wait(), 5.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert powers[-1] == pytest.approx(634.7)
