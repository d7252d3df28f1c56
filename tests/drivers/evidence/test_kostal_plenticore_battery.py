"""KOSTAL PLENTICORE battery (``kostal_plenticore_battery``) against independent register tables.

No public read-out with stated values was found. The evidence is OpenEMS's KOSTAL PLENTICORE ESS
driver and openWB's KOSTAL battery module: addresses, types, the float word order (LSWMSW =
low word first), the battery sign (+ = discharge) and the setpoint register 1034. Known values
are encoded per those tables on a plain server that answers undefined addresses with an
exception. See fixtures/kostal_plenticore_battery.json.
"""

from __future__ import annotations

from battery_kit import check_register_table, check_setpoint_request

PROFILE = "kostal_plenticore_battery"
UNIT = 71  # KOSTAL unit id


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, UNIT)


async def test_setpoint_is_one_request_with_the_enable_code() -> None:
    await check_setpoint_request(PROFILE, UNIT)
