"""The pulse arithmetic: energy from the count, power from the pulse interval, wrap-around and
module restarts - with times given, never slept."""

from __future__ import annotations

import pytest
from ampacity.drivers.pulse.counter import PulseCounter


def test_energy_is_the_count_times_the_pulse_value_plus_the_offset() -> None:
    counter = PulseCounter(pulses_per_kwh=800, offset_wh=10_000.0)
    first = counter.update(4000, 0.0)
    assert first.energy_wh == pytest.approx(10_000.0 + 4000 * 1.25)  # 800 imp/kWh: 1.25 Wh each
    assert first.power_w is None  # no interval yet
    assert counter.update(4008, 10.0).energy_wh == pytest.approx(10_000.0 + 4008 * 1.25)


def test_power_is_the_energy_between_two_pulses_over_their_interval() -> None:
    counter = PulseCounter(pulses_per_kwh=1000)  # 1 Wh per pulse
    counter.update(0, 0.0)
    assert counter.update(1, 3.6).power_w is None  # first pulse: its start is unknown
    assert counter.update(2, 7.2).power_w == pytest.approx(1000.0)  # 1 Wh in 3.6 s = 1 kW
    assert counter.update(5, 8.28).power_w == pytest.approx(10_000.0)  # 3 Wh in 1.08 s


def test_power_falls_while_no_pulse_arrives_and_is_zero_after_idle() -> None:
    counter = PulseCounter(pulses_per_kwh=1000, idle_zero_s=60.0)
    counter.update(0, 0.0)
    counter.update(1, 1.0)
    assert counter.update(2, 2.0).power_w == pytest.approx(3600.0)
    assert counter.update(2, 3.0).power_w == pytest.approx(3600.0)  # one pulse time: no change
    assert counter.update(2, 11.0).power_w == pytest.approx(400.0)  # 1 Wh over 9 s at most
    assert counter.update(2, 62.0).power_w == 0.0


def test_a_meter_that_never_pulses_reads_zero_after_idle() -> None:
    counter = PulseCounter(pulses_per_kwh=1000, idle_zero_s=60.0)
    counter.update(7, 0.0)
    assert counter.update(7, 30.0).power_w is None
    assert counter.update(7, 60.0).power_w == 0.0


@pytest.mark.parametrize("bits", [16, 32])
def test_wrap_around_is_counted_through(bits: int) -> None:
    top = (1 << bits) - 1
    counter = PulseCounter(pulses_per_kwh=1000, bits=bits)
    counter.update(top - 2, 0.0)
    reading = counter.update(3, 1.0)  # top-1, top, 0, 1, 2, 3: six pulses
    assert reading.event == "wrap"
    assert reading.energy_wh == pytest.approx(top - 2 + 6)


def test_a_module_restart_adds_the_pulses_since_it_and_invents_none() -> None:
    counter = PulseCounter(pulses_per_kwh=1000, bits=16, max_power_w=20_000.0)
    counter.update(40_000, 0.0)
    # 10 s later the register reads 3: a wrap would mean 25,539 pulses (9.2 MW): a restart
    reading = counter.update(3, 10.0)
    assert reading.event == "reset"
    assert reading.energy_wh == pytest.approx(40_003.0)
    assert counter.update(5, 11.0).energy_wh == pytest.approx(40_005.0)


def test_counts_that_do_not_fit_the_register_are_refused() -> None:
    counter = PulseCounter(pulses_per_kwh=1000, bits=16)
    with pytest.raises(ValueError, match="16-bit"):
        counter.update(70_000, 0.0)
    with pytest.raises(ValueError):
        PulseCounter(pulses_per_kwh=0)
