"""Registers the tariff driver (site-file section ``tariffs:``)."""

from __future__ import annotations

from typing import Any

from ampacity.drivers.base import Driver
from ampacity.drivers.registry import BuildContext, DriverType, register

from .config import TariffConfig
from .driver import TariffDriver


def create(entry: Any, context: BuildContext) -> Driver:
    assert isinstance(entry, TariffConfig)
    return TariffDriver(entry)


TARIFFS = register(
    DriverType(
        name="tariffs",
        summary="Dynamic tariffs: Tibber, aWATTar, Energy-Charts, ENTSO-E (HTTP)",
        profile_schema=None,
        connection_schema=None,
        section="tariffs",
        create_from_section=create,
    )
)
