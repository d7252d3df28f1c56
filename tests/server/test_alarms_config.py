"""The site file's ``alarms:`` section: defaults, overrides, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from ampacity.server.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_defaults_without_an_alarms_section(tmp_path: Path) -> None:
    alarms = load_config(write(tmp_path, "site: {id: s}\n")).alarms
    assert alarms.enabled is True
    assert (alarms.comm_lost.severity, alarms.comm_lost.enabled) == (700, True)
    assert (alarms.dimming.severity, alarms.ripple_stage.severity) == (100, 100)
    assert (alarms.failsafe.confirm, alarms.comm_lost.confirm) == (True, False)
    assert (alarms.soc_floor_pct, alarms.limit_delay_s, alarms.limit_hysteresis_w) == (
        10.0,
        10.0,
        200.0,
    )


def test_overrides_per_kind_and_thresholds(tmp_path: Path) -> None:
    text = (
        "site: {id: s}\n"
        "alarms:\n"
        "  comm_lost: {severity: 900, confirm: true}\n"
        "  dimming: {enabled: false}\n"
        "  soc_floor_pct: 15\n"
        "  disk_buffer_max_bytes: 1000000\n"
    )
    alarms = load_config(write(tmp_path, text)).alarms
    assert (alarms.comm_lost.severity, alarms.comm_lost.confirm) == (900, True)
    assert alarms.dimming.enabled is False
    assert alarms.dimming.severity == 100  # the kind's default severity stays
    assert (alarms.soc_floor_pct, alarms.disk_buffer_max_bytes) == (15.0, 1_000_000)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  comm_lost: {severity: 1200}\n", "site.yaml:3: alarms.comm_lost.severity"),
        ("  comm_lots: {severity: 100}\n", "site.yaml:3: alarms.comm_lots"),
        ("  limit_delay_s: -1\n", "site.yaml:3: alarms.limit_delay_s"),
        ("  soc_floor_pct: 90\n  soc_ceiling_pct: 80\n", "soc_floor_pct must be below"),
    ],
)
def test_bad_alarm_settings_are_located(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "site: {id: s}\nalarms:\n" + body))
    assert expected in str(info.value)
