"""Every fault mode is visible to a plain pymodbus client, and switchable at run time."""

from __future__ import annotations

import asyncio

import pytest
from ampacity.drivers.profile import all_profiles
from ampacity.sim import Fault
from pymodbus.exceptions import ModbusException
from simkit import sample_model, serving

PAC = "siemens_sentron_pac2200"


async def _read(client, unit: int = 1):  # type: ignore[no-untyped-def]
    return await client.read_holding_registers(65, count=2, device_id=unit)


async def test_healthy_device_answers() -> None:
    profile = all_profiles()[PAC]
    async with serving(profile, sample_model(profile)) as (_device, client):
        assert not (await _read(client)).isError()


async def test_silent_device_lets_the_client_time_out_and_recovers() -> None:
    profile = all_profiles()[PAC]
    async with serving(profile, sample_model(profile)) as (device, client):
        device.faults.set(Fault.SILENT)
        with pytest.raises(ModbusException, match="No response"):
            await _read(client)
        device.faults.clear()
        assert not (await _read(client)).isError()


async def test_exception_fault_answers_with_the_chosen_code() -> None:
    profile = all_profiles()[PAC]
    async with serving(profile, sample_model(profile)) as (device, client):
        device.faults.set(Fault.EXCEPTION)
        response = await _read(client)
        assert response.isError() and response.exception_code == 4
        device.faults.set(Fault.EXCEPTION, exception_code=6)
        assert (await _read(client)).exception_code == 6


async def test_garbage_is_not_a_valid_answer() -> None:
    profile = all_profiles()[PAC]
    async with serving(profile, sample_model(profile)) as (device, client):
        device.faults.set(Fault.GARBAGE)
        with pytest.raises(ModbusException):
            await _read(client)


async def test_garbage_frame_on_the_wire_lies_about_its_length() -> None:
    profile = all_profiles()[PAC]
    async with serving(profile, sample_model(profile)) as (device, client):
        device.faults.set(Fault.GARBAGE)
        host, port = client.comm_params.host, client.comm_params.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(bytes.fromhex("000700000006010300410002"))
        answer = await asyncio.wait_for(reader.read(64), 1.0)
        writer.close()
    assert answer[:2] == b"\x00\x07"  # it does answer the transaction ...
    assert answer[8] == 0x10 and len(answer) - 9 < 0x10  # ... with fewer bytes than it claims


async def test_disconnect_drops_the_tcp_connection() -> None:
    profile = all_profiles()[PAC]
    async with serving(profile, sample_model(profile)) as (device, client):
        device.faults.set(Fault.DISCONNECT)
        host, port = client.comm_params.host, client.comm_params.port
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(bytes.fromhex("000100000006010300410002"))
        assert await asyncio.wait_for(reader.read(64), 1.0) == b""  # closed by the device
        writer.close()
        with pytest.raises(ModbusException):
            await _read(client)
        device.faults.clear()
        await client.connect()
        assert not (await _read(client)).isError()


async def test_a_fault_hits_only_its_own_device() -> None:
    """On one endpoint with several units, only the faulty device's unit misbehaves."""
    from ampacity.sim import SimServer, SimulatedDevice
    from pymodbus.client import AsyncModbusTcpClient

    pac = all_profiles()[PAC]
    janitza = all_profiles()["janitza_umg604"]
    first = SimulatedDevice(pac, sample_model(pac))
    second = SimulatedDevice(janitza, sample_model(janitza), unit_id=2)
    server = SimServer([first, second])
    host, port = await server.start_tcp()
    client = AsyncModbusTcpClient(host, port=port, timeout=0.3, retries=0)
    await client.connect()
    try:
        first.faults.set(Fault.EXCEPTION)
        assert (await _read(client, 1)).isError()
        ok = await client.read_holding_registers(19026, count=2, device_id=2)
        assert not ok.isError()
    finally:
        client.close()
        await server.stop()


async def test_faults_on_the_rs485_line() -> None:
    from ampacity.sim import SimServer, SimulatedDevice
    from ampacity.sim.pty import VirtualSerialLine
    from pymodbus.client import AsyncModbusSerialClient

    janitza = all_profiles()["janitza_umg604"]
    heidelberg = all_profiles()["heidelberg_energy_control"]
    meter = SimulatedDevice(janitza, sample_model(janitza), unit_id=2)
    charger = SimulatedDevice(heidelberg, sample_model(heidelberg))
    line = VirtualSerialLine()
    line.open()
    server = SimServer([charger, meter])
    await server.start_rtu(line.server_path, parity="N")
    client = AsyncModbusSerialClient(line.client_path, baudrate=19200, timeout=0.3, retries=0)
    assert await client.connect()
    try:
        assert not (await client.read_holding_registers(19026, count=2, device_id=2)).isError()
        meter.faults.set(Fault.GARBAGE)  # bad CRC: the client discards it and times out
        with pytest.raises(ModbusException):
            await client.read_holding_registers(19026, count=2, device_id=2)
        meter.faults.set(Fault.EXCEPTION, exception_code=2)
        response = await client.read_holding_registers(19026, count=2, device_id=2)
        assert response.isError() and response.exception_code == 2
        meter.faults.set(Fault.DISCONNECT)  # a serial line cannot drop: silence
        with pytest.raises(ModbusException):
            await client.read_holding_registers(19026, count=2, device_id=2)
        assert not (await client.read_input_registers(5, count=1, device_id=1)).isError()
        meter.faults.clear()
        await asyncio.sleep(0.05)  # let the line settle after the timeouts
        assert not (await client.read_holding_registers(19026, count=2, device_id=2)).isError()
    finally:
        client.close()
        await server.stop()
        line.close()
