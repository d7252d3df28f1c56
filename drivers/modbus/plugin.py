"""Registers the generic Modbus engine: ``driver: modbus`` profiles, TCP or RS485 devices."""

from __future__ import annotations

from typing import Any

from ampacity.drivers.base import Driver
from ampacity.drivers.netaddr import check_host
from ampacity.drivers.profile import PROFILE_DIR, Profile
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType, ReadTarget, register
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .config import ModbusDeviceConfig, SerialBus, TcpEndpoint
from .driver import ModbusDriver
from .registry import LinkRegistry

READ_BUS_ID = "serial"
"""The bus id ``ampacity read --serial`` gives its one-off RS485 line."""


class ModbusConnection(BaseModel):
    """Where a Modbus device is: TCP (``host``, ``port``) or an RS485 bus (``bus``)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="Modbus TCP host (TCP devices).")
    port: int | None = Field(None, ge=1, le=65535, description="Defaults to the profile's port.")
    bus: str | None = Field(None, description="Id of an RS485 bus of the site (RTU devices).")
    unit_id: int | None = Field(None, ge=0, le=255, description="Defaults to the profile's.")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        return None if value is None else check_host(value)

    @model_validator(mode="after")
    def _one_transport(self) -> ModbusConnection:
        if (self.host is None) == (self.bus is None):
            raise ValueError("give either 'host' (Modbus TCP) or 'bus' (RS485), not both or none")
        return self


def links_of(context: BuildContext) -> LinkRegistry:
    """The site's one Modbus link registry (devices on one endpoint or bus share a link)."""
    if "modbus.links" not in context.resources:
        links = LinkRegistry()
        context.resources["modbus.links"] = links
        context.closers.append(links.aclose)
    links = context.resources["modbus.links"]
    assert isinstance(links, LinkRegistry)
    return links


def device_config(entry: DeviceEntry, context: BuildContext) -> ModbusDeviceConfig:
    """The engine's view of one configured device (TCP endpoint or RS485 bus)."""
    connection = entry.connection
    assert isinstance(connection, ModbusConnection)
    serial = None
    tcp = None
    timeout_s = None
    if connection.bus is not None:
        line = context.buses[connection.bus]
        serial = SerialBus(
            line.device,
            baudrate=line.baudrate,
            parity=line.parity,  # type: ignore[arg-type]
            stopbits=line.stopbits,  # type: ignore[arg-type]
            bytesize=line.bytesize,  # type: ignore[arg-type]
            inter_frame_gap_ms=line.inter_frame_gap_ms,
        )
        timeout_s = line.timeout_s
    else:
        assert connection.host is not None
        tcp = TcpEndpoint(connection.host, connection.port)
    return ModbusDeviceConfig(
        entry.device_id,
        tcp=tcp,
        serial=serial,
        unit_id=connection.unit_id,
        asset_ids=dict(entry.asset_ids),
        poll_s=entry.poll_s,
        timeout_s=timeout_s,
    )


def read_target(target: ReadTarget) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``ampacity read`` flags: ``--host/--port/--unit`` or ``--serial/--baudrate/--parity``."""
    keys: dict[str, Any] = {"unit_id": target.unit} if target.unit is not None else {}
    if target.serial is not None:
        bus: dict[str, Any] = {"id": READ_BUS_ID, "device": target.serial}
        if target.baudrate is not None:
            bus["baudrate"] = target.baudrate
        if target.parity is not None:
            bus["parity"] = target.parity
        return {**keys, "bus": READ_BUS_ID}, [bus]
    if target.host is not None:
        keys["host"] = target.host
    if target.port is not None:
        keys["port"] = target.port
    return keys, []


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    assert isinstance(entry.profile, Profile)
    return ModbusDriver(entry.profile, device_config(entry, context), registry=links_of(context))


MODBUS = register(
    DriverType(
        name="modbus",
        summary="Modbus TCP / RTU register maps (declarative profiles)",
        profile_schema=Profile,
        connection_schema=ModbusConnection,
        create=create,
        profile_dirs=(PROFILE_DIR,),
        target=read_target,
    )
)
