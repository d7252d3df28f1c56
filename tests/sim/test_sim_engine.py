"""End to end: the generic Modbus engine (``drivers.modbus``) polls the demo site's devices.

Every profile point must arrive Good with the value the physics holds, and setpoints written
through the engine must reach the physics. DcPower is left out: the engine does not add
``add_addresses`` parts yet, so it reports tracker A only.
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
from ampacity.sim import DemoSite, FakeClock


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
            if point not in ("DcPower", "ActivePowerLimit", "BatteryPowerSetpoint"):
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
