"""The toy driver: how to read (a JSON body into point values) and how to write, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from ampacity.assets import AssetKind, PointValue
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
from pydantic import BaseModel, ConfigDict, Field

PROFILES = Path(__file__).parent / "profiles"


class JsonPoint(BaseModel):
    """A point read from one field of the status body."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    scale: float = 1.0


class JsonAsset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    kind: AssetKind
    points: dict[str, JsonPoint]
    serial_field: str | None = None
    limit_max_w: float = Field(gt=0)
    limit_step_w: float = Field(gt=0)
    refresh_s: float = Field(gt=0)


class ToyProfile(ProfileHeader):
    driver: str = "toy_http_rod"
    assets: tuple[JsonAsset, ...] = Field(min_length=1, max_length=1)


class ToyConnection(BaseModel):
    """Where the device is: its base URL."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://")


class ToyLink:
    """GET /status → point values; POST /limit ← the setpoint."""

    def __init__(self, url: str, asset: JsonAsset) -> None:
        self.url = url.rstrip("/")
        self.asset = asset
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return self.url

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        try:
            async with self._http().get(f"{self.url}/status") as response:
                if response.status != 200:
                    raise DeviceError(f"{self.url}/status answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except aiohttp.ClientConnectionError as exc:
            raise OSError(f"cannot reach {self.url}: {exc}") from exc
        except ValueError as exc:
            raise DeviceError(f"{self.url}/status: the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise DeviceError(f"{self.url}/status: the answer is not a JSON object")
        out: dict[PointKey, PointValue | Sample] = {}
        for name, point in self.asset.points.items():
            raw = body.get(point.field)
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                out[(self.asset.key, name)] = raw * point.scale
        if self.asset.serial_field and isinstance(body.get(self.asset.serial_field), str):
            out[(self.asset.key, "Identification.SerialNumber")] = body[self.asset.serial_field]
        return out

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        try:
            async with self._http().post(f"{self.url}/limit", json={"limit_w": value}) as answer:
                if answer.status != 200:
                    raise DeviceError(f"{self.url}/limit answered HTTP {answer.status}")
                body: dict[str, Any] = await answer.json(content_type=None)
        except aiohttp.ClientConnectionError as exc:
            raise OSError(f"cannot reach {self.url}: {exc}") from exc
        read_back = body.get("limit_w")
        return float(read_back) if isinstance(read_back, int | float) else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, ToyProfile)
    connection = entry.connection
    assert isinstance(connection, ToyConnection)
    asset = profile.assets[0]
    plan = AssetPlan(
        asset.key,
        entry.asset_ids[asset.key],
        asset.kind,
        (*asset.points, "PowerSetpoint"),
        identification={
            "Manufacturer": profile.manufacturer,
            "Model": profile.products[0],
            "DeviceProfile": profile.id,
        },
        setpoints={
            "PowerSetpoint": SetpointSpec(
                low=0.0,
                high=asset.limit_max_w,
                step=asset.limit_step_w,
                refresh_s=asset.refresh_s,
            )
        },
    )
    return PolledDriver(
        entry.device_id,
        [plan],
        ToyLink(connection.url, asset),
        poll_s=entry.poll_s or profile.poll_s,
        timeout_s=1.0,
        backoff_max_s=1.0,
    )


TOY = DriverType(
    name="toy_http_rod",
    summary="A JSON-over-HTTP heating rod (test driver)",
    profile_schema=ToyProfile,
    connection_schema=ToyConnection,
    create=create,
    profile_dirs=(PROFILES,),
)
