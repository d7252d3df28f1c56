"""Drivers from the site configuration, through the driver registry: one per configured device,
receiver and tariff. Nothing here knows a protocol."""

from __future__ import annotations

import asyncio

from ampacity.drivers.base import Driver
from ampacity.drivers.registry import (
    BuildContext,
    DeviceEntry,
    SerialLine,
    driver_type,
    driver_types,
)

from .config import DeviceConfig, SiteConfig, device_asset_ids


def build_context(config: SiteConfig) -> BuildContext:
    """What the site's drivers share: its RS485 lines (and, made on demand, shared links)."""
    buses = {
        bus.id: SerialLine(
            bus.id,
            bus.device,
            baudrate=bus.baudrate,
            parity=bus.parity,
            stopbits=bus.stopbits,
            bytesize=bus.bytesize,
            timeout_s=bus.timeout_s,
            inter_frame_gap_ms=bus.inter_frame_gap_ms,
        )
        for bus in config.buses
    }
    return BuildContext(buses=buses)


def device_entry(config: SiteConfig, device: DeviceConfig) -> DeviceEntry:
    """The driver's view of one configured device."""
    profile = config.profile_catalog()[device.profile]
    return DeviceEntry(
        device.id,
        profile,
        device.connection,
        device_asset_ids(device, profile),
        poll_s=device.poll_s,
        role=device.role,
    )


async def build_drivers(config: SiteConfig, context: BuildContext | None = None) -> list[Driver]:
    """Create every device's driver (concurrently: SunSpec devices are discovered first), then
    every driver configured in a section of its own (ripple control, tariffs)."""
    context = context or build_context(config)
    made = []
    for device in config.devices:
        entry = device_entry(config, device)
        create = driver_type(entry.profile.driver).create
        assert create is not None, f"driver {entry.profile.driver} builds no devices"
        made.append(create(entry, context))
    drivers: list[Driver] = list(await asyncio.gather(*made))
    for dtype in driver_types().values():
        if dtype.section is None or dtype.create_from_section is None:
            continue
        for section_entry in getattr(config, dtype.section, ()):
            drivers.append(dtype.create_from_section(section_entry, context))
    return drivers
