"""Registers the ``ecb1_charge_control`` driver: Hardy Barth / echarge stations with an eCB1
controller, over its HTTP/JSON API."""

from __future__ import annotations

from pathlib import Path

from ampacity.assets import AssetKind
from ampacity.drivers.base import Driver
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType, register
from ampacity.drivers.runtime import AssetPlan, PolledDriver, SetpointSpec
from pydantic import BaseModel, ConfigDict, Field

from .link import METER_POINTS, STATUS_POINTS, EcbLink, EcbOptions

PROFILES = Path(__file__).parent / "profiles"


class EcbChargePoint(BaseModel):
    """The controller's charge point.

    Attributes:
        key: asset key.
        chargecontrol: the charge control id in the API (1 on a single station).
        meter: the meter id in the API (1: the built-in or external eCB1 meter).
        min_current_a / max_current_a: the range a client may set, A (whole amperes).
        refresh_s: re-send the current this often (``None``: only after a reconnect; the eCB1
            has no documented fallback timer).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = "chargepoint"
    chargecontrol: int = Field(1, ge=1)
    meter: int = Field(1, ge=1)
    min_current_a: float = Field(6.0, ge=6)
    max_current_a: float = Field(32.0, gt=6, le=63)
    refresh_s: float | None = Field(None, gt=0)


class EcbProfile(ProfileHeader):
    """A ``driver: ecb1_charge_control`` profile."""

    driver: str = "ecb1_charge_control"
    chargepoint: EcbChargePoint = EcbChargePoint()

    def asset_kinds(self) -> tuple[tuple[str, AssetKind], ...]:
        return ((self.chargepoint.key, AssetKind.CHARGE_POINT),)


class EcbConnection(BaseModel):
    """Where the controller is: its base URL."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://", description="e.g. http://192.0.2.20")


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, EcbProfile)
    connection = entry.connection
    assert isinstance(connection, EcbConnection)
    cp = profile.chargepoint
    plan = AssetPlan(
        cp.key,
        entry.asset_ids[cp.key],
        AssetKind.CHARGE_POINT,
        (*STATUS_POINTS, *METER_POINTS),
        identification={
            "Manufacturer": profile.manufacturer,
            "Model": profile.products[0],
            "DeviceProfile": profile.id,
        },
        setpoints={
            "ChargeCurrentLimit": SetpointSpec(
                low=cp.min_current_a,
                high=cp.max_current_a,
                zero_means_off=True,
                step=1.0,
                refresh_s=cp.refresh_s,
            )
        },
    )
    link = EcbLink(connection.url, EcbOptions(cp.key, cp.chargecontrol, cp.meter))
    return PolledDriver(
        entry.device_id,
        [plan],
        link,
        poll_s=entry.poll_s or profile.poll_s,
        timeout_s=5.0,
        backoff_max_s=30.0,
    )


ECB1_CHARGE_CONTROL = register(
    DriverType(
        name="ecb1_charge_control",
        summary="Hardy Barth / echarge eCB1 controller, HTTP/JSON API",
        profile_schema=EcbProfile,
        connection_schema=EcbConnection,
        create=create,
        profile_dirs=(PROFILES,),
    )
)
