"""Registers the ``hardybarth_ecb1`` driver: the meter of a Hardy Barth eCB1 charge controller
(cPH1, cPμ1) over its local HTTP/JSON API."""

from __future__ import annotations

from pathlib import Path

from ampacity.drivers.base import Driver
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType, register
from ampacity.drivers.runtime import AssetPlan, PolledDriver
from pydantic import BaseModel, ConfigDict, Field

from .driver import Ecb1Link, Ecb1Profile

PROFILES = Path(__file__).parent / "profiles"


class Ecb1Connection(BaseModel):
    """Where the controller is, and which of its meters to read."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://[^/\s]+", description="The controller, http://<host>.")
    meter_id: int = Field(1, ge=1, le=255, description="The meter's id in /api/v1/meters/<id>.")


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, Ecb1Profile)
    connection = entry.connection
    assert isinstance(connection, Ecb1Connection)
    meter = profile.meter
    points = tuple(p for p in meter.points if p != "Role")  # the server publishes Role
    plan = AssetPlan(
        meter.key,
        entry.asset_ids[meter.key],
        meter.kind,
        points,
        identification={
            "Manufacturer": profile.manufacturer,
            "Model": profile.products[0],
            "DeviceProfile": profile.id,
        },
    )
    return PolledDriver(
        entry.device_id,
        [plan],
        Ecb1Link(connection.url, connection.meter_id, profile),
        poll_s=entry.poll_s or profile.poll_s,
        timeout_s=profile.timeout_s,
        backoff_max_s=30.0,
    )


ECB1 = register(
    DriverType(
        name="hardybarth_ecb1",
        summary="Hardy Barth eCB1 controller's meter over its local HTTP/JSON API",
        profile_schema=Ecb1Profile,
        connection_schema=Ecb1Connection,
        create=create,
        profile_dirs=(PROFILES,),
    )
)
