"""The engine's shared links for a configured SunSpec device (TCP endpoint or RS485 bus)."""

from __future__ import annotations

from ampacity.drivers.modbus.config import ModbusDeviceConfig
from ampacity.drivers.modbus.link import QueuedLink
from ampacity.drivers.modbus.registry import LinkRegistry
from ampacity.drivers.modbus.rtu import SerialSettings
from ampacity.drivers.profile import Profile


def shared_link(profile: Profile, config: ModbusDeviceConfig, registry: LinkRegistry) -> QueuedLink:
    """One more user of the link to ``config``'s endpoint or bus; settings the configuration
    leaves open come from the profile's ``transport`` (as the Modbus engine does)."""
    t = profile.transport
    timeout_s = config.timeout_s or t.timeout_s
    if config.tcp is not None:
        return registry.tcp(
            config.tcp.host,
            config.tcp.port or t.port,
            timeout_s=timeout_s,
            request_gap_s=t.request_gap_ms / 1000.0,
            connect_delay_s=t.connect_delay_s,
        )
    bus = config.serial
    assert bus is not None  # ModbusDeviceConfig holds exactly one of tcp and serial
    settings = SerialSettings(
        baudrate=bus.baudrate or t.serial.baudrate,
        parity=bus.parity or t.serial.parity,
        stopbits=bus.stopbits or t.serial.stopbits,
        bytesize=bus.bytesize or t.serial.bytesize,
    )
    gap_ms = t.inter_frame_gap_ms if bus.inter_frame_gap_ms is None else bus.inter_frame_gap_ms
    return registry.rtu(bus.device, settings, inter_frame_gap_s=gap_ms / 1000, timeout_s=timeout_s)
