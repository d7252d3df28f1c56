"""SMA Sunny Island (``sma_sunny_island``) against independent register tables.

No public read-out with stated values was found. The evidence is OpenEMS's Sunny Island driver
and evcc's Sunny Island template: addresses, SMA data types, units and the battery sign
(+ = discharge), and the setpoint pair 40149/40151. Known values are encoded per those
tables on a plain server that answers undefined addresses with an exception, as SMA devices do.
See fixtures/sma_sunny_island.json.
"""

from __future__ import annotations

from battery_kit import check_register_table, check_setpoint_request

PROFILE = "sma_sunny_island"
UNIT = 3  # the SMA Modbus profile's unit id


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, UNIT)


async def test_setpoint_is_one_request_with_the_enable_code() -> None:
    await check_setpoint_request(PROFILE, UNIT)
