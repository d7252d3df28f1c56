"""Modbus TCP/RTU: shared links with one request queue each, and the generic profile engine.

Build a driver from a profile and a device config; the server keeps one ``LinkRegistry`` for the
site (so drivers of one ``host:port`` or one RS485 bus share a connection) and closes it with
``await registry.aclose()`` at shutdown::

    from ampacity.drivers.modbus import (
        LinkRegistry, ModbusDeviceConfig, ModbusDriver, SerialBus, TcpEndpoint)

    links = LinkRegistry()
    inverter = ModbusDriver.from_profile_id(
        "sma_sunny_tripower",
        ModbusDeviceConfig("inverter", tcp=TcpEndpoint("192.0.2.10", 502)),
        registry=links,
    )
    meter = ModbusDriver(
        profile,  # a drivers.profile.Profile
        ModbusDeviceConfig("meter", serial=SerialBus("/dev/ttyUSB0", baudrate=9600), unit_id=2),
        registry=links,
    )
    # inverter.assets -> AssetInfo; await inverter.run(sink); await inverter.write(id, point, v)
"""

from ampacity.drivers.runtime.backoff import Backoff, Clock, SystemClock

from .config import ModbusDeviceConfig, SerialBus, TcpEndpoint
from .driver import ModbusDriver
from .link import QueuedLink
from .registry import DEFAULT_REGISTRY, LinkRegistry
from .rtu import RtuLink, SerialSettings
from .tcp import TcpLink
from .transport import ModbusExceptionResponse, ModbusIOError, ModbusLink

__all__ = [
    "DEFAULT_REGISTRY",
    "Backoff",
    "Clock",
    "LinkRegistry",
    "ModbusDeviceConfig",
    "ModbusDriver",
    "ModbusExceptionResponse",
    "ModbusIOError",
    "ModbusLink",
    "QueuedLink",
    "RtuLink",
    "SerialBus",
    "SerialSettings",
    "SystemClock",
    "TcpEndpoint",
    "TcpLink",
]
