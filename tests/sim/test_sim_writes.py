"""Client writes to a profile's ``write:`` registers reach the model, and read back."""

from __future__ import annotations

from datetime import UTC, datetime

from ampacity.drivers.codec import WireType, decode, encode
from ampacity.drivers.profile import Function, all_profiles
from ampacity.sim import FakeClock, SimulatedDevice, SitePhysics
from simkit import sample_model, serving


async def test_alfen_current_limit_is_written_and_read_back() -> None:
    profile = all_profiles()["alfen_eve_double"]
    model = sample_model(profile)
    async with serving(profile, model) as (_device, client):
        written = await client.write_registers(1210, encode(10.0, WireType.F32), device_id=2)
        assert not written.isError()
        assert model.written == [("socket2", "ChargeCurrentLimit", 10.0)]
        back = await client.read_holding_registers(1210, count=2, device_id=2)
        assert decode(back.registers, WireType.F32) == 10.0
        other = await client.read_holding_registers(1210, count=2, device_id=1)
        assert decode(other.registers, WireType.F32) != 10.0  # socket 1 untouched


async def test_values_outside_the_device_limits_are_refused() -> None:
    profile = all_profiles()["alfen_eve_double"]
    model = sample_model(profile)
    async with serving(profile, model) as (_device, client):
        below_min = await client.write_registers(1210, encode(3.0, WireType.F32), device_id=1)
        assert below_min.isError() and below_min.exception_code == 3
        off = await client.write_registers(1210, encode(0.0, WireType.F32), device_id=1)
        assert not off.isError()  # zero_means_off: 0 pauses
        not_writable = await client.write_registers(344, encode(1.0, WireType.F32), device_id=1)
        assert not_writable.isError() and not_writable.exception_code == 2
    assert model.written == [("socket1", "ChargeCurrentLimit", 0.0)]


async def test_heidelberg_limit_in_tenths_of_an_ampere() -> None:
    profile = all_profiles()["heidelberg_energy_control"]
    model = sample_model(profile)
    async with serving(profile, model) as (_device, client):
        # the driver switches standby off (its once-per-connection step) before the first limit
        assert not (await client.write_register(258, 4, device_id=1)).isError()
        assert not (await client.write_register(261, 125, device_id=1)).isError()
        assert (await client.write_register(261, 200, device_id=1)).exception_code == 3
        back = await client.read_holding_registers(261, count=1, device_id=1)
    assert model.written == [("charger", "ChargeCurrentLimit", 12.5)]
    assert back.registers == [125]


async def test_battery_setpoint_applies_only_with_its_enable_flag() -> None:
    profile = all_profiles()["sma_sunny_boy_storage"]
    model = sample_model(profile)
    async with serving(profile, model) as (_device, client):
        alone = await client.write_registers(40149, encode(-2000, WireType.S32), device_id=3)
        assert not alone.isError()
        assert model.written == []  # 40151 does not hold 802: the device ignores it
        both = encode(-2500, WireType.S32) + encode(802, WireType.U32)
        assert not (await client.write_registers(40149, both, device_id=3)).isError()
    assert model.written == [("battery", "BatteryPowerSetpoint", -2500.0)]  # + = discharge


async def test_sma_limit_in_percent_of_nominal_power_after_the_mode_register() -> None:
    profile = all_profiles()["sma_sunny_tripower"]
    model = sample_model(profile)
    model.values[("pv", "NominalPower")] = 8000.0
    async with serving(profile, model) as (_device, client):
        await client.write_registers(40023, encode(5000, WireType.S16), device_id=3)
        assert model.written == []  # 40210 is not 1079 yet
        await client.write_registers(40210, encode(1079, WireType.U32), device_id=3)
        await client.write_registers(40023, encode(5000, WireType.S16), device_id=3)  # 50.00 %
    assert model.written == [("pv", "ActivePowerLimit", 4000.0)]


async def test_a_written_setpoint_changes_the_simulated_site() -> None:
    clock = FakeClock(datetime(2026, 6, 21, 19, 0, tzinfo=UTC))  # 21:00 local: vehicles home
    physics = SitePhysics(clock)
    physics.update()
    models = physics.models()
    profile = all_profiles()["alfen_eve_double"]
    device = SimulatedDevice(profile, models["alfen_eve_double"])
    image = device.image
    charger = physics.chargers["alfen1"]
    clock.advance(60)
    physics.update()
    assert charger.connected and charger.charging
    full_power = charger.power_w
    image.write(1, Function.HOLDING, 1210, encode(8.0, WireType.F32))
    clock.advance(60)
    physics.update()
    device.refresh()
    assert charger.power_w < full_power
    assert charger.power_w == 8.0 * 230.0 * 3
    words = image.read(1, Function.HOLDING, 344, 2)
    assert words is not None and decode(words, WireType.F32) == charger.power_w
    image.write(1, Function.HOLDING, 1210, encode(0.0, WireType.F32))
    clock.advance(60)
    physics.update()
    device.refresh()
    assert not charger.charging
    state = image.read(1, Function.HOLDING, 1201, 5)
    assert state is not None and decode(state, WireType.STRING) == "B1"
