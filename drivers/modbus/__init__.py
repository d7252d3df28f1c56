"""Modbus TCP/RTU: shared links with one request queue each, and the generic profile engine.

Build a driver from a profile and a device config::

    from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, SerialBus, TcpEndpoint

    tcp = ModbusDriver.from_profile_id("some_profile", ModbusDeviceConfig(
        "inverter", tcp=TcpEndpoint("192.0.2.10", 502)))
    rtu = ModbusDriver(profile, ModbusDeviceConfig(
        "meter", serial=SerialBus("/dev/ttyUSB0", baudrate=9600), unit_id=2))
"""

from .backoff import Backoff, Clock, SystemClock
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
