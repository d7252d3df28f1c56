"""A short scenario with every extension of the format (series, several devices, a dated
vehicle, a published tariff, a demand charge) written to a temporary folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 6, 19, 4, 0, tzinfo=UTC)  # 06:00 local
GHI_W_M2 = 600.0
LOAD_W = 800.0
SPOT = [50.0, -40.0, 80.0, 120.0, 30.0, 10.0]  # EUR/MWh, one per hour from START

SCENARIO = """\
name: short-extended
start: 2024-06-19T04:00:00+00:00
hours: 6
step_s: 60
site:
  pv_peak_w: 4000
  inverter_nominal_w: 4000
  inverters:
    - {id: pv2, pv_peak_w: 2000, nominal_w: 2000}
  load_csv: {file: data/load.csv}
  irradiance_csv: {file: data/ghi.csv, label: end}
  battery: {capacity_wh: 5000, max_charge_w: 2500, max_discharge_w: 2500, soc: 5}
  batteries:
    - {id: battery2, capacity_wh: 5000, max_charge_w: 2500, max_discharge_w: 2500, soc: 5}
  sessions: {alfen1: null, alfen2: null, heidelberg: null}
  charge_points: [{id: cp4}]
  vehicles:
    - charge_point: cp4
      arrival: "2024-06-19T09:00:00+02:00"
      departure: "2024-06-19T11:00:00+02:00"
      energy_wh: 3000
      max_power_w: 1800
      phases: 1
tariff:
  asset: tariff
  prices_csv: {file: data/prices.csv}
  surcharge_per_kwh: 0.2
  export: spot-nonnegative
  demand_charge_per_kw_month: 15
modes: {cp4: Fast}
control:
  cycle_s: 60
  grid_meter: grid
  time_zone: Europe/Berlin
  tariff: tariff
  batteries: [{id: battery}, {id: battery2}]
  pv: [{id: pv}, {id: pv2}]
  charge_points: [{id: cp4, phases: 1}]
"""


def _csv(path: Path, rows: list[tuple[datetime, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# provenance: made up for a test\ntimestamp,value\n"
    text += "".join(f"{t.isoformat()},{v}\n" for t, v in rows)
    path.write_text(text, encoding="utf-8")


def write_short_scenario(tmp_path: Path) -> Path:
    """The scenario file and its series under ``tmp_path``."""
    data = tmp_path / "data"
    first = START - timedelta(days=28)
    quarter = timedelta(minutes=15)
    _csv(data / "load.csv", [(first + i * quarter, LOAD_W) for i in range(29 * 96)])
    ten = timedelta(minutes=10)
    # dark for the first hour, then a steady sky
    ghi = [
        (t, 0.0 if (t - START).total_seconds() % 86400 <= 3600 else GHI_W_M2)
        for t in (START - timedelta(days=3) + i * ten for i in range(1, 4 * 144))
    ]
    _csv(data / "ghi.csv", ghi)
    _csv(data / "prices.csv", [(START + timedelta(hours=h), p) for h, p in enumerate(SPOT)])
    path = tmp_path / "short.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path
