"""Registers the SunSpec driver: ``driver: sunspec`` profiles, devices found by model discovery."""

from __future__ import annotations

from ampacity.drivers.base import Driver
from ampacity.drivers.modbus.plugin import ModbusConnection, device_config, links_of, read_target
from ampacity.drivers.profile import PROFILE_DIR, Profile
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType, register

from .driver import SunSpecDriver

DISCOVERY_TIMEOUT_S = 8.0
"""How long start-up waits for a SunSpec device to show its model chain before using the
profile's declared assets (the driver keeps trying afterwards)."""


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    assert isinstance(entry.profile, Profile)
    driver = SunSpecDriver.from_device_config(
        entry.profile,
        device_config(entry, context),
        registry=links_of(context),
        meter_role=entry.role or "sub",
    )
    await driver.discover(DISCOVERY_TIMEOUT_S)
    return driver


SUNSPEC = register(
    DriverType(
        name="sunspec",
        summary="SunSpec Modbus (model chain discovered at start)",
        profile_schema=Profile,
        connection_schema=ModbusConnection,
        create=create,
        profile_dirs=(PROFILE_DIR,),
        target=read_target,
    )
)
