"""SMA Sunny Boy Storage (``sma_sunny_boy_storage``) against independent register tables.

No public read-out with stated values was found. The evidence is OpenEMS's Sunny Boy Storage,
SMA battery (STP SE) and Sunny Island drivers and openWB's SMA battery module: addresses, SMA
data types, units and the battery sign (+ = discharge). Known values are encoded per those
tables on a plain server that answers undefined addresses with an exception, as SMA devices do.
See fixtures/sma_sunny_boy_storage.json.
"""

from __future__ import annotations

from battery_kit import check_register_table, check_setpoint_request

PROFILE = "sma_sunny_boy_storage"
UNIT = 3  # the SMA Modbus profile's unit id


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, UNIT)


async def test_setpoint_is_one_request_with_the_enable_code() -> None:
    await check_setpoint_request(PROFILE, UNIT)
