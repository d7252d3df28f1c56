"""Drivers from the site configuration: one per configured device, receiver and tariff."""

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
from ampacity.drivers.signals import RippleReceiverDriver
from ampacity.drivers.sunspec import SunSpecDriver
from ampacity.drivers.tariffs import TariffDriver

from .config import DeviceConfig, SiteConfig

log = logging.getLogger(__name__)

DISCOVERY_TIMEOUT_S = 8.0
"""How long start-up waits for a SunSpec device to show its model chain before using the
profile's declared assets (the driver keeps trying afterwards)."""


async def build_drivers(config: SiteConfig, links: LinkRegistry | None = None) -> list[Driver]:
    """Create every device's driver; SunSpec devices are discovered (concurrently) first."""
    links = links or LinkRegistry()
    drivers: list[Driver] = []
    discoveries = []
    for device in config.devices:
        profile = all_profiles()[device.profile]
        device_config = _device_config(config, device, [a.key for a in profile.assets])
        if profile.protocol == "sunspec":
            sunspec = SunSpecDriver.from_device_config(
                profile, device_config, registry=links, meter_role=device.role or "grid"
            )
            drivers.append(sunspec)
            discoveries.append(sunspec.discover(DISCOVERY_TIMEOUT_S))
        else:
            drivers.append(ModbusDriver(profile, device_config, registry=links))
    for receiver in config.ripple_control:
        drivers.append(RippleReceiverDriver(receiver, links=links))
    for tariff in config.tariffs:
        drivers.append(TariffDriver(tariff))
    if discoveries:
        await asyncio.gather(*discoveries)
    return drivers


def _device_config(config: SiteConfig, device: DeviceConfig, keys: list[str]) -> ModbusDeviceConfig:
    """The engine's view of one configured device (TCP endpoint or RS485 bus)."""
    serial = None
    tcp = None
    if device.bus is not None:
        bus = next(b for b in config.buses if b.id == device.bus)
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
    return ModbusDeviceConfig(
        device.id,
        tcp=tcp,
        serial=serial,
        unit_id=device.unit_id,
        asset_ids=_asset_ids(device, keys),
        poll_s=device.poll_s,
    )


def _asset_ids(device: DeviceConfig, keys: list[str]) -> dict[str, str]:
    """Asset id per profile key: the renames, else ``<id>`` (one asset) or ``<id>-<key>``."""
    if len(keys) == 1:
        return {keys[0]: device.assets.get(keys[0], device.id)}
    return {key: device.assets.get(key, f"{device.id}-{key}") for key in keys}
