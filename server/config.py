"""The site configuration (``site.yaml``): schema, loading and located error messages.

Errors name the file, line and field, e.g.
``site.yaml:14: devices[3].port: Input should be a valid integer``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from ampacity.assets import AssetKind
from ampacity.control import ControlConfig
from ampacity.drivers.profile import all_profiles
from ampacity.drivers.signals import RippleReceiverConfig
from ampacity.drivers.tariffs import TariffConfig
from ampacity.storage import StorageConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .security.config import SecurityConfig
from .yamlpos import Location, YamlSyntaxError, line_of, load_with_lines

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
"""Asset and device ids: they become NodeIds (``<asset-id>.<Point>``), so no dots or spaces."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteInfo(_Strict):
    id: str = Field("site", pattern=ID_PATTERN, description="NodeId of the Site object.")
    name: str = "Ampacity site"
    latitude: float = Field(50.78, ge=-90, le=90)
    longitude: float = Field(6.08, ge=-180, le=180)
    namespace_uri: str = Field(
        "urn:ampacity:site",
        description="Namespace URI of the site's instance nodes; clients resolve it to an index.",
    )
    feed_in_limit_w: float | None = Field(
        None, ge=0, description="Largest export at the grid connection point, W; none: no limit."
    )
    grid_import_limit_w: float | None = Field(
        None, ge=0, description="Largest import at the grid connection point (fuse), W."
    )


class ServerSettings(_Strict):
    host: str = Field("127.0.0.1", description="Address the OPC UA endpoint binds to.")
    port: int = Field(4840, ge=1, le=65535)
    data_dir: Path = Field(Path("ampacity-data"), description="Folder for history and state.")
    name: str = "Ampacity"

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value in ("localhost", "0.0.0.0", "::"):
            return value
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not value or " " in value:
                raise ValueError("must be an IP address or host name") from None
        return value

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/ampacity"


class BusConfig(_Strict):
    """An RS485 line; several devices (unit ids) share it."""

    id: str = Field(pattern=ID_PATTERN)
    device: str = Field(min_length=1, description="Serial port, e.g. /dev/ttyUSB0.")
    baudrate: int = Field(9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout_s: float = Field(1.0, gt=0, le=30)
    inter_frame_gap_ms: float | None = Field(None, ge=0)


class DeviceConfig(_Strict):
    """One device: a profile and where to reach it."""

    id: str = Field(pattern=ID_PATTERN)
    profile: str
    host: str | None = Field(None, description="Modbus TCP host (TCP devices).")
    port: int | None = Field(None, ge=1, le=65535, description="Defaults to the profile's port.")
    bus: str | None = Field(None, description="Id of an RS485 bus (RTU devices).")
    unit_id: int | None = Field(None, ge=0, le=255, description="Defaults to the profile's.")
    poll_s: float | None = Field(None, gt=0, le=3600)
    role: Literal["grid", "production", "consumption", "sub"] | None = Field(
        None, description="For electricity meters: what the meter measures."
    )
    nominal_power_w: float | None = Field(None, gt=0)
    assets: dict[str, str] = Field(
        default_factory=dict,
        description="Rename assets: profile asset key -> asset id (default <device-id>-<key>).",
    )
    name: str | None = None

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        profiles = all_profiles()
        if value not in profiles:
            raise ValueError(
                f"unknown profile {value!r}; see `ampacity devices` (known: "
                f"{', '.join(sorted(profiles))})"
            )
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> DeviceConfig:
        if (self.host is None) == (self.bus is None):
            raise ValueError("give either 'host' (Modbus TCP) or 'bus' (RS485), not both or none")
        return self


class SiteConfig(_Strict):
    site: SiteInfo = SiteInfo()
    server: ServerSettings = ServerSettings()
    buses: list[BusConfig] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)
    storage: StorageConfig = Field(
        default_factory=StorageConfig,
        description="Historian settings (see the README's configuration reference).",
    )
    security: SecurityConfig = Field(
        default_factory=SecurityConfig,
        description="Endpoints, certificates, users and roles (see the README's security section).",
    )
    ripple_control: list[RippleReceiverConfig] = Field(
        default_factory=list,
        description="Ripple-control receivers / control boxes (see the README's signals section).",
    )
    tariffs: list[TariffConfig] = Field(
        default_factory=list,
        description="Electricity tariffs: dynamic prices (see the README's tariffs section).",
    )
    control: ControlConfig | None = Field(
        None,
        description="The energy management (see the README's control section); none: no control.",
    )

    def asset_ids(self) -> list[str]:
        """Every asset id the configured devices serve (plus the site's)."""
        ids = [self.site.id]
        for device in self.devices:
            keys = [a.key for a in all_profiles()[device.profile].assets]
            if len(keys) == 1:
                ids.append(device.assets.get(keys[0], device.id))
            else:
                ids += [device.assets.get(key, f"{device.id}-{key}") for key in keys]
        ids += [receiver.id for receiver in self.ripple_control]
        ids += [tariff.id for tariff in self.tariffs]
        return ids

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        bus_ids = [b.id for b in self.buses]
        if len(bus_ids) != len(set(bus_ids)):
            raise ValueError("bus ids must be unique")
        device_ids = [d.id for d in self.devices]
        duplicates = {i for i in device_ids if device_ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"device ids must be unique: {', '.join(sorted(duplicates))}")
        for device in self.devices:
            if device.bus is not None and device.bus not in bus_ids:
                raise ValueError(f"device {device.id!r}: unknown bus {device.bus!r}")
            profile = all_profiles()[device.profile]
            kinds = {a.kind for a in profile.assets}
            if device.role is not None and AssetKind.ELECTRICITY_METER not in kinds:
                raise ValueError(f"device {device.id!r}: 'role' applies to meters only")
            unknown = set(device.assets) - {a.key for a in profile.assets}
            if unknown:
                raise ValueError(
                    f"device {device.id!r}: profile {profile.id} has no asset "
                    f"{', '.join(sorted(unknown))}"
                )
        ids = self.asset_ids()
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"asset ids must be unique: {', '.join(sorted(duplicates))}")
        if self.control is not None:
            _check_control_references(self.control, set(ids))
        return self


def _check_control_references(control: ControlConfig, known: set[str]) -> None:
    """Every asset the control names must exist: a typo is an error, not a silent no-op."""
    named: list[tuple[str, str]] = [("control.grid_meter", control.grid_meter)]
    groups: dict[str, tuple[Any, ...]] = {
        "batteries": control.batteries,
        "pv": control.pv,
        "charge_points": control.charge_points,
        "heating_rods": control.heating_rods,
        "heat_pumps": control.heat_pumps,
        "electrolysers": control.electrolysers,
        "generators": control.generators,
    }
    for group, items in groups.items():
        named += [(f"control.{group}[{i}].id", item.id) for i, item in enumerate(items)]
    named += [(f"control.ripple_control[{i}]", r) for i, r in enumerate(control.ripple_control)]
    for i, group_config in enumerate(control.charging_groups):
        named += [
            (f"control.charging_groups[{i}].members[{j}]", m)
            for j, m in enumerate(group_config.members)
        ]
    if control.tariff is not None:
        named.append(("control.tariff", control.tariff))
    if control.dimming is not None:
        named += [
            (f"control.dimming.consumers[{i}].id", c.id)
            for i, c in enumerate(control.dimming.consumers)
        ]
        if control.dimming.signal is not None:
            named.append(("control.dimming.signal", control.dimming.signal.split(".", 1)[0]))
    unknown = [
        f"{where}: no asset {asset_id!r}" for where, asset_id in named if asset_id not in known
    ]
    if unknown:
        raise ValueError("; ".join(unknown) + f" (assets: {', '.join(sorted(known))})")


class ConfigError(ValueError):
    """The configuration is invalid. ``errors`` holds one located message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _format_location(location: Location) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def load_config(path: Path) -> SiteConfig:
    """Load and validate a site file.

    Raises:
        ConfigError: with ``<file>:<line>: <field>: <message>`` lines.
    """
    try:
        data, lines = load_with_lines(path)
    except YamlSyntaxError as exc:
        raise ConfigError([str(exc)]) from exc
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path.name}:1: the file must hold a mapping (site:, devices:, ...)"])
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            location = tuple(p for p in err["loc"] if not isinstance(p, str) or p)
            # pydantic appends the validator name for model validators; keep data paths only
            location = tuple(p for p in location if p not in ("function-after",))
            message = err["msg"].removeprefix("Value error, ")
            line = line_of(lines, location)
            messages.append(f"{path.name}:{line}: {_format_location(location)}: {message}")
        raise ConfigError(messages) from exc
    if not config.server.data_dir.is_absolute():
        config.server.data_dir = (path.parent / config.server.data_dir).resolve()
    return config
