"""A fleet of simulated Modbus meters for the benchmarks: ``points`` / 12 Janitza UMG 604 meters
(12 polled points each) behind Modbus TCP endpoints that each serve several unit ids (like
gateways), every value moving at every refresh."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field

from ampacity.assets import PointValue
from ampacity.drivers.profile import all_profiles

from .server import SimServer, SimulatedDevice

FLEET_PROFILE = "janitza_umg604"
POINTS_PER_METER = 12
"""Polled data points of one UMG 604 in the fleet (one read block per poll)."""

_START_VALUES = {"Voltage": 230.0, "Frequency": 50.0, "Current": 10.0, "Energy": 1.0e6}


@dataclass
class MovingModel:
    """Every value moves by 0.01 at every ``tick``, so every poll changes every point."""

    offset: float
    tick: int = 0
    values: dict[str, float] = field(default_factory=dict)
    """Fixed values by point name (a benchmark's probe sets one)."""

    def read(self, asset: str, point: str) -> PointValue:
        if point in self.values:
            return self.values[point]
        if point.startswith("Identification"):
            return None
        start = next((v for k, v in _START_VALUES.items() if point.startswith(k)), 1000.0)
        return start + self.offset + 0.01 * self.tick

    def write(self, asset: str, point: str, value: PointValue) -> None:
        pass


async def serve_fleet(points: int, units_per_endpoint: int, poll_s: float) -> None:
    """Serve the fleet on loopback, print its site ``devices:`` entries as one JSON line, then
    move the values every half poll interval until cancelled (a benchmark's child process)."""
    profile = all_profiles()[FLEET_PROFILE]
    meters = math.ceil(points / POINTS_PER_METER)
    servers: list[SimServer] = []
    models: list[MovingModel] = []
    devices: list[dict[str, object]] = []
    for first in range(0, meters, units_per_endpoint):
        batch = range(first, min(meters, first + units_per_endpoint))
        sims = []
        for index in batch:
            model = MovingModel(offset=float(index))
            models.append(model)
            sims.append(SimulatedDevice(profile, model, unit_id=index - first + 1))
        server = SimServer(sims)
        host, port = await server.start_tcp("127.0.0.1", 0)
        servers.append(server)
        devices += [
            {
                "id": f"meter{index:05d}",
                "profile": FLEET_PROFILE,
                "host": host,
                "port": port,
                "unit_id": index - first + 1,
                "poll_s": poll_s,
            }
            for index in batch
        ]
    print(json.dumps(devices), flush=True)
    while True:
        for model in models:
            model.tick += 1
        for server in servers:
            server.refresh()
        await asyncio.sleep(poll_s / 2)
