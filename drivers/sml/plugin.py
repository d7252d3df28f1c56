"""Registers the SML driver (profile ``sml``: German smart meters through an optical head)."""

from __future__ import annotations

from ampacity.drivers.registry import DriverType, register

from .driver import PROFILES, SmlConnection, SmlProfile, create

SML = register(
    DriverType(
        name="sml",
        summary="SML smart meters (optical head on a serial port, or a network IR reader)",
        profile_schema=SmlProfile,
        connection_schema=SmlConnection,
        create=create,
        profile_dirs=(PROFILES,),
    )
)
