"""Registers the ``pulse`` driver: an S0 pulse meter counted by a Modbus I/O module's counter.

The site file says where the counter register is and the meter's pulses per kWh::

    devices:
      - id: heat-pump-meter
        profile: pulse_meter
        host: 192.168.1.60          # the I/O module (or bus: <RS485 bus id>)
        unit_id: 1
        counter_address: 0          # 0-based register address of the input's counter
        counter_type: u32           # u16 or u32 (wrap-around at 2**16 or 2**32)
        pulses_per_kwh: 1000        # printed on the meter (imp/kWh)
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ampacity.assets import AssetKind, PointValue
from ampacity.drivers.base import Driver
from ampacity.drivers.modbus import ModbusIOError, QueuedLink, SerialSettings
from ampacity.drivers.modbus.plugin import links_of
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import (
    BuildContext,
    DeviceEntry,
    DriverType,
    ReadTarget,
    register,
)
from ampacity.drivers.runtime import (
    SYSTEM_CLOCK,
    AssetPlan,
    Clock,
    DeviceError,
    PointKey,
    PolledDriver,
    Sample,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .counter import PulseCounter

PROFILES = Path(__file__).parent / "profiles"


class PulseProfile(ProfileHeader):
    """A ``driver: pulse`` profile: defaults for the counter and the meter asset.

    Attributes:
        key: the meter asset's key.
        function: the counter's register table (``holding`` FC3 or ``input`` FC4).
        counter_type: ``u16`` or ``u32``.
        word_order: of a ``u32`` counter (``big``: high word first).
        port: Modbus TCP port.
        unit_id: Modbus unit id.
        max_power_w: the most the metered circuit can carry (separates a wrap from a reset).
        idle_zero_s: without a pulse for this long the power is 0.
        timeout_s: answer timeout.
    """

    driver: str = "pulse"
    key: str = "meter"
    function: Literal["holding", "input"] = "holding"
    counter_type: Literal["u16", "u32"] = "u32"
    word_order: Literal["big", "little"] = "big"
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255)
    max_power_w: float = Field(50_000.0, gt=0)
    idle_zero_s: float = Field(300.0, gt=0)
    timeout_s: float = Field(1.0, gt=0, le=30)

    def asset_kinds(self) -> tuple[tuple[str, AssetKind], ...]:
        return ((self.key, AssetKind.ELECTRICITY_METER),)


class PulseConnection(BaseModel):
    """The I/O module and the counter: where it is and what one pulse is worth."""

    model_config = ConfigDict(extra="forbid")
    host: str | None = Field(None, description="Modbus TCP address of the I/O module.")
    port: int | None = Field(None, ge=1, le=65535, description="Defaults to the profile's.")
    bus: str | None = Field(None, description="Id of an RS485 bus of the site (Modbus RTU).")
    unit_id: int | None = Field(None, ge=0, le=255, description="Defaults to the profile's.")
    counter_address: int = Field(ge=0, le=65535, description="0-based counter register address.")
    counter_type: Literal["u16", "u32"] | None = Field(None, description="Profile's by default.")
    function: Literal["holding", "input"] | None = Field(None, description="Profile's default.")
    word_order: Literal["big", "little"] | None = None
    pulses_per_kwh: float = Field(gt=0, le=100_000, description="The meter's imp/kWh.")
    offset_wh: float = Field(0.0, description="Added to the energy (match the meter display).")
    max_power_w: float | None = Field(None, gt=0, description="Profile's by default.")

    @model_validator(mode="after")
    def _one_transport(self) -> PulseConnection:
        if (self.host is None) == (self.bus is None):
            raise ValueError("give either 'host' (Modbus TCP) or 'bus' (RS485), not both or none")
        return self


class PulseLink:
    """Reads the counter register and turns it into energy and power."""

    def __init__(
        self,
        link: QueuedLink,
        release: Any,
        *,
        key: str,
        unit_id: int,
        address: int,
        function: str,
        counter_type: str,
        word_order: str,
        counter: PulseCounter,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.link = link
        self._release = release
        self.key = key
        self.unit_id = unit_id
        self.address = address
        self.function = function
        self.counter_type = counter_type
        self.word_order = word_order
        self.counter = counter
        self.clock = clock

    @property
    def endpoint(self) -> str:
        return f"{self.link.endpoint} unit {self.unit_id} counter at {self.address}"

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        count = self.decode(await self._registers())
        reading = self.counter.update(count, self.clock.monotonic())
        out: dict[PointKey, PointValue | Sample] = {
            (self.key, "EnergyImported"): round(reading.energy_wh, 6)
        }
        if reading.power_w is not None:
            out[(self.key, "ActivePower")] = round(reading.power_w, 3)
        return out

    async def _registers(self) -> list[int]:
        words = 2 if self.counter_type == "u32" else 1
        read = self.link.read_input_registers
        if self.function == "holding":
            read = self.link.read_holding_registers
        try:
            return await read(self.unit_id, self.address, words)
        except ModbusIOError as exc:
            raise DeviceError(str(exc)) from exc

    def decode(self, registers: list[int]) -> int:
        if self.counter_type == "u16":
            return registers[0]
        high, low = registers if self.word_order == "big" else registers[::-1]
        value: int = struct.unpack(">I", struct.pack(">HH", high, low))[0]
        return value

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        raise DeviceError(f"{point[0]}.{point[1]}: a pulse meter has no setpoints")

    async def close(self) -> None:
        await self._release(self.link)


def read_target(target: ReadTarget) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``ampacity read pulse_meter --host/--port/--unit``; the counter keys need a site file."""
    keys: dict[str, Any] = {}
    if target.host is not None:
        keys["host"] = target.host
    if target.port is not None:
        keys["port"] = target.port
    if target.unit is not None:
        keys["unit_id"] = target.unit
    return keys, []


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, PulseProfile)
    c = entry.connection
    assert isinstance(c, PulseConnection)
    links = links_of(context)
    link: QueuedLink
    if c.bus is not None:
        line = context.buses[c.bus]
        settings = SerialSettings(
            baudrate=line.baudrate,
            parity=line.parity,  # type: ignore[arg-type]
            stopbits=line.stopbits,  # type: ignore[arg-type]
            bytesize=line.bytesize,  # type: ignore[arg-type]
        )
        gap = (line.inter_frame_gap_ms or 5.0) / 1000.0
        link = links.rtu(line.device, settings, inter_frame_gap_s=gap, timeout_s=line.timeout_s)
    else:
        assert c.host is not None
        link = links.tcp(c.host, c.port or profile.port, timeout_s=profile.timeout_s)
    counter_type = c.counter_type or profile.counter_type
    counter = PulseCounter(
        c.pulses_per_kwh,
        bits=16 if counter_type == "u16" else 32,
        max_power_w=c.max_power_w or profile.max_power_w,
        idle_zero_s=profile.idle_zero_s,
        offset_wh=c.offset_wh,
    )
    plan = AssetPlan(
        profile.key,
        entry.asset_ids[profile.key],
        AssetKind.ELECTRICITY_METER,
        ("ActivePower", "EnergyImported"),
        identification={
            "Manufacturer": profile.manufacturer,
            "Model": f"S0 pulse meter, {c.pulses_per_kwh:g} imp/kWh",
            "DeviceProfile": profile.id,
        },
    )
    pulse_link = PulseLink(
        link,
        links.release,
        key=profile.key,
        unit_id=c.unit_id if c.unit_id is not None else profile.unit_id,
        address=c.counter_address,
        function=c.function or profile.function,
        counter_type=counter_type,
        word_order=c.word_order or profile.word_order,
        counter=counter,
    )
    return PolledDriver(
        entry.device_id,
        [plan],
        pulse_link,
        poll_s=entry.poll_s or profile.poll_s,
        timeout_s=profile.timeout_s * 2,
        backoff_max_s=30.0,
    )


PULSE = register(
    DriverType(
        name="pulse",
        summary="S0 pulse meters counted by a Modbus I/O module's counter register",
        profile_schema=PulseProfile,
        connection_schema=PulseConnection,
        create=create,
        profile_dirs=(PROFILES,),
        target=read_target,
    )
)
