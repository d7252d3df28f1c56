"""The RCT Power driver: ``RctLink`` reads objects and drives the battery setpoint.

Reads: every object the profile names is requested in one burst of READ frames on one TCP
connection; the answers are matched by object id (an RCT inverter also sends frames meant for
other clients, e.g. the RCT app, which are ignored). A read succeeds when every object
answered within ``transport.timeout_s``; an object whose answer was dropped (bad CRC, cut
short) is asked for once more, and if it still has no valid answer the read fails with the
reason (``Health.LastError``), so a damaged frame never becomes a value.

The setpoint (``BatteryPowerSetpoint``, W, + = discharge) is the inverter's external battery
power: ``power_mng.battery_power_extern`` (W, + = discharge) with ``power_mng.soc_strategy`` =
2 (external). The protocol has no acknowledgement and no error answers, so every write is
followed by a read of both objects; a device that did not take them is a refused write. The
battery must report ``battery.bat_status`` = 0 (ready), else the write is refused before
anything is sent. Refusals raise ``WriteError`` (the device answered, ``Health`` is left
alone); a device that does not answer is a failure like a failed read.

The inverter has no fallback timer for the external mode: the runtime re-sends the setpoint
every ``refresh_s`` (which re-asserts it after a reboot, when the inverter drops values that
were not stored), and closing the driver writes 0 W and restores the strategy and the
grid-charging flag the inverter had before the first write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from ampacity.assets import SPECS, AssetKind, PointValue, Quality, WriteError
from ampacity.drivers.base import Driver
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry, DriverType
from ampacity.drivers.runtime import (
    AssetPlan,
    DeviceError,
    PointKey,
    PolledDriver,
    Sample,
    SetpointSpec,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .objects import OBJECTS, SOC_STRATEGY_EXTERNAL, SOC_STRATEGY_INTERNAL, RctObject
from .protocol import (
    Command,
    Frame,
    FrameError,
    FrameReader,
    decode_value,
    encode_value,
    read_request,
    write_request,
)

log = logging.getLogger("ampacity.drivers.rct")

PROFILES = Path(__file__).parent / "profiles"
SETPOINT = "BatteryPowerSetpoint"
READ_BACK_TOLERANCE_W = 1.0
"""A read-back within this of the written power counts as taken (float32 on the wire)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RctPoint(_Strict):
    """A model point from one or more RCT objects: ``(sum of objects) × scale × sign``."""

    objects: tuple[str, ...] = Field(min_length=1, description="RCT object names, summed.")
    scale: float = Field(1.0, description="Device unit → model unit (battery.soc 0..1 → %: 100).")
    sign: Literal[1, -1] = 1

    @field_validator("objects")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in OBJECTS]
        if unknown:
            raise ValueError(f"unknown RCT object {unknown[0]!r}; known: {', '.join(OBJECTS)}")
        return names


class RctSetpoint(_Strict):
    """How ``BatteryPowerSetpoint`` is bounded and kept alive.

    Attributes:
        max_charge_w / max_discharge_w: the largest powers a client may ask for, W (≥ 0).
        refresh_s: re-send period, s.
        grid_charging: a charge setpoint also sets ``power_mng.use_grid_power_enable``, so the
            battery charges at the set power even beyond the PV surplus.
    """

    max_charge_w: float = Field(gt=0)
    max_discharge_w: float = Field(gt=0)
    refresh_s: float = Field(30.0, gt=0)
    grid_charging: bool = True


class RctAsset(_Strict):
    key: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    kind: AssetKind
    points: dict[str, RctPoint]
    identification: dict[Literal["Model", "SerialNumber", "FirmwareVersion"], str] = Field(
        default_factory=dict, description="Identification field → RCT object name (a text)."
    )
    setpoint: RctSetpoint | None = None

    @model_validator(mode="after")
    def _points_of_kind(self) -> RctAsset:
        known = {p.name for p in SPECS[self.kind].points}
        for name in self.points:
            if name not in known or name == SETPOINT:
                raise ValueError(f"{self.kind.value} has no readable point {name!r}")
        for field, name in self.identification.items():
            if name not in OBJECTS:
                raise ValueError(f"identification.{field}: unknown RCT object {name!r}")
        if self.setpoint is not None and self.kind is not AssetKind.BATTERY:
            raise ValueError("only a Battery asset takes a setpoint")
        return self


class RctTransport(_Strict):
    port: int = Field(8899, ge=1, le=65535)
    timeout_s: float = Field(2.0, gt=0, le=30, description="Wait for all answers of one read.")


class RctProfile(ProfileHeader):
    driver: Literal["rct"] = "rct"
    transport: RctTransport = RctTransport()
    assets: tuple[RctAsset, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> RctProfile:
        keys = [a.key for a in self.assets]
        if len(keys) != len(set(keys)):
            raise ValueError("asset keys must be unique")
        if sum(a.setpoint is not None for a in self.assets) > 1:
            raise ValueError("one battery setpoint per device")
        return self


class RctConnection(BaseModel):
    """Where the inverter is: its LAN address (TCP port 8899 unless the profile says else)."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(description="The inverter's IP address or host name.")
    port: int | None = Field(None, ge=1, le=65535, description="Defaults to the profile's.")


class RctLink:
    """One TCP connection to an RCT inverter: reads the profile's objects, writes the setpoint.

    Args:
        host, port: the inverter.
        assets: the profile's assets.
        timeout_s: how long one read (all objects) or one write with its read-back may take.
    """

    def __init__(
        self, host: str, port: int, assets: Sequence[RctAsset], timeout_s: float = 2.0
    ) -> None:
        self.host = host
        self.port = port
        self.assets = tuple(assets)
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames = FrameReader()
        self._lock = asyncio.Lock()
        self._identified = False
        self._restore: tuple[int, bool] | None = None
        names = {n for a in self.assets for p in a.points.values() for n in p.objects}
        self._battery = next((a for a in self.assets if a.setpoint is not None), None)
        if self._battery is not None:  # the setpoint in force, shown on BatteryPowerSetpoint
            names |= {"power_mng.battery_power_extern", "power_mng.soc_strategy"}
        self._measured = sorted(names)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    # --- DeviceLink ------------------------------------------------------------------------------

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        names = list(self._measured)
        if not self._identified:
            names += sorted({n for a in self.assets for n in a.identification.values()})
        async with self._lock:
            values = await self._transaction(names)
        self._identified = True
        out: dict[PointKey, PointValue | Sample] = {}
        for asset in self.assets:
            for point, spec in asset.points.items():
                parts = [values[n] for n in spec.objects]
                if not all(isinstance(v, int | float) for v in parts):
                    raise DeviceError(f"{asset.key}.{point}: {spec.objects} are not numbers")
                total = math.fsum(float(v) for v in parts) * spec.scale * spec.sign
                out[(asset.key, point)] = float(f"{total:.12g}")
            for field, name in asset.identification.items():
                if name in values:
                    out[(asset.key, f"Identification.{field}")] = str(values[name])
        if self._battery is not None:  # no external setpoint in force: no value
            external = values["power_mng.soc_strategy"] == SOC_STRATEGY_EXTERNAL
            held = float(values["power_mng.battery_power_extern"])
            out[(self._battery.key, SETPOINT)] = (
                float(f"{held:.7g}") if external else Sample(None, Quality.BAD_OUT_OF_RANGE)
            )
        return out

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        battery = self._battery
        if battery is None or battery.setpoint is None or point != (battery.key, SETPOINT):
            raise DeviceError(f"{point[0]}.{point[1]} is not writable on an RCT inverter")
        watts = float(value)
        async with self._lock:
            state = await self._transaction(
                ["battery.bat_status", "power_mng.soc_strategy", "power_mng.use_grid_power_enable"]
            )
            status = state["battery.bat_status"]
            if status != 0:  # the device answered and is fine: a refusal, not a failure
                raise WriteError(
                    f"{battery.key}.{SETPOINT}: battery not ready for external control "
                    f"(battery.bat_status = {status}, 0 = ready): setpoint refused"
                )
            strategy = int(state["power_mng.soc_strategy"])
            grid = bool(state["power_mng.use_grid_power_enable"])
            if self._restore is None:
                before = SOC_STRATEGY_INTERNAL if strategy == SOC_STRATEGY_EXTERNAL else strategy
                self._restore = (before, grid)
            if watts < 0 and battery.setpoint.grid_charging and not grid:
                await self._write("power_mng.use_grid_power_enable", True)
            await self._write("power_mng.battery_power_extern", watts)
            if strategy != SOC_STRATEGY_EXTERNAL:
                await self._write("power_mng.soc_strategy", SOC_STRATEGY_EXTERNAL)
            back = await self._transaction(
                ["power_mng.battery_power_extern", "power_mng.soc_strategy"]
            )
        if back["power_mng.soc_strategy"] != SOC_STRATEGY_EXTERNAL:
            raise WriteError(
                f"power_mng.soc_strategy is {back['power_mng.soc_strategy']} after writing "
                f"{SOC_STRATEGY_EXTERNAL} (external): setpoint not taken"
            )
        held = float(back["power_mng.battery_power_extern"])
        if abs(held - watts) > READ_BACK_TOLERANCE_W:
            raise WriteError(
                f"power_mng.battery_power_extern is {held:g} W after writing {watts:g} W: "
                "setpoint not taken"
            )
        return float(f"{held:.7g}")

    async def close(self) -> None:
        """Give the battery back to the inverter's own control (best effort), then disconnect."""
        restore, self._restore = self._restore, None
        if restore is not None and self._writer is not None:
            strategy, grid = restore
            with contextlib.suppress(OSError, TimeoutError, DeviceError):
                async with asyncio.timeout(self.timeout_s), self._lock:
                    await self._write("power_mng.battery_power_extern", 0.0)
                    await self._write("power_mng.soc_strategy", strategy)
                    await self._write("power_mng.use_grid_power_enable", grid)
                    back = await self._ask(["power_mng.soc_strategy"])
                if back["power_mng.soc_strategy"] != strategy:
                    raise DeviceError("the strategy was not restored")
                log.info("%s: battery back under the inverter's own control", self.endpoint)
        await self._disconnect()

    # --- internals -------------------------------------------------------------------------------

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            async with asyncio.timeout(self.timeout_s):
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._frames = FrameReader()
            self._identified = False
        return self._reader, self._writer

    async def _disconnect(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _write(self, name: str, value: float | int | bool) -> None:
        obj = OBJECTS[name]
        _, writer = await self._connect()
        writer.write(write_request(obj.oid, encode_value(obj.type, value)))
        await writer.drain()

    async def _transaction(self, names: Sequence[str]) -> dict[str, float | int | bool | str]:
        """Ask for ``names`` and wait for a valid answer to each.

        Raises:
            DeviceError: an object without a valid answer (with the dropped frame's reason),
                or an answer of the wrong size.
            TimeoutError: no answer at all in time.
            OSError: the connection failed.
        """
        try:
            return await self._ask(names)
        except (OSError, TimeoutError, DeviceError):
            await self._disconnect()  # a fresh connection drops half-read frames
            raise

    async def _ask(self, names: Sequence[str]) -> dict[str, float | int | bool | str]:
        reader, writer = await self._connect()
        wanted: dict[int, RctObject] = {OBJECTS[n].oid: OBJECTS[n] for n in names}
        writer.write(b"".join(read_request(oid) for oid in wanted))
        await writer.drain()
        got: dict[str, float | int | bool | str] = {}
        dropped: FrameError | None = None
        retried: set[int] = set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while len(got) < len(wanted):
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    chunk = await reader.read(4096)
            except TimeoutError:
                break
            if not chunk:
                raise ConnectionResetError(f"{self.endpoint} closed the connection")
            for item in self._frames.feed(chunk):
                if isinstance(item, FrameError):
                    dropped = item
                    log.debug("%s: %s", self.endpoint, item)
                    oid = getattr(item, "oid", None)
                    if oid in wanted and oid not in retried:  # ask once more
                        retried.add(oid)
                        writer.write(read_request(oid))
                        await writer.drain()
                    continue
                obj = self._answer(item, wanted)
                if obj is not None:
                    try:
                        got[obj.name] = decode_value(obj.type, item.data)
                    except FrameError as exc:
                        raise DeviceError(f"{obj.name} (0x{obj.oid:08X}): {exc}") from exc
        missing = [o for o in wanted.values() if o.name not in got]
        if not missing:
            return got
        listed = ", ".join(f"{o.name} (0x{o.oid:08X})" for o in missing[:3])
        if dropped is not None:
            raise DeviceError(f"no valid answer for {listed}; last dropped frame: {dropped}")
        if got:
            raise DeviceError(f"no answer for {listed} within {self.timeout_s:g} s")
        raise TimeoutError(f"no answer from {self.endpoint} within {self.timeout_s:g} s")

    @staticmethod
    def _answer(frame: Frame, wanted: Mapping[int, RctObject]) -> RctObject | None:
        if frame.command not in (Command.RESPONSE, Command.LONG_RESPONSE):
            return None  # a request of another client, echoed by the inverter
        return wanted.get(frame.oid)


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, RctProfile)
    connection = entry.connection
    assert isinstance(connection, RctConnection)
    plans = []
    for asset in profile.assets:
        setpoints = {}
        points = tuple(asset.points)
        if asset.setpoint is not None:
            sp = asset.setpoint
            setpoints[SETPOINT] = SetpointSpec(
                low=-sp.max_charge_w, high=sp.max_discharge_w, refresh_s=sp.refresh_s
            )
            points += (SETPOINT,)
        plans.append(
            AssetPlan(
                asset.key,
                entry.asset_ids[asset.key],
                asset.kind,
                points,
                identification={
                    "Manufacturer": profile.manufacturer,
                    "Model": profile.products[0].split(" (")[0],
                    "DeviceProfile": profile.id,
                },
                setpoints=setpoints,
            )
        )
    timeout = profile.transport.timeout_s
    link = RctLink(
        connection.host, connection.port or profile.transport.port, profile.assets, timeout
    )
    return PolledDriver(
        entry.device_id,
        plans,
        link,
        poll_s=entry.poll_s or profile.poll_s,
        timeout_s=2 * timeout + 1.0,  # a write: state, writes, read-back
        backoff_max_s=30.0,
    )


RCT = DriverType(
    name="rct",
    summary="RCT Power inverters and storage over RCT's TCP protocol (port 8899)",
    profile_schema=RctProfile,
    connection_schema=RctConnection,
    create=create,
    profile_dirs=(PROFILES,),
)
