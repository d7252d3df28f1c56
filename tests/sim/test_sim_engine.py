"""End to end: the generic Modbus engine (``drivers.modbus``) polls the demo site's devices.

Every profile point must arrive Good with the value the physics holds, and setpoints written
through the engine must reach the physics (DcPower: the sum of the SMA's two trackers).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ampacity.assets import PointValue, Reading
from ampacity.drivers.modbus import (
    LinkRegistry,
    ModbusDeviceConfig,
    ModbusDriver,
    SerialBus,
    TcpEndpoint,
)
from ampacity.drivers.profile import all_profiles
from ampacity.sim import DemoSite, FakeClock, SimServer, SimulatedDevice
from simkit import sample_model


class _Sink:
    def __init__(self) -> None:
        self.values: dict[str, tuple[PointValue, bool]] = {}

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.values[reading.node_key] = (reading.value, reading.quality.is_good)


def _driver(site: DemoSite, pid: str, registry: LinkRegistry) -> ModbusDriver:
    ep = site.endpoints[pid]
    if ep.transport == "tcp":
        assert ep.host is not None
        config = ModbusDeviceConfig(pid, tcp=TcpEndpoint(ep.host, ep.port))
    else:
        assert ep.device is not None
        bus = SerialBus(
            ep.device,
            baudrate=ep.baudrate,
            parity=ep.parity,
            stopbits=ep.stopbits,
            bytesize=ep.bytesize,
            inter_frame_gap_ms=2,
        )
        config = ModbusDeviceConfig(pid, serial=bus, unit_id=ep.unit_ids[0], timeout_s=0.5)
    return ModbusDriver(all_profiles()[pid], config, registry=registry)


def _expected_points(driver: ModbusDriver) -> list[str]:
    keys = []
    for asset in driver.assets:
        for point in asset.points:
            if point not in ("ActivePowerLimit", "BatteryPowerSetpoint"):
                keys.append(f"{asset.asset_id}.{point}")
    return keys


async def test_the_engine_reads_every_demo_device_and_writes_its_setpoints() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 17, 0, tzinfo=UTC))  # 19:00 local, vehicles home
    registry = LinkRegistry()
    async with DemoSite(clock=clock, refresh_s=0.02) as site:
        physics = site.physics
        assert physics is not None
        clock.advance(600)
        site.tick()
        drivers = [_driver(site, pid, registry) for pid in site.endpoints]
        sink = _Sink()
        tasks = [asyncio.create_task(d.run(sink)) for d in drivers]
        try:
            wanted = [k for d in drivers for k in _expected_points(d)]
            for _ in range(100):
                if all(sink.values.get(k, (None, False))[1] for k in wanted):
                    break
                await asyncio.sleep(0.05)
            missing = [k for k in wanted if not sink.values.get(k, (None, False))[1]]
            assert missing == []
            assert sink.values["siemens_sentron_pac2200.ActivePower"][0] == pytest.approx(
                physics.grid_w, rel=1e-5
            )
            assert sink.values["janitza_umg604.ActivePower"][0] == pytest.approx(
                physics.load_w, rel=1e-5
            )
            dc = sink.values["sma_sunny_tripower.DcPower"][0]  # trackers A + B, whole watts
            assert dc == pytest.approx(physics.pv_dc_w, abs=1.0) and dc > 0
            soc = sink.values["sma_sunny_boy_storage.StateOfCharge"][0]
            assert soc == round(physics.battery.soc)
            assert sink.values["heidelberg_energy_control.Charging"][0] is True

            by_id = {d.device_id: d for d in drivers}
            await by_id["alfen_eve_double"].write(
                "alfen_eve_double-socket1", "ChargeCurrentLimit", 10.0
            )
            await by_id["heidelberg_energy_control"].write(
                "heidelberg_energy_control", "ChargeCurrentLimit", 8.0
            )
            await by_id["sma_sunny_boy_storage"].write(
                "sma_sunny_boy_storage", "BatteryPowerSetpoint", -1500.0
            )
            await by_id["sma_sunny_tripower"].write(
                "sma_sunny_tripower", "ActivePowerLimit", 4000.0
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await registry.aclose()
        assert physics.chargers["alfen1"].limit_a == 10.0
        assert physics.chargers["heidelberg"].limit_a == 8.0
        assert physics.battery.setpoint_w == -1500.0
        assert physics.pv_limit_w == pytest.approx(4000.0)


@pytest.mark.parametrize(
    ("pid", "key", "address", "unit", "idle"),
    [
        ("heidelberg_energy_control", "charger", 5, 1, [2]),  # A1: no vehicle
        ("alfen_eve_double", "socket1", 1201, 1, [0x4100, 0, 0, 0, 0]),  # "A"
    ],
)
async def test_an_idle_charger_shows_its_real_no_vehicle_state(
    pid: str, key: str, address: int, unit: int, idle: list[int]
) -> None:
    profile = all_profiles()[pid]
    model = sample_model(profile)
    model.values[(key, "VehicleConnected")] = False
    model.values[(key, "Charging")] = False
    device = SimulatedDevice(profile, model)
    assert device.image.read(unit, profile.transport.default_function, address, len(idle)) == idle
    server = SimServer([device])
    host, port = await server.start_tcp()
    driver = ModbusDriver(profile, ModbusDeviceConfig(pid, tcp=TcpEndpoint(host, port)))
    sink = _Sink()
    task = asyncio.create_task(driver.run(sink))
    asset = pid if len(profile.assets) == 1 else f"{pid}-{key}"
    try:
        for _ in range(100):
            if f"{asset}.Charging" in sink.values and f"{asset}.VehicleConnected" in sink.values:
                break
            await asyncio.sleep(0.02)
        assert sink.values[f"{asset}.VehicleConnected"] == (False, True)  # False, Good
        assert sink.values[f"{asset}.Charging"] == (False, True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()


async def test_the_engine_adds_the_simulated_trackers_and_sets_the_mode_once() -> None:
    profile = all_profiles()["sma_sunny_tripower"]
    model = sample_model(profile)
    model.values[("pv", "DcPower")] = 5001.0
    model.values[("pv", "NominalPower")] = 8000
    device = SimulatedDevice(profile, model)
    server = SimServer([device])
    host, port = await server.start_tcp()
    driver = ModbusDriver(profile, ModbusDeviceConfig("pv", tcp=TcpEndpoint(host, port)))
    sink = _Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        for _ in range(100):
            if sink.values.get("pv.DcPower", (None, False))[1] and "pv.NominalPower" in sink.values:
                break
            await asyncio.sleep(0.02)
        assert sink.values["pv.DcPower"] == (5001.0, True)
        await driver.write("pv", "ActivePowerLimit", 4000.0)  # with 40210 = 1079 first
        await driver.write("pv", "ActivePowerLimit", 2000.0)  # 40210 persisted: applies too
        # someone changes the mode at the device: the driver does not write 40210 again on this
        # connection, so the device ignores the next limit
        device.image.tables[(3, profile.transport.default_function)][40210 + 1] = 0
        await driver.write("pv", "ActivePowerLimit", 3000.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
    assert model.written == [("pv", "ActivePowerLimit", 4000.0), ("pv", "ActivePowerLimit", 2000.0)]
