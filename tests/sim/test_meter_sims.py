"""The demo's SML grid meter and SMA Energy Meter simulators send what a real reader accepts,
with the values they are given (+ = import on the grid meter)."""

from __future__ import annotations

import pytest
from ampacity.drivers.sml.decode import decode_entries
from ampacity.drivers.sml.frames import FrameReader
from ampacity.drivers.sml.meter import SmlMeter
from ampacity.drivers.speedwire.packet import parse, points
from ampacity.sim.faults import Fault
from ampacity.sim.sml import DemoGridMeter
from ampacity.sim.speedwire import SmaEnergyMeterSim


@pytest.mark.parametrize("power", [-4321.0, 0.0, 2500.0])
def test_grid_meter_frames_carry_the_house_values(power: float) -> None:
    meter = DemoGridMeter(lambda: power, lambda: (1234567.8, 765.4))
    frames = FrameReader().feed(meter._next())
    assert len(frames) == 1 and not frames[0].kermit
    values = SmlMeter().values(decode_entries(frames[0].payload), 0.0)
    assert values["ActivePower"] == power
    assert values["EnergyImported"] == 1234567.8
    assert values["EnergyExported"] == 765.4
    phases = [values[f"ActivePowerL{i}"] for i in (1, 2, 3)]
    assert sum(phases) == power  # type: ignore[arg-type]
    assert values["Identification.Manufacturer"] == "Iskra"


def test_grid_meter_faults() -> None:
    meter = DemoGridMeter(lambda: 100.0, lambda: (1.0, 0.0))
    meter.faults.set(Fault.SILENT)
    assert meter._next() == b""
    meter.faults.set(Fault.GARBAGE)
    reader = FrameReader()
    assert reader.feed(meter._next()) == []
    meter.faults.clear()
    assert len(reader.feed(meter._next())) == 1


def test_energy_meter_datagrams_carry_the_feed_values() -> None:
    sim = SmaEnergyMeterSim(lambda: 4321.5, lambda: 98765.4, ("127.0.0.1", 9), serial=42)
    packet = parse(sim.datagram())
    assert (packet.serial, packet.truncated) == (42, False)
    got = points(packet)
    assert got["ActivePower"] == pytest.approx(4321.5)
    assert got["ActivePowerL1"] == pytest.approx(4321.5)
    assert got["EnergyImported"] == pytest.approx(98765.4, abs=0.001)
