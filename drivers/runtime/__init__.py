"""The device runtime: one implementation of what every driver shares.

* ``DeviceRuntime`` - point caches with the quality transitions, ``Health``, the failure log
  (one line per state change), publishing, the staleness watchdog;
* ``SetpointMemory`` - setpoints refreshed before the device's fallback timer, re-sent after a
  reconnect;
* ``Backoff`` and ``Clock`` - retry pacing with jitter on an injectable clock;
* ``PolledDriver`` - a whole driver from a protocol's ``DeviceLink`` (``read`` / ``write``).
"""

from .backoff import SYSTEM_CLOCK, Backoff, Clock, SystemClock
from .device import STALE_AFTER_INTERVALS, DeviceRuntime, Setpoint, SetpointMemory
from .errors import describe, serial_device_problem
from .health import DeviceHealth, FailureLog
from .points import PointCache
from .polled import (
    AssetPlan,
    DeviceError,
    DeviceLink,
    PointKey,
    PolledDriver,
    Sample,
    SetpointSpec,
)

__all__ = [
    "STALE_AFTER_INTERVALS",
    "SYSTEM_CLOCK",
    "AssetPlan",
    "Backoff",
    "Clock",
    "DeviceError",
    "DeviceHealth",
    "DeviceLink",
    "DeviceRuntime",
    "FailureLog",
    "PointCache",
    "PointKey",
    "PolledDriver",
    "Sample",
    "Setpoint",
    "SetpointMemory",
    "SetpointSpec",
    "SystemClock",
    "describe",
    "serial_device_problem",
]
