"""A setpoint with ``off_steps`` (KEBA P30 over Modbus: 5014 enables, 5004 carries the current):
the simulator takes the current only while the enable holds, and a pause through 5014 = 0 as 0 A;
the driver's frames for both (``drivers.modbus.write.prepare_write``)."""

from __future__ import annotations

from ampacity.assets import SPECS, AssetKind
from ampacity.drivers.modbus.write import prepare_write
from ampacity.drivers.profile import PROFILE_DIR, Function, Profile
from ampacity.drivers.registry import load_profile_file
from ampacity.sim.registers import RegisterImage, StaticModel, WriteOutcome

KEY = ("chargepoint", "ChargeCurrentLimit")


def keba() -> Profile:
    profile = load_profile_file(PROFILE_DIR / "keba_p30_modbus.yaml")
    assert isinstance(profile, Profile)
    return profile


def test_the_simulator_takes_a_current_while_enabled_and_a_pause_as_0_a() -> None:
    model = StaticModel()
    image = RegisterImage(keba(), model)
    assert image.write(255, Function.HOLDING, 5004, [10000]) is WriteOutcome.OK
    assert KEY not in model.values  # not enabled yet: the current waits
    assert image.write(255, Function.HOLDING, 5014, [1]) is WriteOutcome.OK
    assert image.write(255, Function.HOLDING, 5004, [12000]) is WriteOutcome.OK
    assert model.values[KEY] == 12.0
    assert image.write(255, Function.HOLDING, 5014, [0]) is WriteOutcome.OK
    assert model.values[KEY] == 0.0
    assert image.write(255, Function.HOLDING, 5015, [1]) is WriteOutcome.ILLEGAL_ADDRESS


def test_prepared_frames_for_a_current_and_for_a_pause() -> None:
    profile = keba()
    pmap = profile.assets[0].points["ChargeCurrentLimit"]
    spec = SPECS[AssetKind.CHARGE_POINT].point("ChargeCurrentLimit")
    on = prepare_write(pmap, spec, 10.0, profile.transport, 255, where="k")
    assert on.segments == ((5014, (1,)), (5004, (10000,)))
    assert (on.written, on.single_register) == (10.0, True)
    off = prepare_write(pmap, spec, 3.0, profile.transport, 255, where="k")  # below 6 A: pause
    assert off.segments == ((5014, (0,)),)
    assert (off.written, off.clamped) == (0.0, True)


def test_an_enable_coil_pauses_in_the_simulator_and_in_the_frames() -> None:
    profile = load_profile_file(PROFILE_DIR / "wallbe_phoenix.yaml")
    assert isinstance(profile, Profile)
    model = StaticModel()
    image = RegisterImage(profile, model)
    assert image.write(255, Function.HOLDING, 528, [100]) is WriteOutcome.OK
    assert image.write(255, Function.COIL, 400, [1]) is WriteOutcome.OK
    assert model.values[KEY] == 10.0
    assert image.write(255, Function.COIL, 400, [0]) is WriteOutcome.OK
    assert model.values[KEY] == 0.0
    pmap = profile.assets[0].points["ChargeCurrentLimit"]
    spec = SPECS[AssetKind.CHARGE_POINT].point("ChargeCurrentLimit")
    on = prepare_write(pmap, spec, 16.0, profile.transport, 255, where="w")
    assert (on.segments, on.coil) == (((528, (160,)),), (400, True))
    off = prepare_write(pmap, spec, 0.0, profile.transport, 255, where="w")
    assert (off.segments, off.coil, off.written) == ((), (400, False), 0.0)
