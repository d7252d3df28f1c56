"""The hybrid driver: a family's reads and battery writes over the site's shared Modbus links.

Reads and writes go through ``drivers.modbus`` links (one connection per ``host:port`` or RS485
bus, shared with other devices there); the device runtime (``PolledDriver``) does poll pacing,
qualities, ``Health``, backoff and the write path (range check, clamp, refresh before the
device's own fallback). Closing the driver hands the battery back to the device's own control
if the driver commanded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from ampacity.assets import AssetKind, PointValue
from ampacity.drivers.base import AssetInfo, Driver
from ampacity.drivers.modbus import ModbusExceptionResponse, ModbusIOError, ModbusLink, QueuedLink
from ampacity.drivers.modbus.plugin import ModbusConnection, links_of, read_target
from ampacity.drivers.modbus.rtu import SerialSettings
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType
from ampacity.drivers.runtime import (
    AssetPlan,
    DeviceError,
    PointKey,
    PolledDriver,
    Sample,
    SetpointSpec,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .families import FAMILIES, Registers

log = logging.getLogger("ampacity.drivers.hybrid")

PROFILES = Path(__file__).parent / "profiles"
SETPOINT = "BatteryPowerSetpoint"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HybridSerial(_Strict):
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class HybridTransport(_Strict):
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=255)
    timeout_s: float = Field(1.0, gt=0, le=30)
    serial: HybridSerial = HybridSerial()
    inter_frame_gap_ms: float = Field(20.0, ge=0)


class HybridSetpoint(_Strict):
    """``BatteryPowerSetpoint`` bounds (W, >= 0 each) and the re-send period (s)."""

    max_charge_w: float = Field(gt=0)
    max_discharge_w: float = Field(gt=0)
    refresh_s: float = Field(30.0, gt=0)


class HybridProfile(ProfileHeader):
    driver: Literal["hybrid"] = "hybrid"
    family: str = Field(description="Which family's logic serves the device.")
    transport: HybridTransport = HybridTransport()
    setpoint: HybridSetpoint

    @model_validator(mode="after")
    def _known_family(self) -> HybridProfile:
        if self.family not in FAMILIES:
            raise ValueError(f"family: unknown {self.family!r}; known: {', '.join(FAMILIES)}")
        return self

    def asset_kinds(self) -> tuple[tuple[str, AssetKind], ...]:
        return tuple((key, kind) for key, kind, _ in FAMILIES[self.family].assets)


class HybridLink:
    """A family's reads and writes on one unit id of a shared Modbus link."""

    def __init__(self, link: ModbusLink, unit_id: int, family: str, registry: Any = None) -> None:
        self.io = Registers(link, unit_id)
        self.family = FAMILIES[family]()
        self._commanded = False
        self._registry = registry

    @property
    def endpoint(self) -> str:
        return f"{self.io.link.endpoint} unit {self.io.unit_id}"

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        try:
            return await self.family.read(self.io)
        except ModbusExceptionResponse as exc:
            raise DeviceError(str(exc)) from exc
        except ModbusIOError as exc:
            raise OSError(str(exc)) from exc

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        if point[1] != SETPOINT:
            raise DeviceError(f"{point[0]}.{point[1]} is not writable here")
        try:
            back = await self.family.write_battery(self.io, float(value))
        except ModbusExceptionResponse as exc:
            raise DeviceError(str(exc)) from exc
        except ModbusIOError as exc:
            raise OSError(str(exc)) from exc
        self._commanded = True
        return back

    async def close(self) -> None:
        if self._commanded:
            self._commanded = False
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self.family.release(self.io)
                log.info("%s: battery back under the device's own control", self.endpoint)
        link = self.io.link
        if isinstance(link, QueuedLink) and self._registry is not None:
            await self._registry.release(link)


class HybridDriver(PolledDriver):
    """A ``PolledDriver`` whose family may declare setpoints the device cannot report back."""

    write_only: tuple[str, ...] = ()

    @property
    def assets(self) -> tuple[AssetInfo, ...]:
        return tuple(
            replace(info, write_only=tuple(p for p in self.write_only if p in info.points))
            for info in super().assets
        )


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, HybridProfile)
    connection = entry.connection
    assert isinstance(connection, ModbusConnection)
    t = profile.transport
    registry = links_of(context)
    link: QueuedLink
    if connection.bus is not None:
        line = context.buses[connection.bus]
        settings = SerialSettings(
            baudrate=line.baudrate,
            parity=line.parity,  # type: ignore[arg-type]
            stopbits=line.stopbits,  # type: ignore[arg-type]
            bytesize=line.bytesize,  # type: ignore[arg-type]
        )
        gap = (
            line.inter_frame_gap_ms if line.inter_frame_gap_ms is not None else t.inter_frame_gap_ms
        )
        link = registry.rtu(
            line.device, settings, inter_frame_gap_s=gap / 1000.0, timeout_s=line.timeout_s
        )
    else:
        assert connection.host is not None
        link = registry.tcp(connection.host, connection.port or t.port, timeout_s=t.timeout_s)
    family = FAMILIES[profile.family]
    sp = profile.setpoint
    plans = []
    for key, kind, points in family.assets:
        setpoints = {}
        if SETPOINT in points:
            setpoints[SETPOINT] = SetpointSpec(
                low=-sp.max_charge_w, high=sp.max_discharge_w, step=1.0, refresh_s=sp.refresh_s
            )
        plans.append(
            AssetPlan(
                key,
                entry.asset_ids[key],
                kind,
                points,
                identification={
                    "Manufacturer": profile.manufacturer,
                    "Model": profile.products[0].split(" (")[0],
                    "DeviceProfile": profile.id,
                },
                setpoints=setpoints,
            )
        )
    unit = connection.unit_id if connection.unit_id is not None else t.unit_id
    hybrid = HybridLink(link, unit, profile.family, registry)
    driver = HybridDriver(
        entry.device_id,
        plans,
        hybrid,
        poll_s=entry.poll_s or profile.poll_s,
        timeout_s=4 * t.timeout_s + 1.0,
        backoff_max_s=30.0,
    )
    driver.write_only = family.write_only
    return driver


HYBRID = DriverType(
    name="hybrid",
    summary="Modbus hybrid inverters whose battery needs logic (direction bits, mode codes)",
    profile_schema=HybridProfile,
    connection_schema=ModbusConnection,
    create=create,
    profile_dirs=(PROFILES,),
    target=read_target,
)
