"""Registers the SMA Energy Meter / Sunny Home Manager driver (profile ``sma_energy_meter``)."""

from __future__ import annotations

from ampacity.drivers.registry import DriverType, register

from .driver import PROFILES, SpeedwireConnection, SpeedwireProfile, create

SMA_ENERGY_METER = register(
    DriverType(
        name="sma_energy_meter",
        summary="SMA Energy Meter / Sunny Home Manager (Speedwire UDP multicast or unicast)",
        profile_schema=SpeedwireProfile,
        connection_schema=SpeedwireConnection,
        create=create,
        profile_dirs=(PROFILES,),
    )
)
