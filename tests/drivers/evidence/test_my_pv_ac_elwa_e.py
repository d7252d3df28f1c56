"""my-PV AC ELWA-E (`my_pv_ac_elwa_e`) against independent register tables.

No public read-out of the device with stated values was found. The evidence is evcc's my-PV
charger, which reads the ELWA-E's operation state from 1003 (not the AC•THOR's 1077), its power
at 1000 and its temperature at 1001 in 0.1 °C. Known values are encoded per those tables, served
from a plain Modbus server and read through the shipped profile. See
fixtures/my_pv_ac_elwa_e.json.
"""

from __future__ import annotations

from evidence_kit import load
from mypv_evidence import (
    check_refresh_beats_the_timeout,
    check_register_table,
    check_setpoint,
    check_states,
)

PROFILE = "my_pv_ac_elwa_e"
FIXTURE = load(PROFILE)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE)


async def test_operation_states() -> None:
    await check_states(PROFILE, FIXTURE)


async def test_setpoint_frames() -> None:
    await check_setpoint(PROFILE, FIXTURE)


def test_setpoint_refresh_beats_the_power_timeout() -> None:
    # 30 s: the shortest control timeout the profile's notes allow
    check_refresh_beats_the_timeout(PROFILE, FIXTURE, 30.0)
