"""Site files: valid ones load, broken ones get located errors and exit code 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ampacity.server.config import ConfigError, load_config

VALID = """\
site:
  id: farm
  name: Hof Müller
buses:
  - id: rs485
    device: /dev/ttyUSB0
    baudrate: 19200
    parity: E
devices:
  - id: grid-meter
    profile: siemens_sentron_pac2200
    host: 192.0.2.10
    role: grid
  - id: wallbox
    profile: heidelberg_energy_control
    bus: rs485
    unit_id: 3
"""


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.errors


def test_a_valid_site_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.site.id == "farm"
    assert config.server.endpoint == "opc.tcp://127.0.0.1:4840/ampacity"
    assert config.server.data_dir == (tmp_path / "ampacity-data").resolve()
    assert [d.id for d in config.devices] == ["grid-meter", "wallbox"]
    assert config.devices[0].role == "grid"
    assert config.buses[0].parity == "E"


def test_a_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    text = VALID.replace("    unit_id: 3\n", "    unit_id: 3\n    port: abc\n")
    errors = errors_of(write(tmp_path, text))
    assert len(errors) == 1
    assert errors[0].startswith("site.yaml:18: devices[1].port: ")
    assert "valid integer" in errors[0]


def test_every_problem_is_reported_with_its_own_line(tmp_path: Path) -> None:
    text = VALID.replace("    role: grid\n", "    role: grid\n    colour: red\n").replace(
        "    baudrate: 19200\n", "    baudrate: -5\n"
    )
    errors = errors_of(write(tmp_path, text))
    assert any(e.startswith("site.yaml:7: buses[0].baudrate: ") for e in errors), errors
    assert any(
        e.startswith("site.yaml:14: devices[0].colour: Extra inputs are not permitted")
        for e in errors
    ), errors


def test_an_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, VALID.replace("siemens_sentron_pac2200", "pac9000")))
    assert errors[0].startswith("site.yaml:11: devices[0].profile: unknown profile 'pac9000'")
    assert "siemens_sentron_pac2200" in errors[0]


def test_cross_references_are_located_at_the_offending_entry(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, VALID.replace("bus: rs485", "bus: rs232")))
    assert errors == ["site.yaml:16: devices[1].bus: unknown bus 'rs232' (buses: rs485)"]
    errors = errors_of(write(tmp_path, VALID.replace("id: wallbox", "id: grid-meter")))
    assert errors == ["site.yaml:14: devices[1].id: device id 'grid-meter' is used twice"]
    errors = errors_of(write(tmp_path, VALID.replace("    bus: rs485\n", "")))
    assert errors == [
        "site.yaml:14: devices[1]: give either 'host' (Modbus TCP) or 'bus' (RS485), "
        "not both or none"
    ]
    twice = VALID.replace("buses:\n", "buses:\n  - id: rs485\n    device: /dev/ttyUSB1\n")
    errors = errors_of(write(tmp_path, twice))
    assert errors == ["site.yaml:7: buses[1].id: bus id 'rs485' is used twice"]
    errors = errors_of(
        write(tmp_path, VALID.replace("    unit_id: 3\n", "    unit_id: 3\n    role: grid\n"))
    )
    assert errors == ["site.yaml:18: devices[1].role: 'role' applies to meters only"]


def test_a_meters_role_comes_from_the_site_file_not_the_profile(tmp_path: Path) -> None:
    from ampacity.drivers.profile import all_profiles

    for profile in ("janitza_umg604", "siemens_sentron_pac2200"):
        meter = all_profiles()[profile].assets[0]
        assert "Role" not in meter.points  # the server publishes Role from `role:`


SITE_PROFILE = """id: acme_em300
manufacturer: ACME
products: [EM300]
source: ACME EM300 Modbus manual rev. 2 (a made-up meter for this test)
assets:
  - key: meter
    kind: ElectricityMeter
    points:
      ActivePower: {address: 0, type: f32}
"""


def test_a_site_carries_its_own_profiles(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "acme_em300.yaml").write_text(SITE_PROFILE)
    site = VALID + "  - id: sub\n    profile: acme_em300\n    host: 192.0.2.11\n"
    config = load_config(write(tmp_path, "profiles_dir: profiles\n" + site))
    assert config.devices[2].profile == "acme_em300"
    assert config.profile_catalog()["acme_em300"].manufacturer == "ACME"
    listed = run_cli("devices", "--config", str(tmp_path / "site.yaml"))
    assert listed.returncode == 0, listed.stderr
    assert "acme_em300  [ElectricityMeter]  ACME  (site profile)" in listed.stdout


def test_a_broken_site_profile_is_located_in_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    broken = SITE_PROFILE.replace("type: f32", "type: f33")
    (tmp_path / "profiles" / "acme_em300.yaml").write_text(broken)
    (tmp_path / "profiles" / "siemens_sentron_pac2200.yaml").write_text(
        SITE_PROFILE.replace("acme_em300", "siemens_sentron_pac2200")
    )
    errors = errors_of(write(tmp_path, "profiles_dir: profiles\n" + VALID))
    assert errors[0].startswith(
        "site.yaml:1: profiles_dir: acme_em300.yaml:9: "
        "assets[0].points.ActivePower.type: Input should be"
    )
    (tmp_path / "profiles" / "acme_em300.yaml").write_text(SITE_PROFILE)
    errors = errors_of(write(tmp_path, "profiles_dir: profiles\n" + VALID))
    assert errors == [
        "site.yaml:1: profiles_dir: profiles/siemens_sentron_pac2200.yaml: id "
        "'siemens_sentron_pac2200' is a shipped profile; give yours another id"
    ]


def test_ids_that_would_break_node_ids_are_refused(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, VALID.replace("id: wallbox", "id: wall.box")))
    assert errors[0].startswith("site.yaml:14: devices[1].id: String should match pattern")


def test_yaml_syntax_errors_are_located(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, "site:\n  id: [unclosed\n"))
    assert errors[0].startswith("site.yaml:2: ")  # where the '[' is, not the end of the file


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, "- just\n- a list\n"))
    assert errors == ["site.yaml:1: the file must hold a mapping (site:, devices:, ...)"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ampacity.server.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_exits_0_on_a_good_file(tmp_path: Path) -> None:
    result = run_cli("check", str(write(tmp_path, VALID)))
    assert result.returncode == 0, result.stderr
    assert "site.yaml: OK (2 devices, 1 buses)" in result.stdout


def test_check_and_run_exit_2_with_located_errors_and_start_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("host: 192.0.2.10", "host: 192.0.2.10\n    port: 70000"))
    for command in ("check", "run"):
        args = (command, str(path)) if command == "check" else (command, "--config", str(path))
        result = run_cli(*args)
        assert result.returncode == 2
        assert "site.yaml:13: devices[0].port: Input should be less than or equal to 65535" in (
            result.stderr
        )
        assert "serves" not in result.stdout
    assert not (tmp_path / "ampacity-data").exists()


CONTROLLED = (
    VALID
    + """\
ripple_control:
  - id: rcr
    source: {type: modbus, host: 192.0.2.20, function: discrete_input, addresses: [0, 1, 2, 3]}
    dimming_contact: 4
tariffs:
  - {id: tariff, provider: awattar, market: AT}
control:
  grid_meter: grid-meter
  charge_points: [{id: wallbox, mode: 3}]
  ripple_control: [rcr]
  tariff: tariff
  dimming: {signal: rcr.Contact4, consumers: [{id: wallbox, kind: charge_point}]}
  strategy:
    if: {between: ["17:00", "21:00"]}
    then: self-consumption
    else: self-consumption
"""
)


def test_a_controlled_site_with_signals_and_a_tariff_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONTROLLED))
    assert config.control is not None
    assert config.control.charge_points[0].mode == 3
    assert config.control.dimming is not None
    assert config.control.dimming.share_w() == 4200.0
    assert [r.id for r in config.ripple_control] == ["rcr"]
    assert config.tariffs[0].market == "AT"
    assert "rcr" in config.asset_ids() and "tariff" in config.asset_ids()


@pytest.mark.parametrize(
    ("typo", "message"),
    [
        ("grid_meter: grid-meter", "control.grid_meter: no asset 'grid-metre'"),
        ("charge_points: [{id: wallbox,", "control.charge_points[0].id: no asset 'walbox'"),
        ("signal: rcr.Contact4", "control.dimming.signal: no asset 'rc'"),
    ],
)
def test_the_control_names_only_assets_that_exist(tmp_path: Path, typo: str, message: str) -> None:
    wrong = {
        "grid_meter: grid-meter": "grid_meter: grid-metre",
        "charge_points: [{id: wallbox,": "charge_points: [{id: walbox,",
        "signal: rcr.Contact4": "signal: rc.Contact4",
    }[typo]
    errors = errors_of(write(tmp_path, CONTROLLED.replace(typo, wrong)))
    assert len(errors) == 1
    assert message in errors[0]
