"""The site configuration (``site.yaml``): schema, loading and located error messages.

Errors name the file, line and field, e.g.
``site.yaml:14: devices[3].port: Input should be a valid integer``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ampacity.assets import AssetKind
from ampacity.control import ControlConfig
from ampacity.drivers.profile import ProfileError, ProfileHeader
from ampacity.drivers.registry import (
    all_profiles,
    builtin_profiles,
    driver_type,
    located_errors,
)
from ampacity.drivers.signals import RippleReceiverConfig
from ampacity.drivers.tariffs import TariffConfig
from ampacity.drivers.yamlpos import Location, YamlSyntaxError, line_of, load_with_lines
from ampacity.storage import StorageConfig
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .alarms.config import AlarmsConfig
from .security.config import SecurityConfig

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
    device_folders: Literal["auto", "flat", "kind"] = Field(
        "auto",
        description="Devices without a `group:`: auto = directly under the Site up to "
        "200 of them, by asset kind above; flat = always under the Site; kind = always by kind.",
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


class MetricsSettings(_Strict):
    listen: str | None = Field(
        None,
        description="HOST:PORT of the Prometheus endpoint /metrics (e.g. 127.0.0.1:9464); "
        "none: off. `ampacity run --metrics` overrides it.",
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            from .metrics import parse_listen

            parse_listen(value)
        return value


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


class DeviceConfig(BaseModel):
    """One device: a profile and where to reach it.

    The keys below are common to every device; the rest of the entry are connection keys that
    the profile's driver declares (``host``/``port``/``unit_id`` or ``bus`` for Modbus, a serial
    port, a URL ...) and validates; they end up in ``connection``.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=ID_PATTERN)
    profile: str
    poll_s: float | None = Field(None, gt=0, le=3600)
    role: Literal["grid", "production", "consumption", "sub"] | None = Field(
        None, description="For electricity meters: what the meter measures (default sub)."
    )
    assets: dict[str, str] = Field(
        default_factory=dict,
        description="Rename assets: profile asset key -> asset id (default <device-id>-<key>).",
    )
    name: str | None = None
    group: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="Folder under the Site the device's assets are browsed in (NodeIds stay).",
    )
    connection: Any = Field(None, exclude=True)
    """The connection keys, validated by the driver's ``connection_schema``."""

    @model_validator(mode="wrap")
    @classmethod
    def _driver_keys(cls, data: Any, handler: Any, info: ValidationInfo) -> DeviceConfig:
        if isinstance(data, DeviceConfig) and data.connection is not None:
            return data  # validated already (a model built in code, now part of a site)
        if isinstance(data, dict) and "connection" in data:
            raise ValueError("'connection' is not a key of a device entry")
        device: DeviceConfig = handler(data)
        profiles = _profiles(info)
        if device.profile not in profiles:
            _raise(
                [
                    (
                        ("profile",),
                        f"unknown profile {device.profile!r}; see `ampacity devices` (known: "
                        f"{', '.join(sorted(profiles))})",
                    )
                ],
                device.profile,
            )
        schema = driver_type(profiles[device.profile].driver).connection_schema
        extra = dict(device.__pydantic_extra__ or {})
        if schema is None:
            return device
        try:
            device.connection = schema.model_validate(extra)
        except ValidationError as exc:
            raise ValidationError.from_exception_data(
                "DeviceConfig",
                [_line_error(err) for err in exc.errors(include_url=False)],
            ) from None
        device.__pydantic_extra__ = {}
        return device

    def connection_value(self, key: str) -> Any:
        """One connection key (``None`` when the driver has no such key or it is not set)."""
        return getattr(self.connection, key, None)


def _line_error(err: Any) -> Any:
    """A pydantic error of a nested validation, re-raised at the device entry's level."""
    out = {"type": err["type"], "loc": tuple(err["loc"]), "input": err.get("input")}
    if err.get("ctx"):
        out["ctx"] = err["ctx"]
    return out


def _raise(problems: list[tuple[Location, str]], value: Any = None) -> None:
    """Raise located validation errors (``loc`` relative to the model being validated)."""
    raise ValidationError.from_exception_data(
        "SiteConfig",
        [
            {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(msg)}}
            for loc, msg in problems
        ],
    )


def _profiles(info: ValidationInfo | None) -> Mapping[str, ProfileHeader]:
    """The profiles a site may use: the context's (shipped + site-local), else the shipped."""
    context = info.context if info is not None else None
    if isinstance(context, dict) and "profiles" in context:
        return context["profiles"]  # type: ignore[no-any-return]
    return builtin_profiles()


class SiteConfig(_Strict):
    profiles_dir: Path | None = Field(
        None,
        description="A folder of the site's own profiles (relative to the site file).",
    )
    site: SiteInfo = SiteInfo()
    server: ServerSettings = ServerSettings()
    metrics: MetricsSettings = MetricsSettings()
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
    alarms: AlarmsConfig = Field(
        default_factory=AlarmsConfig,
        description="OPC UA alarms: severity and enablement per kind, thresholds (docs/alarms.md).",
    )

    _profiles: dict[str, ProfileHeader] | None = PrivateAttr(None)

    def profile_catalog(self) -> Mapping[str, ProfileHeader]:
        """The profiles this site may use: the shipped ones and its ``profiles_dir``'s."""
        return self._profiles if self._profiles is not None else builtin_profiles()

    def asset_ids(self, profiles: Mapping[str, ProfileHeader] | None = None) -> list[str]:
        """Every asset id the configured devices serve (plus the site's)."""
        known = profiles if profiles is not None else self.profile_catalog()
        ids = [self.site.id]
        for device in self.devices:
            if device.profile in known:
                ids += list(device_asset_ids(device, known[device.profile]).values())
        ids += [receiver.id for receiver in self.ripple_control]
        ids += [tariff.id for tariff in self.tariffs]
        return ids

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> SiteConfig:
        profiles = _profiles(info)
        self._profiles = dict(profiles)
        problems: list[tuple[Location, str]] = []
        seen_buses: set[str] = set()
        for i, bus in enumerate(self.buses):
            if bus.id in seen_buses:
                problems.append((("buses", i, "id"), f"bus id {bus.id!r} is used twice"))
            seen_buses.add(bus.id)
        seen_devices: set[str] = set()
        for i, device in enumerate(self.devices):
            if device.id in seen_devices:
                problems.append((("devices", i, "id"), f"device id {device.id!r} is used twice"))
            seen_devices.add(device.id)
            bus = device.connection_value("bus")
            if bus is not None and bus not in seen_buses:
                known = ", ".join(sorted(seen_buses)) or "none configured under buses:"
                problems.append((("devices", i, "bus"), f"unknown bus {bus!r} (buses: {known})"))
            profile = profiles[device.profile]
            kinds = {kind for _, kind in profile.asset_kinds()}
            if device.role is not None and AssetKind.ELECTRICITY_METER not in kinds:
                problems.append((("devices", i, "role"), "'role' applies to meters only"))
            unknown = set(device.assets) - {key for key, _ in profile.asset_kinds()}
            if unknown:
                problems.append(
                    (
                        ("devices", i, "assets"),
                        f"profile {profile.id} has no asset {', '.join(sorted(unknown))}",
                    )
                )
        if problems:
            _raise(problems)
        ids = self.asset_ids(profiles)
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"asset ids must be unique: {', '.join(sorted(duplicates))}")
        _check_folders(self, profiles, {*ids, *seen_devices})
        if self.control is not None:
            _check_control_references(self.control, set(ids))
        return self


def _check_folders(
    config: SiteConfig, profiles: Mapping[str, ProfileHeader], taken: set[str]
) -> None:
    """A folder's NodeId is ``s=<name>``: no asset or device may have that id."""
    from .folders import KIND_FOLDERS, device_folders

    kinds = [
        (device.id, assets[0][1])
        for device in config.devices
        if (assets := profiles[device.profile].asset_kinds())
    ]
    groups = {device.id: device.group for device in config.devices if device.group}
    folders = device_folders(config.site.device_folders, kinds, groups)
    problems: list[tuple[Location, str]] = []
    for i, device in enumerate(config.devices):
        if device.group is not None and device.group in taken:
            problems.append(
                (
                    ("devices", i, "group"),
                    f"{device.group!r} is the id of an asset or device; a group needs a name "
                    "of its own (it becomes the folder's NodeId)",
                )
            )
    kind_names = set(KIND_FOLDERS.values())
    for name in sorted((set(folders.values()) & kind_names) & taken):
        where = next(i for i, d in enumerate(config.devices) if folders.get(d.id) == name)
        problems.append(
            (
                ("devices", where, "id"),
                f"the devices are grouped by kind and the folder {name!r} is also an asset or "
                "device id; rename it or set site.device_folders: flat",
            )
        )
    if problems:
        _raise(problems)


def device_asset_ids(device: DeviceConfig, profile: ProfileHeader) -> dict[str, str]:
    """Asset id per profile key: the renames, else ``<id>`` (one asset) or ``<id>-<key>``."""
    keys = [key for key, _ in profile.asset_kinds()]
    if len(keys) == 1:
        return {keys[0]: device.assets.get(keys[0], device.id)}
    return {key: device.assets.get(key, f"{device.id}-{key}") for key in keys}


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


MINIMAL_SITE_HINT = (
    "a minimal site names its devices, e.g. `devices: [{id: grid-meter, profile: "
    "siemens_sentron_pac2200, host: 192.0.2.10, role: grid}]` "
    "(see deploy/examples/home.yaml; `ampacity run` without --config runs the demo)"
)


def config_warnings(config: SiteConfig) -> list[str]:
    """What may be wrong but need not be: a serial device that does not exist (yet)."""
    from pathlib import Path as _Path

    warnings = []
    for bus in config.buses:
        if not _Path(bus.device).exists():
            warnings.append(
                f"buses.{bus.id}.device: {bus.device} does not exist (yet); "
                "the devices on it stay Bad until it is plugged in"
            )
    return warnings


class ConfigError(ValueError):
    """The configuration is invalid. ``errors`` holds one located message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


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
        raise ConfigError([f"{path.name}:1: the file is empty; {MINIMAL_SITE_HINT}"])
    if not isinstance(data, dict):
        raise ConfigError([f"{path.name}:1: the file must hold a mapping (site:, devices:, ...)"])
    profiles: Mapping[str, ProfileHeader] = builtin_profiles()
    folder = data.get("profiles_dir")
    if isinstance(folder, str) and folder:
        where = path.parent / folder
        try:
            profiles = all_profiles(where)
        except ProfileError as exc:
            line = line_of(lines, ("profiles_dir",))
            raise ConfigError(
                [
                    f"{path.name}:{line}: profiles_dir: {problem}"
                    for problem in str(exc).splitlines()
                ]
            ) from exc
    try:
        config = SiteConfig.model_validate(data, context={"profiles": profiles})
    except ValidationError as exc:
        raise ConfigError(located_errors(path.name, lines, exc.errors(include_url=False))) from exc
    if config.profiles_dir is not None and not config.profiles_dir.is_absolute():
        config.profiles_dir = (path.parent / config.profiles_dir).resolve()
    if not config.server.data_dir.is_absolute():
        config.server.data_dir = (path.parent / config.server.data_dir).resolve()
    return config
