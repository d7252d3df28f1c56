"""The demo site: six devices on loopback (four TCP, two on one virtual RS485 line), one physics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ampacity.drivers.codec import WireType, decode, encode
from ampacity.sim import DemoSite, FakeClock, Fault
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException


async def _tcp(endpoint) -> AsyncModbusTcpClient:  # type: ignore[no-untyped-def]
    client = AsyncModbusTcpClient(endpoint.host, port=endpoint.port, timeout=0.5, retries=0)
    assert await client.connect()
    return client


async def test_demo_site_serves_all_devices_from_one_physics() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 10, 0, tzinfo=UTC))
    async with DemoSite(clock=clock, refresh_s=0.05) as site:
        endpoints = site.endpoints
        assert set(endpoints) == {
            "siemens_sentron_pac2200",
            "sma_sunny_tripower",
            "sma_sunny_boy_storage",
            "alfen_eve_double",
            "heidelberg_energy_control",
            "janitza_umg604",
        }
        assert endpoints["alfen_eve_double"].unit_ids == (1, 2, 200)
        assert endpoints["janitza_umg604"].unit_ids == (2,)
        rtu = endpoints["heidelberg_energy_control"]
        assert rtu.transport == "rtu" and rtu.device == endpoints["janitza_umg604"].device
        ports = {e.port for e in endpoints.values() if e.transport == "tcp"}
        assert len(ports) == 4

        physics = site.physics
        assert physics is not None
        clock.advance(120)
        site.tick()
        grid = await _tcp(endpoints["siemens_sentron_pac2200"])
        pv = await _tcp(endpoints["sma_sunny_tripower"])
        try:
            power = decode((await grid.read_holding_registers(65, count=2)).registers, WireType.F32)
            produced = await pv.read_holding_registers(30775, count=2, device_id=3)
            pv_w = decode(produced.registers, WireType.S32)
        finally:
            grid.close()
            pv.close()
        assert power == pytest.approx(physics.grid_w, abs=0.01)
        assert pv_w == round(physics.pv_w) and pv_w > 1000  # 10:00 UTC in June

        bus = AsyncModbusSerialClient(
            rtu.device, baudrate=rtu.baudrate, parity=rtu.parity, timeout=0.5, retries=0
        )
        assert await bus.connect()
        try:
            load = await bus.read_holding_registers(19026, count=2, device_id=2)
            assert decode(load.registers, WireType.F32) == pytest.approx(physics.load_w, rel=1e-6)
            state = await bus.read_input_registers(5, count=1, device_id=1)
            assert state.registers == [2]  # A1 "no vehicle" at the Heidelberg at noon

            site.devices["heidelberg_energy_control"].faults.set(Fault.SILENT)
            with pytest.raises(ModbusException):
                await bus.read_input_registers(5, count=1, device_id=1)
            still = await bus.read_holding_registers(19026, count=2, device_id=2)
            assert not still.isError()  # the other device on the bus keeps answering
        finally:
            bus.close()


async def test_demo_setpoint_write_changes_the_shared_physics() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 11, 0, tzinfo=UTC))
    async with DemoSite(clock=clock, refresh_s=0.05) as site:
        assert site.physics is not None
        client = await _tcp(site.endpoints["sma_sunny_boy_storage"])
        try:
            both = encode(-3000, WireType.S32) + encode(802, WireType.U32)
            assert not (await client.write_registers(40149, both, device_id=3)).isError()
            clock.advance(60)
            site.tick()
            power = await client.read_holding_registers(30775, count=2, device_id=3)
        finally:
            client.close()
        assert decode(power.registers, WireType.S32) == -3000
        assert site.physics.battery.power_w == pytest.approx(-3000.0)


async def test_demo_refreshes_on_its_own_and_stops_cleanly() -> None:
    site = DemoSite(refresh_s=0.01)
    endpoints = await site.start()
    await asyncio.sleep(0.05)
    pac = endpoints["siemens_sentron_pac2200"]
    await site.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection(pac.host, pac.port)
