"""The ripple-control simulators seen by independent clients: a plain pymodbus client and a
plain aiohttp client with the XML parsed by ElementTree (not by the driver's code)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import aiohttp
import pytest
from ampacity.sim.faults import Fault
from ampacity.sim.signals import KmtronicSim, ModbusContactSim
from pymodbus.client import AsyncModbusTcpClient


async def test_modbus_sim_discrete_inputs_follow_set_contact() -> None:
    async with ModbusContactSim(4, unit_id=7) as sim:
        client = AsyncModbusTcpClient(str(sim.host), port=int(sim.port), timeout=1, retries=0)
        await client.connect()
        try:
            sim.set_contact(2, True)
            sim.set_contact(4, True)
            reply = await client.read_discrete_inputs(0, count=4, device_id=7)
            assert list(reply.bits[:4]) == [False, True, False, True]
            sim.set_contact(2, False)
            reply = await client.read_discrete_inputs(0, count=4, device_id=7)
            assert list(reply.bits[:4]) == [False, False, False, True]
        finally:
            client.close()


async def test_modbus_sim_register_bits_and_normally_closed() -> None:
    sim = ModbusContactSim(
        3, function="holding_bit", addresses=[40, 40, 41], bits=[0, 5, 15], normally_closed=[3]
    )
    async with sim:
        client = AsyncModbusTcpClient(str(sim.host), port=int(sim.port), timeout=1, retries=0)
        await client.connect()
        try:
            reply = await client.read_holding_registers(40, count=2, device_id=1)
            assert reply.registers == [0, 0x8000]  # contact 3 is NC: its input is active
            sim.set_contact(2, True)
            sim.set_contact(3, True)
            reply = await client.read_holding_registers(40, count=2, device_id=1)
            assert reply.registers == [1 << 5, 0]
        finally:
            client.close()


async def test_modbus_sim_fault_switch() -> None:
    async with ModbusContactSim() as sim:
        client = AsyncModbusTcpClient(str(sim.host), port=int(sim.port), timeout=1, retries=0)
        await client.connect()
        try:
            sim.faults.set(Fault.EXCEPTION, exception_code=4)
            reply = await client.read_discrete_inputs(0, count=4, device_id=1)
            assert reply.isError() and reply.exception_code == 4
            sim.faults.clear()
            reply = await client.read_discrete_inputs(0, count=4, device_id=1)
            assert not reply.isError()
        finally:
            client.close()


def _elements(text: str) -> dict[str, str]:
    root = ET.fromstring(text)
    assert root.tag == "response"
    return {child.tag: (child.text or "") for child in root}


async def test_kmtronic_sim_serves_status_xml() -> None:
    async with KmtronicSim(2, elements=["in1", "in2"]) as sim, aiohttp.ClientSession() as http:
        sim.set_contact(2, True)
        async with http.get(f"{sim.url}/status.xml") as response:
            assert response.status == 200
            values = _elements(await response.text())
        assert values["in1"] == "0" and values["in2"] == "1"
        assert [values[f"relay{n}"] for n in range(1, 9)] == ["0"] * 8


async def test_kmtronic_sim_basic_auth() -> None:
    sim = KmtronicSim(1, user="admin", password="admin")
    async with sim, aiohttp.ClientSession() as http:
        async with http.get(f"{sim.url}/status.xml") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        token = base64.b64encode(b"admin:admin").decode()
        headers = {"Authorization": f"Basic {token}"}
        async with http.get(f"{sim.url}/status.xml", headers=headers) as response:
            assert response.status == 200
            assert "input1" in _elements(await response.text())


@pytest.mark.parametrize("fault", [Fault.EXCEPTION, Fault.GARBAGE])
async def test_kmtronic_sim_faults(fault: Fault) -> None:
    async with KmtronicSim() as sim, aiohttp.ClientSession() as http:
        sim.set_fault(fault)
        async with http.get(f"{sim.url}/status.xml") as response:
            text = await response.text()
        if fault is Fault.EXCEPTION:
            assert response.status == 500
        else:
            with pytest.raises(ET.ParseError):
                ET.fromstring(text)


async def test_kmtronic_sim_silent_hangs_until_healed() -> None:
    async with KmtronicSim() as sim, aiohttp.ClientSession() as http:
        sim.set_fault(Fault.SILENT)
        with pytest.raises(TimeoutError):
            timeout = aiohttp.ClientTimeout(total=0.1)
            async with http.get(f"{sim.url}/status.xml", timeout=timeout):
                pass
        sim.set_fault(Fault.NONE)
        async with http.get(f"{sim.url}/status.xml") as response:
            assert response.status == 200
