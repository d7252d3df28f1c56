"""Alarm burst benchmark: N devices go offline at once -> N communication-lost alarms.

A site with N simulated Janitza UMG 604 meters (Modbus TCP on loopback, one endpoint each,
polled every second, request timeout 1 s) plus a grid meter that stays online, and a control
cycle (1 s) running. A subscribed asyncua client (another connection, the Server object's
events, select + where OfType ConditionType) counts the alarms. Each run silences all N meters
at once, waits for the N ``CommunicationLost`` events at the client, heals the meters and waits
for the N returns to normal. It prints, as medians over ``--runs``:

* **detection**: from silencing the meters until the server has raised all N alarms (bounded by
  the poll interval plus the request timeout: the server cannot know sooner);
* **delivery**: from the server raising the last alarm to the client receiving it, and from the
  first alarm raised to the client holding all N (the burst's delivery time);
* **control-cycle overruns** during the runs (should stay 0) and the longest cycle, ms.

Nothing here passes or fails.

    python bench/alarms_burst.py [--devices 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ampacity.drivers.registry import all_profiles
from ampacity.server.app import RunningSite, start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.faults import Fault
from ampacity.sim.server import SimServer, SimulatedDevice
from asyncua import Client, ua

PROFILE = "janitza_umg604"
GRID = "grid"


class Meter:
    def read(self, asset: str, point: str) -> Any:
        if point.startswith("Identification"):
            return None
        return {"ActivePower": 500.0, "Frequency": 50.0}.get(point, 230.0)

    def write(self, asset: str, point: str, value: Any) -> None:
        pass


class Counter:
    """Client side: arrival time of each CommunicationLost event by (condition, active)."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, bool], float] = {}
        self.changed = asyncio.Event()

    def event_notification(self, event: Any) -> None:
        fields = event.get_event_props_as_fields_dict()
        if fields["ConditionName"].Value != "CommunicationLost":
            return
        key = (str(fields["NodeId"].Value.Identifier), bool(fields["ActiveState/Id"].Value))
        self.arrived.setdefault(key, time.monotonic())
        self.changed.set()

    async def until(self, count: int, active: bool, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while sum(1 for _, a in self.arrived if a is active) < count:
                self.changed.clear()
                await self.changed.wait()


def event_filter() -> ua.EventFilter:
    flt = ua.EventFilter()
    for path in ("ConditionName", "ActiveState/Id"):
        op = ua.SimpleAttributeOperand()
        op.TypeDefinitionId = ua.NodeId(ua.ObjectIds.BaseEventType)
        op.BrowsePath = [ua.QualifiedName(p, 0) for p in path.split("/")]
        op.AttributeId = ua.AttributeIds.Value
        flt.SelectClauses.append(op)
    cid = ua.SimpleAttributeOperand()
    cid.TypeDefinitionId = ua.NodeId(ua.ObjectIds.ConditionType)
    cid.AttributeId = ua.AttributeIds.NodeId
    flt.SelectClauses.append(cid)
    flt.WhereClause = ua.ContentFilter(
        Elements=[
            ua.ContentFilterElement(
                FilterOperator=ua.FilterOperator.OfType,
                FilterOperands=[
                    ua.LiteralOperand(Value=ua.Variant(ua.NodeId(ua.ObjectIds.ConditionType)))
                ],
            )
        ]
    )
    return flt


async def start(devices: int, data_dir: Path) -> tuple[RunningSite, list[Any], Any]:
    profile = all_profiles()[PROFILE]
    sims: list[tuple[SimServer, SimulatedDevice]] = []
    entries = []
    for index in range(devices + 1):
        device = SimulatedDevice(profile, Meter(), unit_id=1)
        server = SimServer([device])
        host, port = await server.start_tcp("127.0.0.1", 0)
        sims.append((server, device))
        name = GRID if index == devices else f"m{index:04d}"
        entries.append(
            {
                "id": name,
                "profile": PROFILE,
                "host": host,
                "port": port,
                "unit_id": 1,
                "poll_s": 1.0,
                **({"role": "grid"} if name == GRID else {}),
            }
        )
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = SiteConfig.model_validate(
        {
            "site": {"id": "burst", "name": "Alarm burst"},
            "server": {"host": "127.0.0.1", "port": port, "data_dir": str(data_dir)},
            "devices": entries,
            "storage": {"fsync": False},
            "security": {"allow_none": True, "anonymous": "viewer", "anonymous_on_none": "viewer"},
            "control": {"grid_meter": GRID},
        }
    )
    context = build_context(config)
    drivers = await build_drivers(config, context)
    site = await start_site(config, drivers)
    return site, sims, context


async def run(devices: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        site, sims, context = await start(devices, Path(tmp) / "data")
        print(f"site with {devices} meters up in {time.monotonic() - t0:.1f} s")
        assert site.alarms is not None and site.control is not None
        alarms = site.alarms
        reached: dict[str, float] = {}
        report = alarms._report

        async def timed(cond: Any, transition: Any, comment: str = "") -> None:
            await report(cond, transition, comment)
            reached[cond.definition.key] = time.monotonic()

        alarms._report = timed  # type: ignore[method-assign]
        counter = Counter()
        client = Client(site.endpoint, timeout=30)
        await client.connect()
        try:
            sub = await client.create_subscription(50, counter)
            await sub.subscribe_events(
                client.get_node(ua.NodeId(ua.ObjectIds.Server)),
                evfilter=event_filter(),
                queuesize=4 * devices,
            )
            deadline = time.monotonic() + 60
            while any(
                site.writer.slot(f"m{i:04d}.Health.Connected").value is not True
                for i in range(devices)
            ):
                assert time.monotonic() < deadline, "meters never all connected"
                await asyncio.sleep(0.2)
            stats = site.control.cycle.stats
            overruns0 = stats.overruns
            detection, last_delivery, burst = [], [], []
            longest = [0.0]

            async def sample() -> None:
                while True:
                    longest[0] = max(longest[0], stats.last_duration_s * 1000)
                    await asyncio.sleep(0.05)

            sampler = asyncio.create_task(sample())
            for _ in range(runs):
                counter.arrived.clear()
                reached.clear()
                silenced = time.monotonic()
                for _, device in sims[:devices]:
                    device.faults.set(Fault.SILENT)
                await counter.until(devices, True, 120)
                times = [t for k, t in reached.items() if k.endswith(".CommunicationLost")]
                client_times = [t for (_, a), t in counter.arrived.items() if a]
                detection.append(max(times) - silenced)
                last_delivery.append(max(client_times) - max(times))
                burst.append(max(client_times) - min(times))
                for _, device in sims[:devices]:
                    device.faults.clear()
                await counter.until(devices, False, 120)
            overruns = stats.overruns - overruns0
            sampler.cancel()
        finally:
            await client.disconnect()
            await site.stop()
            await context.aclose()
            for server, _ in sims:
                await server.stop()

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ms"

    print(f"{devices} devices offline at once, median of {runs} runs:")
    print(f"  detection (silenced -> all {devices} alarms raised): {ms(detection)}")
    print(f"  delivery of the last alarm (raised -> at the client): {ms(last_delivery)}")
    print(f"  burst (first raised -> all {devices} at the client):  {ms(burst)}")
    print(
        f"  control-cycle overruns during the runs: {overruns}; longest cycle {longest[0]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.runs))


if __name__ == "__main__":
    main()
