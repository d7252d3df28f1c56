"""Model value -> simulated registers -> plain pymodbus client -> codec per profile -> same."""

from __future__ import annotations

import asyncio
import math

import pytest
from ampacity.assets import PointValue
from ampacity.drivers.codec import WireType, decode, encode
from ampacity.drivers.profile import all_profiles
from simkit import read_point, readable_points, sample_model, serving

DEMO = (
    "siemens_sentron_pac2200",
    "sma_sunny_tripower",
    "sma_sunny_boy_storage",
    "alfen_eve_double",
    "heidelberg_energy_control",
    "janitza_umg604",
)


def _same(expected: PointValue, got: PointValue) -> bool:
    if isinstance(expected, bool | str) or expected is None:
        return expected == got
    assert isinstance(expected, int | float) and isinstance(got, int | float)
    return math.isclose(float(expected), float(got), rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("pid", DEMO)
async def test_every_point_round_trips_with_unit_and_sign(pid: str) -> None:
    profile = all_profiles()[pid]
    model = sample_model(profile)
    assert any(isinstance(v, float) and v < 0 for v in model.values.values()) or pid in (
        "heidelberg_energy_control",  # unsigned registers only
    )
    async with serving(profile, model) as (_device, client):
        for point in readable_points(profile):
            expected = model.values[(point.asset.key, point.name)]
            got = await read_point(client, profile, point)
            assert _same(expected, got), (
                f"{pid} {point.asset.key}.{point.name}: {expected} -> {got}"
            )


@pytest.mark.parametrize(
    ("connected", "charging", "alfen", "heidelberg"),
    [(False, False, "A", 2), (True, False, "B1", 4), (True, True, "C2", 7)],
)
async def test_a_shared_state_register_satisfies_both_booleans(
    connected: bool, charging: bool, alfen: str, heidelberg: int
) -> None:
    for pid, key, expected in (
        ("alfen_eve_double", "socket2", alfen),
        ("heidelberg_energy_control", "charger", heidelberg),
    ):
        profile = all_profiles()[pid]
        model = sample_model(profile)
        model.values[(key, "VehicleConnected")] = connected
        model.values[(key, "Charging")] = charging
        async with serving(profile, model) as (_device, client):
            for point in readable_points(profile):
                if point.asset.key == key and point.name in ("VehicleConnected", "Charging"):
                    got = await read_point(client, profile, point)
                    assert got == (connected if point.name == "VehicleConnected" else charging)
            state = next(
                p for p in readable_points(profile) if p.name == "Charging" and p.asset.key == key
            )
            assert state.pmap.address is not None
            reader = (
                client.read_holding_registers
                if isinstance(expected, str)
                else (client.read_input_registers)
            )
            words = (
                await reader(state.pmap.address, count=state.pmap.word_count, device_id=state.unit)
            ).registers
            if isinstance(expected, str):
                raw = b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode()
                assert raw == expected
            else:
                assert words == [expected]


async def test_a_missing_value_is_sent_as_the_sma_nan_pattern() -> None:
    profile = all_profiles()["sma_sunny_tripower"]
    model = sample_model(profile)
    model.values[("pv", "ActivePower")] = None
    model.values[("pv", "EnergyProduced")] = None
    async with serving(profile, model) as (_device, client):
        power = await client.read_holding_registers(30775, count=2, device_id=3)
        energy = await client.read_holding_registers(30513, count=4, device_id=3)
    assert power.registers == [0x8000, 0x0000]
    assert energy.registers == [0xFFFF] * 4


async def test_dc_power_is_split_over_both_trackers() -> None:
    profile = all_profiles()["sma_sunny_tripower"]
    model = sample_model(profile)
    model.values[("pv", "DcPower")] = 5000.0
    async with serving(profile, model) as (_device, client):
        a = await client.read_holding_registers(30773, count=2, device_id=3)
        b = await client.read_holding_registers(30961, count=2, device_id=3)
    assert a.registers == encode(2500, WireType.S32) == b.registers


async def test_an_odd_dc_power_is_split_exactly_and_reads_back_whole() -> None:
    profile = all_profiles()["sma_sunny_tripower"]
    model = sample_model(profile)
    model.values[("pv", "DcPower")] = 5001.0
    async with serving(profile, model) as (device, client):
        a = await client.read_holding_registers(30773, count=2, device_id=3)
        b = await client.read_holding_registers(30961, count=2, device_id=3)
        dc = next(p for p in readable_points(profile) if p.name == "DcPower")
        assert await read_point(client, profile, dc) == 5001.0
        model.values[("pv", "DcPower")] = None
        device.refresh()
        assert await read_point(client, profile, dc) is None  # every part "not available"
    assert decode(a.registers, WireType.S32) == 2501  # the first part carries the rest
    assert decode(b.registers, WireType.S32) == 2500


async def test_unit_id_override_moves_the_device() -> None:
    profile = all_profiles()["janitza_umg604"]
    model = sample_model(profile)
    async with serving(profile, model, unit_id=2) as (device, client):
        assert device.unit_ids == {2}
        ok = await client.read_holding_registers(19026, count=2, device_id=2)
        assert not ok.isError()
        other = await client.read_holding_registers(19026, count=2, device_id=1)
        assert other.isError()  # a TCP gateway answers "target failed to respond"


async def test_reads_outside_the_map_are_illegal_addresses() -> None:
    profile = all_profiles()["siemens_sentron_pac2200"]
    async with serving(profile, sample_model(profile)) as (_device, client):
        response = await client.read_holding_registers(5000, count=2, device_id=1)
        assert response.isError() and response.exception_code == 2
        wrong_table = await client.read_input_registers(65, count=2, device_id=1)
        assert wrong_table.isError()


async def test_a_server_refreshes_from_its_model_on_a_schedule() -> None:
    from ampacity.sim import SimServer, SimulatedDevice
    from pymodbus.client import AsyncModbusTcpClient

    profile = all_profiles()["siemens_sentron_pac2200"]
    model = sample_model(profile)
    model.values[("grid", "ActivePower")] = 100.0
    server = SimServer([SimulatedDevice(profile, model)], refresh_s=0.01)
    host, port = await server.start_tcp()
    client = AsyncModbusTcpClient(host, port=port, timeout=0.5, retries=0)
    await client.connect()
    try:
        model.values[("grid", "ActivePower")] = -2500.0  # the model moves on ...
        for _ in range(100):
            words = (await client.read_holding_registers(65, count=2, device_id=1)).registers
            if decode(words, WireType.F32) == -2500.0:
                break
            await asyncio.sleep(0.01)
        assert decode(words, WireType.F32) == -2500.0  # ... and the registers follow
    finally:
        client.close()
        await server.stop()
