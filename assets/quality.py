"""Quality of a value: the small set of OPC UA StatusCodes the model uses (architecture §3)."""

from __future__ import annotations

from enum import Enum


class Quality(Enum):
    """What a user needs to know about a value, mapped one-to-one onto OPC UA StatusCodes.

    The enum value is the 32-bit OPC UA StatusCode.
    """

    GOOD = 0x00000000
    """Read from the device in the last poll."""
    UNCERTAIN_LAST_USABLE = 0x40900000
    """UncertainLastUsableValue: the device stopped answering; value kept, timestamp old."""
    UNCERTAIN_SUBSTITUTE = 0x40910000
    """UncertainSubstituteValue: not measured by the device but derived by the driver (e.g. a
    meter's power from the change of its energy counter when the meter sends no power)."""
    BAD_COMMUNICATION_ERROR = 0x80050000
    """BadCommunicationError: the device never answered since start."""
    BAD_OUT_OF_RANGE = 0x803C0000
    """BadOutOfRange: the device reported a "not available" sentinel for a range-limited value."""
    BAD_SENSOR_FAILURE = 0x808D0000
    """BadSensorFailure: the device reported that the measurement itself failed."""
    BAD_WAITING_FOR_INITIAL_DATA = 0x80320000
    """BadWaitingForInitialData: the node exists, no read has been attempted yet."""

    @property
    def is_good(self) -> bool:
        return self is Quality.GOOD

    @property
    def is_bad(self) -> bool:
        return self.value & 0x80000000 != 0
