"""Registers the SolarEdge driver: ``driver: solaredge`` profiles (SunSpec discovery plus
SolarEdge's dynamic power control)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ampacity.drivers.base import Driver
from ampacity.drivers.modbus.plugin import ModbusConnection, device_config, links_of, read_target
from ampacity.drivers.profile import Profile
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType, register
from ampacity.drivers.sunspec.links import shared_link
from pydantic import BaseModel, ConfigDict, Field

from .driver import SolarEdgeDriver

PROFILE_DIR = Path(__file__).parent / "profiles"
DISCOVERY_TIMEOUT_S = 8.0
"""How long start-up waits for the model chain before using the profile's declared assets."""


class SolarEdgeOptions(BaseModel):
    """Options of a ``driver: solaredge`` profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback_pct: float = Field(
        100.0,
        ge=0,
        le=100,
        description=(
            "FallbackActivePowerLimit (0xF312): what the inverter applies, in % of its rating, "
            "when the limit is not refreshed within the command timeout (sunspec.revert_s)."
        ),
    )


class SolarEdgeProfile(Profile):
    """A SunSpec profile whose limit and rating come from SolarEdge's EDPC registers."""

    driver: Literal["solaredge"] = "solaredge"  # type: ignore[assignment]
    solaredge: SolarEdgeOptions = SolarEdgeOptions()


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, SolarEdgeProfile)
    config = device_config(entry, context)
    registry = links_of(context)
    link = shared_link(profile, config, registry)
    driver = SolarEdgeDriver(
        config.device_id,
        link,
        profile=profile,
        unit_id=config.unit_id,
        asset_ids=config.asset_ids,
        poll_s=config.poll_s,
        meter_role=entry.role or "sub",
        request_timeout_s=config.timeout_s,
        fallback_pct=profile.solaredge.fallback_pct,
    )

    async def release() -> None:
        await registry.release(link)

    driver._release_link = release
    await driver.discover(DISCOVERY_TIMEOUT_S)
    return driver


SOLAREDGE = register(
    DriverType(
        name="solaredge",
        summary="SolarEdge inverters (SunSpec values, dynamic power control for the limit)",
        profile_schema=SolarEdgeProfile,
        connection_schema=ModbusConnection,
        create=create,
        profile_dirs=(PROFILE_DIR,),
        target=read_target,
    )
)
