"""Drivers from the site configuration: one per configured device."""

from __future__ import annotations

import asyncio
import logging

from ampacity.drivers.base import Driver
from ampacity.drivers.modbus import (
    LinkRegistry,
    ModbusDeviceConfig,
    ModbusDriver,
    SerialBus,
    TcpEndpoint,
)
from ampacity.drivers.profile import all_profiles
from ampacity.drivers.sunspec import SunSpecDriver

from .config import DeviceConfig, SiteConfig

log = logging.getLogger(__name__)

DISCOVERY_TIMEOUT_S = 8.0
"""How long start-up waits for a SunSpec device to show its model chain before using the
profile's declared assets (the driver keeps trying afterwards)."""


async def build_drivers(config: SiteConfig, links: LinkRegistry | None = None) -> list[Driver]:
    """Create every device's driver; SunSpec devices are discovered (concurrently) first."""
    links = links or LinkRegistry()
    buses = {bus.id: bus for bus in config.buses}
    drivers: list[Driver] = []
    discoveries = []
    for device in config.devices:
        profile = all_profiles()[device.profile]
        if profile.protocol == "sunspec":
            sunspec = _sunspec_driver(device, links)
            drivers.append(sunspec)
            discoveries.append(sunspec.discover(DISCOVERY_TIMEOUT_S))
            continue
        serial = None
        tcp = None
        if device.bus is not None:
            bus = buses[device.bus]
            serial = SerialBus(
                bus.device,
                baudrate=bus.baudrate,
                parity=bus.parity,
                stopbits=bus.stopbits,
                bytesize=bus.bytesize,
                inter_frame_gap_ms=bus.inter_frame_gap_ms,
            )
        else:
            assert device.host is not None  # the config schema requires host or bus
            tcp = TcpEndpoint(device.host, device.port)
        drivers.append(
            ModbusDriver(
                profile,
                ModbusDeviceConfig(
                    device.id,
                    tcp=tcp,
                    serial=serial,
                    unit_id=device.unit_id,
                    asset_ids=_asset_ids(device, [a.key for a in profile.assets]),
                    poll_s=device.poll_s,
                ),
                registry=links,
            )
        )
    if discoveries:
        await asyncio.gather(*discoveries)
    return drivers


def _asset_ids(device: DeviceConfig, keys: list[str]) -> dict[str, str]:
    """Asset id per profile key: the renames, else ``<id>`` (one asset) or ``<id>-<key>``."""
    if len(keys) == 1:
        return {keys[0]: device.assets.get(keys[0], device.id)}
    return {key: device.assets.get(key, f"{device.id}-{key}") for key in keys}


def _sunspec_driver(device: DeviceConfig, links: LinkRegistry) -> SunSpecDriver:
    profile = all_profiles()[device.profile]
    assert device.host is not None, "SunSpec devices are reached over Modbus TCP"
    port = device.port or profile.transport.port
    host = device.host

    def link_factory():  # type: ignore[no-untyped-def]
        return links.tcp(host, port, timeout_s=profile.transport.timeout_s)

    return SunSpecDriver(
        device.id,
        link_factory,
        profile=profile,
        unit_id=device.unit_id,
        asset_ids=device.assets,
        poll_s=device.poll_s,
        meter_role=device.role or "grid",
    )
