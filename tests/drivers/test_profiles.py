"""Every shipped profile loads and is consistent with the model, the catalogue and its device."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ampacity.assets import SPECS, AssetKind
from ampacity.drivers.catalog import compatibility_rows
from ampacity.drivers.codec import WireType
from ampacity.drivers.profile import (
    PROFILE_DIR,
    Function,
    PointMap,
    Profile,
    ProfileError,
    WriteStep,
    all_profiles,
    load_profile,
)
from pydantic import ValidationError

DEMO = (
    "siemens_sentron_pac2200",
    "sma_sunny_tripower",
    "sma_sunny_boy_storage",
    "alfen_eve_double",
    "heidelberg_energy_control",
    "janitza_umg604",
)
PATHS = sorted(PROFILE_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_profile_file_loads_and_is_named_after_its_id(path: Path) -> None:
    profile = load_profile(path)
    assert profile.id == path.stem
    assert profile.products


def test_all_profiles_has_the_six_demo_devices() -> None:
    assert set(DEMO) <= set(all_profiles())


@pytest.mark.parametrize("pid", DEMO)
def test_demo_profile_serves_known_compatibility_rows_and_cites_a_vendor_document(pid: str) -> None:
    profile = all_profiles()[pid]
    rows = compatibility_rows()
    assert profile.compatibility
    for row_id in profile.compatibility:
        assert row_id in rows
        assert rows[row_id].manufacturer.lower() in profile.manufacturer.lower()
    assert profile.manufacturer.split()[0] in profile.source
    assert profile.notes


@pytest.mark.parametrize("pid", DEMO)
def test_points_fit_their_registers(pid: str) -> None:
    """No two numeric points overlap unless they deliberately share one register."""
    profile = all_profiles()[pid]
    taken: dict[tuple[int, Function, int], tuple[str, PointMap]] = {}
    for asset in profile.assets:
        for name, pmap in [*asset.points.items(), *asset.identification.items()]:
            if pmap.address is None:
                continue
            unit = pmap.unit_id or asset.unit_id or profile.transport.unit_id
            function = pmap.function or profile.transport.default_function
            for start in (pmap.address, *pmap.add_addresses):
                for address in range(start, start + pmap.word_count):
                    key = (unit, function, address)
                    if key in taken:
                        other_name, other = taken[key]
                        shared = other.address == pmap.address and other.type is pmap.type
                        same_station = other is pmap  # YAML anchors: one map, two assets
                        assert shared or same_station, f"{name} overlaps {other_name} at {key}"
                    taken[key] = (name, pmap)


def test_setpoints_are_refreshed_before_the_device_falls_back() -> None:
    profiles = all_profiles()
    alfen = profiles["alfen_eve_double"]
    for asset in alfen.assets:
        write = asset.points["ChargeCurrentLimit"].write
        assert write is not None and write.refresh_s is not None
        assert write.refresh_s < 60  # Alfen validity time default 60 s
        assert write.type is WireType.F32 and write.address == 1210
    heidelberg = profiles["heidelberg_energy_control"].assets[0].points["ChargeCurrentLimit"]
    assert heidelberg.write is not None
    assert heidelberg.write.zero_means_off and heidelberg.write.min == 6
    assert heidelberg.write.scale == 0.1 and heidelberg.write.refresh_s
    sbs = profiles["sma_sunny_boy_storage"].assets[0].points["BatteryPowerSetpoint"]
    assert sbs.write is not None and sbs.write.refresh_s
    assert [(s.address, s.value) for s in sbs.write.before] == [(40151, 802.0)]


def test_sma_power_limit_goes_to_plant_control_with_its_mode_written_once() -> None:
    limit = all_profiles()["sma_sunny_tripower"].assets[0].points["ActivePowerLimit"]
    assert limit.write is not None
    assert limit.write.address == 40023 and limit.write.percent_of == "NominalPower"
    (mode,) = limit.write.before
    assert (mode.address, mode.value, mode.once) == (40210, 1079.0, True)


def test_the_alfen_sockets_are_two_charge_points_on_units_1_and_2() -> None:
    alfen = all_profiles()["alfen_eve_double"]
    assert [(a.key, a.kind, a.unit_id) for a in alfen.assets] == [
        ("socket1", AssetKind.CHARGE_POINT, 1),
        ("socket2", AssetKind.CHARGE_POINT, 2),
    ]
    assert all(p.unit_id == 200 for a in alfen.assets for p in a.identification.values())


def test_heidelberg_is_rtu_19200_8e1_on_input_registers() -> None:
    heidelberg = all_profiles()["heidelberg_energy_control"]
    serial = heidelberg.transport.serial
    assert (serial.baudrate, serial.parity, serial.stopbits, serial.bytesize) == (19200, "E", 1, 8)
    assert heidelberg.transport.default_function is Function.INPUT


@pytest.mark.parametrize("pid", DEMO)
def test_every_mapped_point_exists_in_the_model(pid: str) -> None:
    for asset in all_profiles()[pid].assets:
        names = SPECS[asset.kind].point_names
        assert set(asset.points) <= set(names)


def test_add_addresses_needs_a_numeric_address() -> None:
    with pytest.raises(ValidationError):
        PointMap(add_addresses=(5,), const=1)
    with pytest.raises(ValidationError):
        PointMap(address=1, type=WireType.STRING, length=2, add_addresses=(5,))
    assert PointMap(address=1, type=WireType.S32, add_addresses=(7,)).add_addresses == (7,)


def test_add_addresses_adds_numbers_at_distinct_addresses() -> None:
    with pytest.raises(ValidationError, match="adds numbers"):
        PointMap(address=1, add_addresses=(5,), true_values=(1,))
    with pytest.raises(ValidationError, match="adds numbers"):
        PointMap(address=1, add_addresses=(5,), enum={1: 2})
    with pytest.raises(ValidationError, match="differ"):
        PointMap(address=1, type=WireType.S32, add_addresses=(1,))
    with pytest.raises(ValidationError, match="differ"):
        PointMap(address=1, type=WireType.S32, add_addresses=(7, 7))
    assert PointMap(address=1, add_addresses=(3, 5)).addresses == (1, 3, 5)
    assert PointMap(const=1).addresses == ()


def test_false_value_is_optional_and_belongs_to_a_boolean() -> None:
    assert PointMap(address=5, true_values=(4,)).false_value is None
    assert PointMap(address=5, true_values=(4,), false_value=2).false_value == 2
    with pytest.raises(ValidationError, match="needs 'true_values'"):
        PointMap(address=5, false_value=2)
    with pytest.raises(ValidationError, match="one of 'true_values'"):
        PointMap(address=5, true_values=(2, 4), false_value=2)


def test_idle_charging_states_are_real_device_states() -> None:
    """Heidelberg 2 = A1 "no vehicle" (register 5), Alfen mode-3 state "A"."""
    profiles = all_profiles()
    heidelberg = profiles["heidelberg_energy_control"].assets[0].points["VehicleConnected"]
    assert heidelberg.false_value == 2 and heidelberg.true_values is not None
    assert 2 not in heidelberg.true_values and 3 not in heidelberg.true_values  # A1, A2
    for socket in profiles["alfen_eve_double"].assets:
        assert socket.points["VehicleConnected"].false_value == "A"


def test_write_steps_default_to_every_write() -> None:
    assert WriteStep(address=1, value=2).once is False


def test_a_broken_profile_names_file_and_field(tmp_path: Path) -> None:
    data = yaml.safe_load((PROFILE_DIR / "janitza_umg604.yaml").read_text(encoding="utf-8"))
    data["assets"][0]["points"]["ActivePowr"] = {"address": 1}
    bad = tmp_path / "janitza_umg604.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"janitza_umg604.yaml: assets.0.*ActivePowr"):
        load_profile(bad)


def test_profiles_are_frozen_models() -> None:
    assert Profile.model_config.get("frozen") is True
