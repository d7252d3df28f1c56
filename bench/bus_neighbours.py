"""A silent device on a shared RS485 bus and its healthy neighbour: how long is the neighbour's
value not Good?

The demo's bus as the demo configures it (Heidelberg wallbox unit 1, poll 2 s, charge-current
setpoint refreshed every 5 s; Janitza meter unit 2, poll 1 s; 19200 baud, 1 s timeout) on a pty
line. After a minute of normal operation the wallbox goes silent (the simulator's fault switch)
for ``--seconds``; the bench prints, for the meter, the seconds its ActivePower was not Good and
how many requests the silent wallbox cost (its failed attempts).

    python bench/bus_neighbours.py --seconds 60 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import LinkRegistry, ModbusDeviceConfig, ModbusDriver, SerialBus
from ampacity.drivers.profile import all_profiles
from ampacity.sim import Fault, SimServer, SimulatedDevice
from ampacity.sim.pty import VirtualSerialLine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sim"))
from simkit import sample_model


class Timeline:
    """The meter's ActivePower quality over time."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, Quality]] = []

    def publish(self, readings: list[Reading]) -> None:
        for r in readings:
            if r.node_key == "meter.ActivePower":
                self.changes.append((time.monotonic(), r.quality))

    def not_good_s(self, start: float, end: float) -> float:
        total, state, since = 0.0, Quality.GOOD, start
        for at, quality in self.changes:
            if at < start:
                state = quality
                continue
            if at > end:
                break
            if state is not Quality.GOOD:
                total += at - since
            state, since = quality, at
        if state is not Quality.GOOD:
            total += end - since
        return total


async def run_once(silent_s: float) -> tuple[float, int]:
    janitza = all_profiles()["janitza_umg604"]
    heidelberg = all_profiles()["heidelberg_energy_control"]
    meter_sim = SimulatedDevice(janitza, sample_model(janitza), unit_id=2)
    charger_sim = SimulatedDevice(heidelberg, sample_model(heidelberg), unit_id=1)
    line = VirtualSerialLine()
    line.open()
    server = SimServer([charger_sim, meter_sim])
    await server.start_rtu(line.server_path, parity="N")
    links = LinkRegistry()
    bus = SerialBus(line.client_path, baudrate=19200, parity="N")
    meter = ModbusDriver(
        janitza, ModbusDeviceConfig("meter", serial=bus, unit_id=2), registry=links
    )
    charger = ModbusDriver(
        heidelberg, ModbusDeviceConfig("charger", serial=bus, unit_id=1), registry=links
    )
    timeline = Timeline()
    tasks = [asyncio.create_task(d.run(timeline)) for d in (meter, charger)]
    try:
        await asyncio.sleep(3.0)
        await charger.write("charger", "ChargeCurrentLimit", 10.0)
        charger_sim.faults.set(Fault.SILENT)
        start = time.monotonic()
        errors_before = charger.runtime.health.error_count
        await asyncio.sleep(silent_s)
        end = time.monotonic()
        return timeline.not_good_s(start, end), charger.runtime.health.error_count - errors_before
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await links.aclose()
        await server.stop()
        line.close()


def main() -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # as `ampacity run` sets it
    logging.getLogger("ampacity").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="silence per run (60)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [asyncio.run(run_once(args.seconds)) for _ in range(args.runs)]
    stale = [r[0] for r in results]
    attempts = [r[1] for r in results]
    print(f"wallbox silent for {args.seconds:g} s, {args.runs} runs")
    print(
        f"meter ActivePower not Good: median {statistics.median(stale):.1f} s "
        f"(runs: {', '.join(f'{s:.1f}' for s in stale)})"
    )
    print(
        f"failed requests to the silent wallbox: median {statistics.median(attempts):g} "
        f"(runs: {', '.join(str(a) for a in attempts)})"
    )


if __name__ == "__main__":
    main()
