"""Fox ESS H3 (``fox_ess_h3``) against independent register tables.

No public read-out with stated values was found. The evidence is evcc's fox-ess-h3 template,
openWB's Fox ESS battery module and foxess_modbus: holding addresses on unit 247, the battery
sign (+ = discharge; openWB negates it for its own + = charge), SoC, the 0.1 kWh energy counters,
the PV sum, and the grid meter per phase, + = feed-in on the wire (foxess_modbus's feed-in,
evcc's x-1), so the model's + = import is the negated value.
Served by a plain server that refuses undefined addresses. See fixtures/fox_ess_h3.json.
"""

from __future__ import annotations

from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import check, load, units_from_facts
from plain_modbus import PlainModbusServer, running

PROFILE = "fox_ess_h3"
FACTS = load(PROFILE)["register_table"]["facts"]
UNIT = 247


async def test_independent_register_table() -> None:
    server = PlainModbusServer(units_from_facts(FACTS, unit_id=UNIT, fill=None))
    config = ModbusDeviceConfig("fox", tcp=TcpEndpoint("127.0.0.1", server.port), timeout_s=0.5)
    expected = {f"fox-{f['asset']}.{f['point']}": f["model_value"] for f in FACTS}
    expected["fox-pv.ActivePower"] = expected["fox-pv.DcPower"]
    phases = [expected[f"fox-grid.ActivePowerL{n}"] for n in (1, 2, 3)]
    expected["fox-grid.ActivePower"] = sum(phases)  # + = import
    async with server, running(ModbusDriver.from_profile_id(PROFILE, config)) as sink:
        readings = await sink.wait_good(expected)
        for key, value in expected.items():
            check(readings[key], {"value": value}, f"register table {key}")
