"""``ampacity read``: read every point of one device once, from the command line.

What an installer runs before writing the site file, and how a profile is checked against a real
device: the device is built exactly as a site would build it (same registry, same driver, same
connection schema), run until every point of the profile has an answer (a streaming protocol: the
first complete frame or datagram) or the timeout passes, then stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ampacity.assets import SPECS, AssetKind, PointValue, Quality, Reading
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import ReadTarget, driver_type, format_location
from pydantic import ValidationError

from .config import SiteConfig
from .factory import build_context, build_drivers

READ_DEVICE_ID = "read"

STATUS_NAMES = {
    Quality.GOOD: "Good",
    Quality.UNCERTAIN_LAST_USABLE: "UncertainLastUsableValue",
    Quality.UNCERTAIN_SUBSTITUTE: "UncertainSubstituteValue",
    Quality.BAD_COMMUNICATION_ERROR: "BadCommunicationError",
    Quality.BAD_OUT_OF_RANGE: "BadOutOfRange",
    Quality.BAD_SENSOR_FAILURE: "BadSensorFailure",
    Quality.BAD_WAITING_FOR_INITIAL_DATA: "BadWaitingForInitialData",
}
"""OPC UA status names, as a client shows them."""


class ReadSetupError(ValueError):
    """The flags do not describe a device of that profile (the message says which)."""


@dataclass(slots=True)
class AssetRead:
    key: str
    asset_id: str
    kind: AssetKind
    points: tuple[str, ...]
    """The points a read answers (the asset's points less its write-only setpoints)."""
    readings: dict[str, Reading] = field(default_factory=dict)


@dataclass(slots=True)
class ReadResult:
    """What one read brought.

    Attributes:
        profile: the profile id.
        assets: per asset, the last reading of each point.
        error: the device's last error in words (``""`` if none).
        answered: the device answered at least once.
    """

    profile: str
    assets: list[AssetRead]
    error: str = ""
    answered: bool = False
    """The device answered at least once (its ``Health.LastGood`` was set)."""

    @property
    def any_good(self) -> bool:
        """The device answered and at least one point is Good (constants alone do not count)."""
        return self.answered and any(
            r.quality.is_good for a in self.assets for r in a.readings.values()
        )

    def as_json(self) -> dict[str, Any]:
        """``{"profile": ID, "assets": [{"key", "kind", "points": {P: {value, unit, status}}}]}``
        (status names as in OPC UA)."""
        return {
            "profile": self.profile,
            "assets": [
                {
                    "key": asset.key,
                    "kind": asset.kind.value,
                    "points": {
                        point: {
                            "value": _plain(reading.value),
                            "unit": _unit(asset.kind, point),
                            "status": STATUS_NAMES[reading.quality],
                        }
                        for point, reading in asset.readings.items()
                    },
                }
                for asset in self.assets
            ],
        }

    def as_table(self) -> str:
        rows = [("asset", "point", "value", "unit", "quality")]
        for asset in self.assets:
            for point, reading in asset.readings.items():
                value = "" if reading.value is None else str(_plain(reading.value))
                rows.append(
                    (
                        asset.key,
                        point,
                        value,
                        _unit(asset.kind, point),
                        STATUS_NAMES[reading.quality],
                    )
                )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )


class _Collector:
    """The sink of the one driver: keeps the latest reading per point, wakes the waiter."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], Reading] = {}
        self.changed = asyncio.Event()

    def publish(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.latest[(reading.asset_id, reading.point)] = reading
        self.changed.set()


async def read_device(
    profile_id: str,
    target: ReadTarget,
    profiles: Mapping[str, ProfileHeader],
    *,
    timeout_s: float = 10.0,
) -> ReadResult:
    """Build the device as a site would, read every point once, stop.

    Raises:
        ReadSetupError: unknown profile, or flags that do not make a valid device entry.
    """
    if profile_id not in profiles:
        raise ReadSetupError(
            f"unknown profile {profile_id!r}; see `ampacity devices` "
            f"(known: {', '.join(sorted(profiles))})"
        )
    profile = profiles[profile_id]
    keys, buses = driver_type(profile.driver).connection_from_target(target)
    data = {
        "devices": [{"id": READ_DEVICE_ID, "profile": profile_id, **keys}],
        "buses": buses,
    }
    try:
        config = SiteConfig.model_validate(data, context={"profiles": profiles})
    except ValidationError as exc:
        problems = [
            f"{format_location(tuple(e['loc'])[2:] or tuple(e['loc']))}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        ]
        raise ReadSetupError("; ".join(problems)) from exc
    context = build_context(config)
    try:
        async with asyncio.timeout(timeout_s):
            drivers = await build_drivers(config, context)
    except TimeoutError:
        await context.aclose()
        return ReadResult(profile_id, [], f"no answer within {timeout_s:g} s")
    driver = drivers[0]
    kinds = dict(profile.asset_kinds())
    keys_by_id = {v: k for k, v in _asset_ids(config).items()}
    assets = [
        AssetRead(
            keys_by_id.get(info.asset_id, info.asset_id),
            info.asset_id,
            info.kind,
            tuple(p for p in info.points if p not in info.write_only),
        )
        for info in driver.assets
    ]
    assert all(a.kind == kinds.get(a.key, a.kind) for a in assets)
    sink = _Collector()
    task = asyncio.create_task(driver.run(sink), name=f"read {profile_id}")
    try:
        await _until_complete(sink, assets, timeout_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await context.aclose()
    error = ""
    answered = any(point == "Health.LastGood" for _, point in sink.latest)
    for asset in assets:
        for point in asset.points:
            reading = sink.latest.get((asset.asset_id, point))
            if reading is not None:
                asset.readings[point] = reading
        for (asset_id, point), reading in sink.latest.items():
            is_ident = asset_id == asset.asset_id and point.startswith("Identification.")
            if is_ident and reading.value not in (None, ""):
                asset.readings.setdefault(point, reading)
        last_error = sink.latest.get((asset.asset_id, "Health.LastError"))
        if last_error is not None and last_error.value:
            error = str(last_error.value)
    return ReadResult(profile_id, assets, error, answered)


def _asset_ids(config: SiteConfig) -> dict[str, str]:
    from .config import device_asset_ids

    device = config.devices[0]
    return device_asset_ids(device, config.profile_catalog()[device.profile])


async def _until_complete(sink: _Collector, assets: list[AssetRead], timeout_s: float) -> None:
    """Until every point has an answer (any quality), or the timeout."""
    wanted = {(a.asset_id, p) for a in assets for p in a.points}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while True:
                answered = {
                    key
                    for key in wanted
                    if (r := sink.latest.get(key)) is not None
                    and r.quality is not Quality.BAD_WAITING_FOR_INITIAL_DATA
                }
                if answered >= wanted:
                    return
                sink.changed.clear()
                await sink.changed.wait()


def _unit(kind: AssetKind, point: str) -> str:
    if point.startswith("Identification."):
        return ""
    spec = SPECS[kind].point(point)
    return spec.unit.symbol if spec.unit is not None else ""


def _plain(value: PointValue) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_json(result: ReadResult) -> str:
    return json.dumps(result.as_json(), ensure_ascii=False)
