"""Registers the ``keba_udp`` driver: KEBA KeContact P30 stations over their UDP interface."""

from __future__ import annotations

from pathlib import Path

from ampacity.assets import AssetKind
from ampacity.drivers.base import Driver
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType, register
from ampacity.drivers.runtime import AssetPlan, PolledDriver, SetpointSpec
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import protocol as p
from .link import DEFAULT_PORT, KebaHub, KebaLink, LinkOptions, parse_bind

PROFILES = Path(__file__).parent / "profiles"
DEFAULT_BIND = f"0.0.0.0:{DEFAULT_PORT}"
READ_AGAIN_S = 0.05
"""The runtime's pause between two reads (the link itself waits for the next poll)."""


class KebaChargePoint(BaseModel):
    """The station's one charge point and how it is driven.

    Attributes:
        key: asset key (the asset id is the device id unless the site renames it).
        max_current_a: the largest current a client may set, A (the station caps it further
            to its hardware setting, ``Curr HW``).
        min_current_a: the smallest current the station accepts other than 0 (IEC 61851: 6 A).
        phase_switching: the station has a phase switch on output X2 (KEBA S10), firmware ≥
            3.10, and its phase-switch source is set to UDP: ``PhaseSetting`` is offered.
        refresh_s: the setpoint is re-sent this often (shorter than ``failsafe_timeout_s``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = "chargepoint"
    max_current_a: float = Field(32.0, gt=6, le=63)
    min_current_a: float = Field(6.0, ge=6, le=63)
    phase_switching: bool = False
    refresh_s: float = Field(25.0, gt=0)


class KebaUdpProfile(ProfileHeader):
    """A ``driver: keba_udp`` profile: the UDP protocol's pacing and fallback settings.

    Attributes:
        port: the station's UDP port (7090; it always answers to local port 7090).
        gap_s: pause after each datagram (the station handles one at a time).
        answer_timeout_s: wait for one answer.
        currtime_delay_s: delay of ``currtime`` before the station applies a current.
        failsafe_timeout_s: the station's fallback timer, s (10..600; 0 = off).
        failsafe_current_a: its fallback current, A (0 = stop charging).
        phase_switch_pause_s: least time between two phase switches, s.
        after_disable_s: extra pause after ``ena 0``.
    """

    driver: str = "keba_udp"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    gap_s: float = Field(0.1, ge=0, le=5)
    answer_timeout_s: float = Field(1.0, gt=0, le=10)
    currtime_delay_s: int = Field(1, ge=0, le=860400)
    failsafe_timeout_s: int = Field(60, ge=0, le=600)
    failsafe_current_a: float = Field(6.0, ge=0, le=63)
    phase_switch_pause_s: float = Field(300.0, ge=0)
    after_disable_s: float = Field(2.0, ge=0, le=10)
    chargepoint: KebaChargePoint = KebaChargePoint()

    @field_validator("failsafe_timeout_s")
    @classmethod
    def _timeout_range(cls, value: int) -> int:
        if value != 0 and not 10 <= value <= 600:
            raise ValueError("failsafe_timeout_s is 0 (off) or 10..600 s")
        return value

    def asset_kinds(self) -> tuple[tuple[str, AssetKind], ...]:
        return ((self.chargepoint.key, AssetKind.CHARGE_POINT),)


class KebaConnection(BaseModel):
    """Where a KEBA is: its address, and the local UDP address the site listens on."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, description="The station's IP address or host name.")
    port: int | None = Field(None, ge=1, le=65535, description="Station port (profile's: 7090).")
    bind: str = Field(
        DEFAULT_BIND,
        description="Local host:port that receives the answers (the station sends to 7090).",
    )

    @field_validator("bind")
    @classmethod
    def _bind_form(cls, value: str) -> str:
        parse_bind(value)
        return value


def hub_for(context: BuildContext, bind: str) -> KebaHub:
    """The site's one socket on ``bind`` (made on first use, closed at shutdown)."""
    name = f"keba.udp {bind}"
    if name not in context.resources:
        hub = KebaHub(bind)
        context.resources[name] = hub
        context.closers.append(hub.aclose)
    hub = context.resources[name]
    assert isinstance(hub, KebaHub)
    return hub


def plan_for(profile: KebaUdpProfile, asset_id: str) -> AssetPlan:
    """The charge point's points and setpoints."""
    cp = profile.chargepoint
    points = [*p.STATUS_POINTS, *p.METER_POINTS]
    setpoints = {
        "ChargeCurrentLimit": SetpointSpec(
            low=cp.min_current_a,
            high=cp.max_current_a,
            zero_means_off=True,
            step=0.001,
            refresh_s=cp.refresh_s,
        ),
        # a session setting: sent when written, not re-sent by the runtime
        "SessionEnergyLimit": SetpointSpec(low=0.0, high=1.0e7, step=0.1),
    }
    if cp.phase_switching:
        points.append("PhaseSetting")
        setpoints["PhaseSetting"] = SetpointSpec(low=1, high=3, refresh_s=cp.refresh_s)
    return AssetPlan(
        cp.key,
        asset_id,
        AssetKind.CHARGE_POINT,
        tuple(points),
        identification={
            "Manufacturer": profile.manufacturer,
            "Model": profile.products[0],
            "DeviceProfile": profile.id,
        },
        setpoints=setpoints,
    )


def options_for(profile: KebaUdpProfile, poll_s: float | None = None) -> LinkOptions:
    return LinkOptions(
        asset_key=profile.chargepoint.key,
        gap_s=profile.gap_s,
        answer_timeout_s=profile.answer_timeout_s,
        currtime_delay_s=profile.currtime_delay_s,
        failsafe_timeout_s=profile.failsafe_timeout_s,
        failsafe_current_a=profile.failsafe_current_a,
        phase_switch_pause_s=profile.phase_switch_pause_s,
        after_disable_s=profile.after_disable_s,
        poll_s=poll_s or profile.poll_s,
    )


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, KebaUdpProfile)
    connection = entry.connection
    assert isinstance(connection, KebaConnection)
    poll_s = entry.poll_s or profile.poll_s
    link = KebaLink(
        connection.host,
        connection.port or profile.port,
        hub_for(context, connection.bind),
        options_for(profile, poll_s),
    )
    # The link paces its own polls (and answers at once when a status broadcast comes in), so
    # the runtime asks again right away. One read: the wait for the next poll, then report 1
    # (sometimes), 2 and 3, each answer plus the pause after it.
    exchange_s = profile.answer_timeout_s + profile.gap_s
    return PolledDriver(
        entry.device_id,
        [plan_for(profile, entry.asset_ids[profile.chargepoint.key])],
        link,
        poll_s=READ_AGAIN_S,
        timeout_s=poll_s + 3 * exchange_s + profile.after_disable_s + 1.0,
        backoff_max_s=30.0,
    )


KEBA_UDP = register(
    DriverType(
        name="keba_udp",
        summary="KEBA KeContact P30 UDP interface (port 7090)",
        profile_schema=KebaUdpProfile,
        connection_schema=KebaConnection,
        create=create,
        profile_dirs=(PROFILES,),
    )
)
