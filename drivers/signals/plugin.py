"""Registers the ripple-control receivers (site-file section ``ripple_control:``)."""

from __future__ import annotations

from typing import Any

from ampacity.drivers.base import Driver
from ampacity.drivers.modbus.plugin import links_of
from ampacity.drivers.registry import BuildContext, DriverType, register

from .config import RippleReceiverConfig
from .driver import RippleReceiverDriver


def create(entry: Any, context: BuildContext) -> Driver:
    assert isinstance(entry, RippleReceiverConfig)
    return RippleReceiverDriver(entry, links=links_of(context))


RIPPLE_CONTROL = register(
    DriverType(
        name="ripple_control",
        summary="Ripple-control receivers / control boxes (contacts on Modbus I/O or KMTronic)",
        profile_schema=None,
        connection_schema=None,
        section="ripple_control",
        create_from_section=create,
    )
)
