"""The my-PV heating-rod profiles served by the simulator that is derived from them: every read
point round-trips, and the driver's setpoint (with the power-timeout register written once
before it) reaches the simulated rod as W."""

from __future__ import annotations

import math

import pytest
from ampacity.assets import PointValue
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import Profile, all_profiles
from simkit import read_point, readable_points, sample_model, serving

RODS = ("my_pv_ac_thor", "my_pv_ac_thor_9s", "my_pv_ac_elwa_e")


def _same(expected: PointValue, got: PointValue) -> bool:
    if isinstance(expected, bool | str) or expected is None:
        return expected == got
    assert isinstance(expected, int | float) and isinstance(got, int | float)
    return math.isclose(float(expected), float(got), rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("pid", RODS)
async def test_every_point_round_trips(pid: str) -> None:
    profile = all_profiles()[pid]
    assert isinstance(profile, Profile)
    model = sample_model(profile)
    async with serving(profile, model) as (_device, client):
        for point in readable_points(profile):
            expected = model.values[(point.asset.key, point.name)]
            got = await read_point(client, profile, point)
            assert _same(expected, got), f"{pid} {point.name}: {expected} -> {got}"


@pytest.mark.parametrize("pid", RODS)
async def test_the_setpoint_reaches_the_simulated_rod(pid: str) -> None:
    profile = all_profiles()[pid]
    assert isinstance(profile, Profile)
    model = sample_model(profile)
    async with serving(profile, model) as (_device, client):
        host, port = str(client.comm_params.host), int(client.comm_params.port)
        config = ModbusDeviceConfig("rod", tcp=TcpEndpoint(host, port), timeout_s=1.0)
        driver = ModbusDriver.from_profile_id(pid, config)
        result = await driver.write("rod", "PowerSetpoint", 1500.0)
        assert result.written == 1500.0
    assert ("rod", "PowerSetpoint", 1500.0) in model.written
