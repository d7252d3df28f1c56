"""my-PV AC•THOR 9s (`my_pv_ac_thor_9s`) against independent register tables.

No public read-out of the device with stated values was found. The evidence is the AC•THOR
sources (ioBroker.AC-THOR, OpenEMS, evcc) plus OpenEMS's AC•THOR 9s driver for the phase powers
1074-1076. Known values are encoded per those tables, served from a plain Modbus server and read
through the shipped profile. See fixtures/my_pv_ac_thor_9s.json.
"""

from __future__ import annotations

from evidence_kit import load
from mypv_evidence import (
    check_refresh_beats_the_timeout,
    check_register_table,
    check_setpoint,
    check_states,
)

PROFILE = "my_pv_ac_thor_9s"
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
