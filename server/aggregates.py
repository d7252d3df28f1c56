"""Site aggregates computed from the asset readings (architecture §3, ``Site``).

Sign conventions: ``GridPower`` positive = import; ``PvPower`` positive = production;
``BatteryPower`` positive = discharge; ``HouseConsumption`` = grid + PV + battery, positive =
consumption (everything on site that is not PV or battery, charge points included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ampacity.assets import AssetKind, PointValue, Quality, Reading, ReadingSink


@dataclass(slots=True)
class _Input:
    value: float | None = None
    quality: Quality = Quality.BAD_WAITING_FOR_INITIAL_DATA
    time: datetime | None = None


@dataclass(slots=True)
class SiteAggregator:
    """Recomputes the site's aggregate points whenever one of their inputs changes."""

    site_id: str
    sink: ReadingSink
    grid_meters: set[str] = field(default_factory=set)
    pv_inverters: set[str] = field(default_factory=set)
    batteries: set[str] = field(default_factory=set)
    _inputs: dict[str, _Input] = field(default_factory=dict)

    def add_asset(self, asset_id: str, kind: AssetKind, role: str | None) -> None:
        if kind is AssetKind.ELECTRICITY_METER and role == "grid":
            self.grid_meters.add(asset_id)
        elif kind is AssetKind.PV_INVERTER:
            self.pv_inverters.add(asset_id)
        elif kind is AssetKind.BATTERY:
            self.batteries.add(asset_id)

    def on_change(self, reading: Reading) -> None:
        """Writer listener: feed ``<asset>.ActivePower`` changes in, publish new aggregates."""
        if reading.point != "ActivePower":
            return
        asset = reading.asset_id
        if asset not in self.grid_meters | self.pv_inverters | self.batteries:
            return
        value = reading.value if isinstance(reading.value, int | float) else None
        self._inputs[asset] = _Input(value, reading.quality, reading.source_time)
        self.sink.publish(self.compute(reading.source_time))

    def _sum(self, assets: set[str]) -> tuple[float | None, Quality]:
        if not assets:
            return 0.0, Quality.GOOD
        total = 0.0
        worst = Quality.GOOD
        for asset in assets:
            item = self._inputs.get(asset, _Input())
            if item.value is None or item.quality.is_bad:
                return None, item.quality
            if item.quality is not Quality.GOOD:
                worst = item.quality
            total += item.value
        return total, worst

    def compute(self, now: datetime) -> list[Reading]:
        grid, grid_q = (
            self._sum(self.grid_meters)
            if self.grid_meters
            else (None, Quality.BAD_WAITING_FOR_INITIAL_DATA)
        )
        pv, pv_q = self._sum(self.pv_inverters)
        battery, battery_q = self._sum(self.batteries)
        readings = [
            self._reading("GridPower", grid, grid_q, now),
            self._reading("PvPower", pv, pv_q, now),
            self._reading("BatteryPower", battery, battery_q, now),
        ]
        if grid is None or pv is None or battery is None:
            worst = next(q for q in (grid_q, pv_q, battery_q) if q is not Quality.GOOD)
            for name in ("HouseConsumption", "SelfConsumptionRate", "AutarkyRate"):
                readings.append(self._reading(name, None, worst, now))
            return readings
        quality = next(
            (q for q in (grid_q, pv_q, battery_q) if q is not Quality.GOOD), Quality.GOOD
        )
        consumption = grid + pv + battery
        export = max(-grid, 0.0)
        grid_import = max(grid, 0.0)
        self_consumption = 100.0 * (pv - export) / pv if pv > 0 else 100.0
        autarky = 100.0 * (consumption - grid_import) / consumption if consumption > 0 else 100.0
        readings += [
            self._reading("HouseConsumption", consumption, quality, now),
            self._reading("SelfConsumptionRate", _clamp_pct(self_consumption), quality, now),
            self._reading("AutarkyRate", _clamp_pct(autarky), quality, now),
        ]
        return readings

    def _reading(self, point: str, value: PointValue, quality: Quality, now: datetime) -> Reading:
        return Reading(self.site_id, point, value, quality, now)


def _clamp_pct(value: float) -> float:
    return min(100.0, max(0.0, value))
