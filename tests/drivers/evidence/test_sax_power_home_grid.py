"""SAX Power Home grid meter (``sax_power_home_grid``) against independent register tables.

No public read-out with stated values was found. evcc's SAX template, Tinkerforge's SAX meter
table and openWB's SAX counter all read holding register 48 on unit 64 as raw - 16384 with
+ = import; the test serves an import, a feed-in and a balanced grid from a plain server and
checks the model's ActivePower (+ = import). See fixtures/sax_power_home_grid.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from evidence_kit import check, load
from plain_modbus import PlainModbusServer, PlainUnit, running

PROFILE = "sax_power_home_grid"
FIXTURE = load(PROFILE)


@pytest.mark.parametrize("case", FIXTURE["cases"], ids=lambda c: c["note"])
async def test_grid_power_sign_and_offset(case: dict[str, Any]) -> None:
    unit = PlainUnit(fill=None)  # only register 48 exists: a read of 46/47 would be refused
    unit.put(48, [case["raw"]])
    plain = PlainModbusServer({FIXTURE["unit_id"]: unit})
    config = ModbusDeviceConfig("grid", tcp=TcpEndpoint("127.0.0.1", plain.port), timeout_s=0.5)
    async with plain, running(ModbusDriver.from_profile_id(PROFILE, config)) as sink:
        readings = await sink.wait_good(["grid.ActivePower"])
        check(readings["grid.ActivePower"], {"value": case["model_value"]}, case["note"])
