"""The driver registry: every driver, its profiles and the connection keys of its devices.

A driver registers one ``DriverType``: its name (a profile's ``driver:``), the schema of its
profiles, the schema of a device entry's connection keys in the site file (``host``/``port``,
``bus``, ``serial``, ``url`` ...), where its shipped profiles are, and how to build a driver for
one configured device. The server builds every device through this registry and knows no
protocol; ``ampacity check`` validates each device entry against its driver's schema, and
``ampacity read`` reads one device through it.

Built-in drivers register themselves: every package under ``drivers/`` that has a ``plugin``
module is imported once (``drivers/<name>/plugin.py`` calls ``register``), so a new protocol
needs no line anywhere else. Another distribution can add drivers through the
``ampacity.drivers`` entry-point group (an object ``DriverType``) or by calling ``register``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .base import Driver
from .profile import PROFILE_DIR, ProfileError, ProfileHeader
from .yamlpos import Location, YamlSyntaxError, line_of, load_with_lines

log = logging.getLogger(__name__)

PLUGIN_MODULE = "plugin"
"""The module of a driver package that registers its ``DriverType`` when imported."""


def builtin_plugins() -> list[str]:
    """The ``plugin`` modules of the driver packages shipped with Ampacity, sorted."""
    import ampacity.drivers as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        folder = Path(info.module_finder.path) / info.name  # type: ignore[union-attr]
        if (folder / f"{PLUGIN_MODULE}.py").is_file():
            found.append(f"{package.__name__}.{info.name}.{PLUGIN_MODULE}")
    return sorted(found)


@dataclass(frozen=True, slots=True)
class SerialLine:
    """An RS485 line of the site (``buses:``), shared by the devices on it."""

    id: str
    device: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout_s: float = 1.0
    inter_frame_gap_ms: float | None = None


@dataclass(slots=True)
class BuildContext:
    """What drivers of one site share.

    Attributes:
        buses: the site's RS485 lines by id.
        resources: shared per-site objects by name, made once by the first driver that needs
            them (e.g. the Modbus link registry, so devices on one endpoint share a connection).
        closers: coroutines the server awaits at shutdown (close shared links).
    """

    buses: Mapping[str, SerialLine] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        """The site's one ``name`` object, made on first use."""
        if name not in self.resources:
            self.resources[name] = make()
        return self.resources[name]

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """One configured device, as its driver's ``create`` gets it.

    Attributes:
        device_id: the configured id.
        profile: the device's profile (of the driver's ``profile_schema``).
        connection: the entry's connection keys (of the driver's ``connection_schema``).
        asset_ids: asset id per profile asset key.
        poll_s: the configured poll interval, s (``None``: the profile's).
        role: a meter's role from the site file (``grid``, ``production``, ``consumption``,
            ``sub``); ``None`` when not given.
    """

    device_id: str
    profile: ProfileHeader
    connection: BaseModel
    asset_ids: Mapping[str, str]
    poll_s: float | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class ReadTarget:
    """What ``ampacity read`` was told about the device (``None``: not given)."""

    host: str | None = None
    port: int | None = None
    unit: int | None = None
    serial: str | None = None
    baudrate: int | None = None
    parity: str | None = None
    bind: str | None = None
    serial_number: str | None = None
    url: str | None = None


TargetMapper = Callable[[ReadTarget], tuple[dict[str, Any], list[dict[str, Any]]]]
"""``ampacity read`` flags → (the device entry's connection keys, RS485 ``buses:`` entries)."""


@dataclass(frozen=True, slots=True)
class DriverType:
    """One driver as the registry knows it.

    Attributes:
        name: what a profile's ``driver:`` says.
        summary: one line for ``ampacity devices``.
        profile_schema: the pydantic model of its profiles.
        connection_schema: the pydantic model of a device entry's connection keys.
        create: builds the driver of one configured device (may await, e.g. a discovery).
        profile_dirs: where its shipped profiles are (``*.yaml``; a folder may be shared).
        target: maps ``ampacity read`` flags to connection keys (default: the flags whose names
            are connection keys: ``host``, ``port``, ``unit`` → ``unit_id``, ``serial``,
            ``baudrate``, ``parity``, ``bind``, ``serial_number``, ``url``).
        section: for drivers configured in a site-file section of their own rather than in
            ``devices:`` (``ripple_control``, ``tariffs``): the section's name.
        create_from_section: builds a driver from one entry of that section.
    """

    name: str
    summary: str
    profile_schema: type[ProfileHeader] | None
    connection_schema: type[BaseModel] | None
    create: Callable[[DeviceEntry, BuildContext], Awaitable[Driver]] | None = None
    profile_dirs: tuple[Path, ...] = ()
    target: TargetMapper | None = None
    section: str | None = None
    create_from_section: Callable[[Any, BuildContext], Driver] | None = None

    def connection_from_target(
        self, target: ReadTarget
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if self.target is not None:
            return self.target(target)
        keys = set(self.connection_schema.model_fields) if self.connection_schema else set()
        given = {
            "host": target.host,
            "port": target.port,
            "unit_id": target.unit,
            "serial": target.serial,
            "baudrate": target.baudrate,
            "parity": target.parity,
            "bind": target.bind,
            "serial_number": target.serial_number,
            "url": target.url,
        }
        return {k: v for k, v in given.items() if v is not None and k in keys}, []


_registered: dict[str, DriverType] = {}
_loaded = False


def register(driver_type: DriverType) -> DriverType:
    """Add (or replace) a driver; returns it, so a module can keep it as a constant."""
    _registered[driver_type.name] = driver_type
    builtin_profiles.cache_clear()
    return driver_type


def unregister(name: str) -> None:
    """Remove a driver (tests that register a toy driver clean up with this)."""
    _registered.pop(name, None)
    builtin_profiles.cache_clear()


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in builtin_plugins():
        try:
            importlib.import_module(module)
        except Exception:  # one broken driver package must not take the others down
            log.exception("driver package %s could not be loaded", module.rsplit(".", 1)[0])
    for point in entry_points(group="ampacity.drivers"):
        try:
            loaded = point.load()
        except Exception:
            log.exception("driver plugin %s could not be loaded", point.name)
            continue
        if isinstance(loaded, DriverType):
            register(loaded)


def driver_types() -> dict[str, DriverType]:
    """Every registered driver by name."""
    _load()
    return dict(_registered)


def driver_type(name: str) -> DriverType:
    """One driver by name.

    Raises:
        KeyError: no such driver (the message lists the known ones).
    """
    types = driver_types()
    if name not in types:
        raise KeyError(f"no driver {name!r}; known: {', '.join(sorted(types))}")
    return types[name]


# --- profiles ----------------------------------------------------------------------------------


def load_profile_file(path: Path) -> ProfileHeader:
    """Read and validate one profile file with its driver's schema.

    Raises:
        ProfileError: ``<file>:<line>: <field>: <message>`` lines.
    """
    try:
        data, lines = load_with_lines(path)
    except YamlSyntaxError as exc:
        raise ProfileError(str(exc)) from exc
    except OSError as exc:
        raise ProfileError(f"{path.name}: cannot read: {exc.strerror}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path.name}:1: a profile is a mapping (id:, driver:, assets: ...)")
    name = data.get("driver", "modbus")
    types = driver_types()
    chosen = types.get(name) if isinstance(name, str) else None
    if chosen is None or chosen.profile_schema is None:
        line = line_of(lines, ("driver",))
        known = ", ".join(sorted(n for n, t in types.items() if t.profile_schema))
        raise ProfileError(f"{path.name}:{line}: driver: unknown driver {name!r} (known: {known})")
    try:
        profile = chosen.profile_schema.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(
            "\n".join(located_errors(path.name, lines, exc.errors(include_url=False)))
        ) from exc
    if profile.id != path.stem:
        line = line_of(lines, ("id",))
        raise ProfileError(f"{path.name}:{line}: id {profile.id!r} must equal the file name")
    return profile


def located_errors(
    file_name: str, lines: dict[Location, int], errors: Iterable[Mapping[str, Any]]
) -> list[str]:
    """``<file>:<line>: <field path>: <message>`` for pydantic errors."""
    out = []
    for err in errors:
        location = tuple(p for p in err["loc"] if not isinstance(p, str) or p)
        location = tuple(p for p in location if p not in ("function-after", "function-wrap"))
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(
            f"{file_name}:{line_of(lines, location)}: {format_location(location)}: {message}"
        )
    return out


def format_location(location: Location) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def load_profile_dir(folder: Path) -> dict[str, ProfileHeader]:
    """Every ``*.yaml`` profile in a folder by id.

    Raises:
        ProfileError: every problem of every file, one located line each.
    """
    profiles: dict[str, ProfileHeader] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            profile = load_profile_file(path)
        except ProfileError as exc:
            problems.append(str(exc))
            continue
        profiles[profile.id] = profile
    if problems:
        raise ProfileError("\n".join(problems))
    return profiles


@cache
def builtin_profiles() -> dict[str, ProfileHeader]:
    """Every shipped profile of every registered driver, by id."""
    folders = dict.fromkeys(folder for t in driver_types().values() for folder in t.profile_dirs)
    profiles: dict[str, ProfileHeader] = {}
    for folder in folders:
        for profile_id, profile in load_profile_dir(folder).items():
            if profile_id in profiles:
                raise ProfileError(f"profile id {profile_id!r} shipped twice")
            profiles[profile_id] = profile
    return profiles


def site_profiles(folder: Path) -> dict[str, ProfileHeader]:
    """A site's own profiles (``profiles_dir:``), checked against the shipped ids.

    Raises:
        ProfileError: located problems, or an id that a shipped profile has.
    """
    if not folder.is_dir():
        raise ProfileError(f"{folder}: profiles_dir is not a folder")
    own = load_profile_dir(folder)
    clash = sorted(set(own) & set(builtin_profiles()))
    if clash:
        raise ProfileError(
            "\n".join(
                f"{folder.name}/{i}.yaml: id {i!r} is a shipped profile; give yours another id"
                for i in clash
            )
        )
    return own


def all_profiles(site_folder: Path | None = None) -> dict[str, ProfileHeader]:
    """The shipped profiles plus a site's own."""
    profiles = dict(builtin_profiles())
    if site_folder is not None:
        profiles.update(site_profiles(site_folder))
    return profiles


__all__ = [
    "PROFILE_DIR",
    "BuildContext",
    "DeviceEntry",
    "DriverType",
    "ReadTarget",
    "SerialLine",
    "all_profiles",
    "builtin_plugins",
    "builtin_profiles",
    "driver_type",
    "driver_types",
    "load_profile_dir",
    "load_profile_file",
    "register",
    "site_profiles",
    "unregister",
]
