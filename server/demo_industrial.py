"""The industrial demo site: ``ampacity run --demo industrial``.

A factory on a 400 kW grid connection (``sim.industrial``): 400 kWp PV, a 500 kWh / 250 kW
battery, two 150 kW DC fast chargers and an Alfen double AC station, a heat-led 50 kW CHP with
a heat meter on its circuit, a 20 kW fuel cell covering import, a 100 kW electrolyser on
surplus, two SG-Ready heat pumps on KMTronic relay boards, and the grid operator's control box
(contact 4: the heat pumps' block). Every device is a simulator on its real protocol on
loopback; the site file the demo builds is what an installer would write for the real devices,
with the example site-local profiles of ``sim/profiles`` for the units whose vendors publish no
register map.

Control: peak shaving at 300 kW import (the battery first, then the DC chargers are reduced),
surplus to the chargers, the heat pumps (SG-Ready 3/4), the electrolyser (minimum load 20 kW,
minimum run 5 min); the CHP runs by the heat store's temperature, the fuel cell covers import.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ampacity.drivers.registry import all_profiles
from ampacity.sim.industrial import MODBUS_DEVICES, PROFILES, IndustrialPhysics, IndustrialSite

from .config import SiteConfig
from .security import SecurityConfig

DEFAULT_DATA_DIR = Path("ampacity-data-industrial")
IMPORT_LIMIT_W = 300_000.0
"""The peak-shaving limit of the demo's grid connection, W (+ import)."""


def industrial_control(*, on_delay_s: float = 120.0, min_on_s: float = 600.0) -> dict[str, Any]:
    """The industrial demo's ``control:`` section (W, A, s)."""
    return {
        "cycle_s": 1,
        "grid_meter": "grid-meter",
        "batteries": [
            {
                "id": "battery",
                "reserve_soc_pct": 10,
                "max_charge_w": 250_000,
                "max_discharge_w": 250_000,
            }
        ],
        "pv": [{"id": "pv"}],
        "charge_points": [
            {"id": "dc1", "dc": True, "mode": 1, "min_power_w": 10_000, "max_power_w": 150_000},
            {"id": "dc2", "dc": True, "mode": 1, "min_power_w": 10_000, "max_power_w": 150_000},
            {"id": "wallbox-socket1", "mode": 3, "max_current_a": 32},
            {"id": "wallbox-socket2", "mode": 1, "max_current_a": 32},
        ],
        "heat_pumps": [
            {
                "id": hp,
                "boost_power_w": 7_000,
                "recommend_surplus_w": 20_000,
                "force_surplus_w": 60_000,
                "on_delay_s": on_delay_s,
                "min_on_s": min_on_s,
                "block_signal": "rcr.Contact4",
            }
            for hp in ("hp1", "hp2")
        ],
        "electrolysers": [
            {
                "id": "electrolyser",
                "min_power_w": 20_000,
                "max_power_w": 100_000,
                "ramp_w_per_s": 10_000,
                "min_run_s": 300,
                "stop_above_tank_pct": 95,
            }
        ],
        "generators": [
            {
                "id": "chp",
                "mode": "heat-led",
                "rated_power_w": 50_000,
                "min_power_w": 25_000,
                "temperature": "chp-heat.ReturnTemperature",
                "start_below_c": 55,
                "stop_above_c": 70,
                "min_run_s": 1800,
                "min_stop_s": 900,
            },
            {
                "id": "fuel-cell",
                "mode": "power-led",
                "rated_power_w": 20_000,
                "min_power_w": 5_000,
                "min_run_s": 600,
                "min_stop_s": 300,
            },
        ],
        "strategies": {
            "peak-shaving": {
                "template": "peak-shaving",
                "grid_import_limit_w": IMPORT_LIMIT_W,
                "hysteresis_w": 20_000,
                "order": ["battery", "charge_point", "heating", "electrolyser", "generator"],
            }
        },
        "strategy": "peak-shaving",
        "ripple_control": ["rcr"],
    }


@dataclass
class IndustrialDemo:
    """The running simulators and the site configuration that reaches them."""

    config: SiteConfig
    site: IndustrialSite
    """The simulators: ``site.physics`` (knobs for tests), ``site.boards``, ``site.ripple``."""


def industrial_config(
    site: IndustrialSite,
    data_dir: Path | None = None,
    port: int = 4840,
    control: dict[str, Any] | None = None,
    heat_pump_dwell_s: dict[int, float] | None = None,
) -> SiteConfig:
    """The site file of the running simulators, validated with the example profiles
    (``heat_pump_dwell_s``: the boards' SG-Ready dwell times instead of the profile's)."""
    devices: list[dict[str, Any]] = []
    for device_id, profile_id in MODBUS_DEVICES.items():
        host, device_port = site.endpoints[device_id]
        entry: dict[str, Any] = {
            "id": device_id,
            "profile": profile_id,
            "host": host,
            "port": device_port,
        }
        if device_id == "grid-meter":
            entry["role"] = "grid"
        devices.append(entry)
    for hp in ("hp1", "hp2"):
        host, board_port = site.endpoints[hp]
        board: dict[str, Any] = {"id": hp, "profile": "sgready_kmtronic_udp"}
        board |= {"host": host, "port": board_port}
        if heat_pump_dwell_s is not None:
            board["min_dwell_s"] = heat_pump_dwell_s
        devices.append(board)
    rcr_host, rcr_port = site.endpoints["rcr"]
    data = {
        "profiles_dir": str(PROFILES),
        "site": {
            "id": "factory",
            "name": "Ampacity industrial demo site",
            "latitude": 50.78,
            "longitude": 6.08,
        },
        "server": {"data_dir": str(data_dir or DEFAULT_DATA_DIR), "port": port},
        "devices": devices,
        "security": SecurityConfig.demo().model_dump(),
        "ripple_control": [
            {
                "id": "rcr",
                "name": "Control box (ripple-control receiver)",
                "source": {
                    "type": "modbus",
                    "host": rcr_host,
                    "port": rcr_port,
                    "function": "coil",
                    "addresses": [0, 1, 2, 3],
                },
            }
        ],
        "control": control if control is not None else industrial_control(),
    }
    return SiteConfig.model_validate(data, context={"profiles": all_profiles(PROFILES)})


@contextlib.asynccontextmanager
async def industrial_demo_site(
    data_dir: Path | None = None,
    port: int = 4840,
    *,
    physics: IndustrialPhysics | None = None,
    control: dict[str, Any] | None = None,
    heat_pump_dwell_s: dict[int, float] | None = None,
) -> AsyncIterator[IndustrialDemo]:
    """Start the industrial simulators; yield them with the site configuration that reaches
    them (tests pass their own ``physics`` knobs and faster ``control`` timings)."""
    site = IndustrialSite(physics=physics or IndustrialPhysics())
    async with site:
        config = industrial_config(site, data_dir, port, control, heat_pump_dwell_s)
        yield IndustrialDemo(config, site)
