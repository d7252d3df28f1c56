"""my-PV AC•THOR (`my_pv_ac_thor`) against independent register tables.

No public read-out of the device with stated values was found. The evidence is ioBroker.AC-
THOR's holding register table (scales, units, the power timeout 1004), OpenEMS's my-PV driver
(addresses, FC3, the write to 1000) and evcc's my-PV charger (the operation states of 1077, FC16
at 1000). Known values are encoded per those tables, served from a plain Modbus server and read
through the shipped profile. See fixtures/my_pv_ac_thor.json.
"""

from __future__ import annotations

from evidence_kit import load
from mypv_evidence import (
    check_refresh_beats_the_timeout,
    check_register_table,
    check_setpoint,
    check_states,
)

PROFILE = "my_pv_ac_thor"
FIXTURE = load(PROFILE)
TIMEOUT_REGISTER = 1004  # power timeout, s (ioBroker.AC-THOR table)


async def test_independent_register_table() -> None:
    await check_register_table(PROFILE, FIXTURE)


async def test_operation_states() -> None:
    await check_states(PROFILE, FIXTURE)


async def test_setpoint_frames() -> None:
    await check_setpoint(PROFILE, FIXTURE)


def test_setpoint_refresh_beats_the_power_timeout() -> None:
    written = FIXTURE["register_table"]["setpoint_write"]["expect"]
    timeout_s = next(e["words"][0] for e in written if e["address"] == TIMEOUT_REGISTER)
    check_refresh_beats_the_timeout(PROFILE, FIXTURE, float(timeout_s))
