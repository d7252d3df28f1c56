"""ads-tec StoraXe (``adstec_storaxe``) against independent register tables.

No public read-out with stated values was found. The evidence is evcc's StoraXe template and
OpenEMS's StoraXe driver: input registers (FC4) on unit 2, power in 100 W steps with + =
discharge, voltages in 0.1 V, SoC. An FC3-only server would fail the test (the table is
input). See fixtures/adstec_storaxe.json.
"""

from __future__ import annotations

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import facts_expected, load, units_from_facts, verify
from plain_modbus import PlainModbusServer, running

PROFILE = "adstec_storaxe"
FACTS = load(PROFILE)["register_table"]["facts"]


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units_from_facts(FACTS, unit_id=2, table="input", fill=None))
    config = ModbusDeviceConfig("sx", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    async with server, running(ModbusDriver.from_profile_id(PROFILE, config)) as sink:
        await verify(sink, facts_expected(FACTS, "sx"), "register table")
