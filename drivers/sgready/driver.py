"""SG-Ready over a KMTronic relay board: profile, connection keys, dwell rule, link, driver.

What the driver guarantees:

* **Minimum dwell time per state.** A state, once entered, is held at least ``min_dwell_s[state]``
  seconds, whatever is written meanwhile (the compressor is damaged by fast toggling). A write
  that comes too early is kept as pending and carried out when the dwell time is over (on the
  next poll); the node shows the state the relays are in (read-back), and one INFO line says
  what is held back and for how long. Only the grid operator's block (state 1) may cut a dwell
  short (``block_overrides_dwell``, default on): the block is an obligation.
* A state the relays take without us (a board that restarted comes back with every relay off,
  i.e. state 2; a manual switch) starts a new dwell time; the state last asked for is switched
  again once that dwell time is over (and the runtime re-sends it every ``refresh_s`` and after
  a reconnect).
* **Relay read-back.** After switching, the board's status must show both relays as commanded,
  else the write fails with the relay that did not follow.
* **Order of switching.** Relays are switched off before on, relay B on before relay A and relay
  A off before relay B, so a change between two states never passes through the block (1),
  e.g. 2 -> 4 goes through 3, 4 -> 2 through 3.
* **Safe state.** The board has no watchdog: its relays stay as they were when the server
  stops. On an orderly stop the driver therefore returns the pump to state 2 (normal) from 3 or
  4 when the dwell time allows; a block (1) is left to the grid operator. A board that loses
  power comes back with its relays off: state 2. The control's fail-safe is state 2 as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from ampacity.assets import AssetKind, PointValue
from ampacity.drivers.base import Driver
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType
from ampacity.drivers.runtime import (
    SYSTEM_CLOCK,
    AssetPlan,
    Clock,
    DeviceError,
    PointKey,
    PolledDriver,
    Sample,
    SetpointSpec,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .kmtronic_udp import DEFAULT_PORT, MAX_RELAYS, KmtronicError, KmtronicUdpClient

log = logging.getLogger("ampacity.drivers")

PROFILES = Path(__file__).parent / "profiles"
DRIVER_NAME = "sgready_kmtronic_udp"
POINT = "SgReadyState"
BLOCKED, NORMAL, RECOMMENDED, FORCED = 1, 2, 3, 4

RELAYS_OF_STATE: dict[int, tuple[bool, bool]] = {
    BLOCKED: (True, False),
    NORMAL: (False, False),
    RECOMMENDED: (False, True),
    FORCED: (True, True),
}
"""SG-Ready state -> (relay A, relay B) (the SG-Ready label; OpenEMS and evcc agree)."""
STATE_OF_RELAYS = {relays: state for state, relays in RELAYS_OF_STATE.items()}

DEFAULT_DWELL_S = {BLOCKED: 300.0, NORMAL: 300.0, RECOMMENDED: 600.0, FORCED: 600.0}


def _check_dwell(dwell: Mapping[int, float]) -> Mapping[int, float]:
    if set(dwell) - set(RELAYS_OF_STATE):
        raise ValueError("min_dwell_s: keys are SG-Ready states 1..4")
    if any(v < 0 for v in dwell.values()):
        raise ValueError("min_dwell_s: seconds must not be negative")
    return dwell


class SgReadyAsset(BaseModel):
    """The heat pump behind the two contacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    kind: AssetKind = AssetKind.HEAT_PUMP

    @model_validator(mode="after")
    def _heat_pump(self) -> SgReadyAsset:
        if self.kind is not AssetKind.HEAT_PUMP:
            raise ValueError(f"an SG-Ready board switches a HeatPump, not a {self.kind.value}")
        return self


class SgReadyProfile(ProfileHeader):
    """A relay board that switches the SG-Ready contacts (``driver: sgready_kmtronic_udp``).

    Attributes:
        port: the board's UDP port.
        answer_timeout_s: how long a status request waits, s.
        relay_a / relay_b: board relays wired to SG-Ready contact A (block) and B (recommend).
        min_dwell_s: SG-Ready state -> seconds it is held at least once entered.
        block_overrides_dwell: the grid operator's block (1) may cut a dwell time short.
        refresh_s: the wanted state is re-sent at this period (re-applies it after a restart of
            the board or a manual switch, once the dwell time allows).
    """

    driver: Literal["sgready_kmtronic_udp"] = "sgready_kmtronic_udp"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    answer_timeout_s: float = Field(1.0, gt=0, le=10)
    relay_a: int = Field(1, ge=1, le=MAX_RELAYS)
    relay_b: int = Field(2, ge=1, le=MAX_RELAYS)
    min_dwell_s: dict[int, float] = Field(default_factory=lambda: dict(DEFAULT_DWELL_S))
    block_overrides_dwell: bool = True
    refresh_s: float = Field(60.0, gt=0)
    assets: tuple[SgReadyAsset] = Field(min_length=1, max_length=1)

    @model_validator(mode="after")
    def _valid(self) -> SgReadyProfile:
        if self.relay_a == self.relay_b:
            raise ValueError("relay_a and relay_b must be two different relays")
        _check_dwell(self.min_dwell_s)
        return self


class SgReadyConnection(BaseModel):
    """A site file's keys for one board: where it is and, where the wiring differs from the
    profile, which relays carry the contacts and how long each state is held."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, description="The board's address.")
    port: int | None = Field(None, ge=1, le=65535, description="UDP port; the profile's default.")
    relay_a: int | None = Field(None, ge=1, le=MAX_RELAYS, description="Relay of contact A.")
    relay_b: int | None = Field(None, ge=1, le=MAX_RELAYS, description="Relay of contact B.")
    min_dwell_s: dict[int, float] | None = Field(
        None, description="SG-Ready state -> minimum seconds in it (overrides the profile's)."
    )

    @model_validator(mode="after")
    def _valid(self) -> SgReadyConnection:
        if self.min_dwell_s is not None:
            _check_dwell(self.min_dwell_s)
        return self


class DwellGuard:
    """The minimum-dwell rule, on a monotonic clock (pure; the link does the switching).

    Args:
        min_dwell_s: state -> seconds it is held at least.
        block_overrides_dwell: a request for state 1 is carried out at once.
        monotonic: the clock, s.
    """

    def __init__(
        self,
        min_dwell_s: Mapping[int, float],
        *,
        block_overrides_dwell: bool = True,
        monotonic: Callable[[], float],
    ) -> None:
        self.min_dwell_s = {**DEFAULT_DWELL_S, **min_dwell_s}
        self.block_overrides_dwell = block_overrides_dwell
        self.monotonic = monotonic
        self.state: int | None = None
        self.since = 0.0
        self.pending: int | None = None
        self.wanted: int | None = None

    def observe(self, state: int) -> None:
        """The relays show ``state``; a state we did not set starts a new dwell time (also the
        first one seen after start: nobody knows how long it has been held)."""
        if state != self.state:
            self.state, self.since = state, self.monotonic()
            self.pending = None
        if self.wanted is not None and state != self.wanted and self.pending is None:
            self.pending = self.wanted  # back to what was asked for, once the dwell allows

    def entered(self, state: int) -> None:
        """We switched to ``state``."""
        self.state, self.since, self.pending = state, self.monotonic(), None
        self.wanted = state

    def left_s(self) -> float:
        """Seconds until the current state may be left (0: now)."""
        if self.state is None:
            return 0.0
        return max(0.0, self.since + self.min_dwell_s[self.state] - self.monotonic())

    def request(self, wanted: int) -> int | None:
        """The state to switch to now, or ``None`` (unchanged, or held: then ``pending``)."""
        self.wanted = wanted
        if wanted == self.state:
            self.pending = None
            return None
        if (wanted == BLOCKED and self.block_overrides_dwell) or self.left_s() <= 0.0:
            return wanted
        self.pending = wanted
        return None

    def due(self) -> int | None:
        """A pending state whose time has come."""
        if self.pending is not None and self.left_s() <= 0.0:
            return self.pending
        return None


class SgReadyLink:
    """``DeviceLink`` of one board: the status request is the read, two relay commands and a
    status request the write.

    Args:
        client: the board.
        asset_key: the heat pump's key in the profile.
        relay_a / relay_b: the relays of contacts A and B.
        guard: the dwell rule.
        name: for log lines (the device id).
    """

    def __init__(
        self,
        client: KmtronicUdpClient,
        asset_key: str,
        relay_a: int,
        relay_b: int,
        guard: DwellGuard,
        name: str,
    ) -> None:
        self.client = client
        self.asset_key = asset_key
        self.relay_a = relay_a
        self.relay_b = relay_b
        self.guard = guard
        self.name = name
        self._held_logged: float | None = None

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    async def _state(self) -> int:
        try:
            relays = await self.client.status()
        except KmtronicError as exc:
            raise DeviceError(str(exc)) from exc
        needed = max(self.relay_a, self.relay_b)
        if len(relays) < needed:
            raise DeviceError(
                f"{self.endpoint}: the board reports {len(relays)} relays, "
                f"relay {needed} is configured"
            )
        state = STATE_OF_RELAYS[(relays[self.relay_a - 1], relays[self.relay_b - 1])]
        self.guard.observe(state)
        return state

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        state = await self._state()
        due = self.guard.due()
        if due is not None:
            state = await self._switch(state, due)
        return {(self.asset_key, POINT): state}

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        wanted = int(value)
        if wanted not in RELAYS_OF_STATE:
            raise DeviceError(f"SG-Ready state {value!r}: the states are 1..4")
        current = await self._state()
        target = self.guard.request(wanted)
        if target is None:
            pending = self.guard.pending
            if pending is not None and self._held_logged != self.guard.since:
                self._held_logged = self.guard.since  # one line per dwell time, not per write
                log.info(
                    "%s: SG-Ready %d held back: state %d is held at least %.0f s (%.0f s left)",
                    self.name,
                    pending,
                    current,
                    self.guard.min_dwell_s[current],
                    self.guard.left_s(),
                )
            return current
        return await self._switch(current, target)

    async def _switch(self, current: int, target: int) -> int:
        a_now, b_now = RELAYS_OF_STATE[current]
        a, b = RELAYS_OF_STATE[target]
        steps: list[tuple[int, bool]] = []
        if a_now and not a:
            steps.append((self.relay_a, False))
        if b_now and not b:
            steps.append((self.relay_b, False))
        if b and not b_now:
            steps.append((self.relay_b, True))
        if a and not a_now:
            steps.append((self.relay_a, True))
        for relay, on in steps:
            await self.client.switch(relay, on)
        shown = await self._state()
        if shown != target:
            got = RELAYS_OF_STATE[shown]
            wrong = [
                f"relay {relay} is {'on' if is_on else 'off'}"
                for relay, is_on, want in ((self.relay_a, got[0], a), (self.relay_b, got[1], b))
                if is_on != want
            ]
            raise DeviceError(
                f"{self.endpoint}: SG-Ready {target} not taken: "
                f"{', '.join(wrong)} after the command"
            )
        self.guard.entered(target)
        self._held_logged = None
        log.debug("%s: SG-Ready %d -> %d", self.name, current, target)
        return target

    async def close(self) -> None:
        """Back to state 2 from 3 or 4 when the dwell time allows (the board has no watchdog)."""
        try:
            if self.guard.state in (RECOMMENDED, FORCED) and self.guard.left_s() <= 0.0:
                self.client.switch_nowait(self.relay_a, False)
                self.client.switch_nowait(self.relay_b, False)
        finally:
            await self.client.close()


def create_driver(
    device_id: str,
    asset_id: str,
    profile: SgReadyProfile,
    connection: SgReadyConnection,
    *,
    poll_s: float | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> PolledDriver:
    """The driver of one board (tests pass a clock)."""
    asset = profile.assets[0]
    client = KmtronicUdpClient(
        connection.host, connection.port or profile.port, profile.answer_timeout_s
    )
    dwell = {**profile.min_dwell_s, **(connection.min_dwell_s or {})}
    guard = DwellGuard(
        dwell, block_overrides_dwell=profile.block_overrides_dwell, monotonic=clock.monotonic
    )
    relay_a = connection.relay_a or profile.relay_a
    relay_b = connection.relay_b or profile.relay_b
    if relay_a == relay_b:
        raise ValueError(f"device {device_id}: relay_a and relay_b must differ")
    link = SgReadyLink(client, asset.key, relay_a, relay_b, guard, device_id)
    plan = AssetPlan(
        asset.key,
        asset_id,
        AssetKind.HEAT_PUMP,
        (POINT,),
        identification={
            "Manufacturer": profile.manufacturer,
            "Model": profile.products[0],
            "DeviceProfile": profile.id,
        },
        setpoints={POINT: SetpointSpec(low=1, high=4, step=1, refresh_s=profile.refresh_s)},
    )
    poll = poll_s or profile.poll_s
    return PolledDriver(
        device_id,
        [plan],
        link,
        poll_s=poll,
        timeout_s=2 * profile.answer_timeout_s + 1.0,
        backoff_max_s=30.0,
        clock=clock,
    )


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, SgReadyProfile)
    connection = entry.connection
    assert isinstance(connection, SgReadyConnection)
    asset = profile.assets[0]
    return create_driver(
        entry.device_id, entry.asset_ids[asset.key], profile, connection, poll_s=entry.poll_s
    )


SGREADY = DriverType(
    name=DRIVER_NAME,
    summary="SG-Ready heat pumps on two relays of a KMTronic LAN board (UDP commands)",
    profile_schema=SgReadyProfile,
    connection_schema=SgReadyConnection,
    create=create,
    profile_dirs=(PROFILES,),
)
