"""Rows left open say why, and a row is either served or open, never both."""

from __future__ import annotations

from ampacity.drivers.catalog import catalogue, compatibility_rows, open_reasons, uncovered_rows


def test_a_row_with_a_reason_is_not_served_and_exists() -> None:
    served = {row.id for entry in catalogue() for row in entry.rows}
    reasons = open_reasons()
    assert set(reasons) <= set(compatibility_rows())
    assert not set(reasons) & served
    assert set(reasons) <= {row.id for row in uncovered_rows()}
    assert all(len(reason) >= 20 for reason in reasons.values())  # a reason, not a word


def test_every_registered_driver_package_is_found() -> None:
    from ampacity.drivers.registry import builtin_plugins, driver_types

    assert {
        "ampacity.drivers.modbus.plugin",
        "ampacity.drivers.sunspec.plugin",
        "ampacity.drivers.signals.plugin",
        "ampacity.drivers.tariffs.plugin",
    } <= set(builtin_plugins())
    assert {"modbus", "sunspec", "ripple_control", "tariffs"} <= set(driver_types())
