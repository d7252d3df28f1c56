"""Energy and power from an S0 pulse count: the state a pulse meter needs between two reads.

A digital input's counter register counts the meter's S0 pulses (``pulses_per_kwh`` of them per
kWh, printed on the meter, e.g. 1000 imp/kWh). From successive reads of that count:

* **Energy** (Wh) = ``offset_wh`` + pulses counted × 1000 / ``pulses_per_kwh``. The first read
  takes the register's count as it stands (the counter's own total); ``offset_wh`` aligns it with
  the meter's display. Counter **wrap-around** (a 16- or 32-bit register rolling over to 0) is
  counted through; a count that jumps back further than the meter could have produced (the
  module restarted and counts from 0 again) is taken as a **reset**: the pulses since the reset
  are added and nothing is lost or invented.
* **Power** (W, + = the metered direction) = energy of the pulses seen / time since the pulse
  seen before. Pulses are seen at read times, so the interval is known to one poll period. While
  no pulse arrives the power can only have dropped: it is lowered to the mean power that one pulse
  in the time since the last one would mean, and after ``idle_zero_s`` without a pulse it is 0.
  Before two pulses have been seen the power is unknown (``None``), unless ``idle_zero_s`` passes
  without any pulse (then it is 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PulseReading:
    """What one count gives.

    Attributes:
        energy_wh: the meter's energy, Wh.
        power_w: the power, W; ``None`` while not yet known.
        event: ``""``, ``"wrap"`` (the register rolled over) or ``"reset"`` (it restarted).
    """

    energy_wh: float
    power_w: float | None
    event: str = ""


@dataclass
class PulseCounter:
    """Turns successive counter readings into energy and power.

    Args:
        pulses_per_kwh: the meter's S0 constant (imp/kWh).
        bits: width of the counter register (16 or 32): it wraps at 2**bits.
        max_power_w: the most the meter can carry; a count that would need more is a reset.
        idle_zero_s: without a pulse for this long, the power is 0.
        offset_wh: added to the energy (to match the meter's display).
    """

    pulses_per_kwh: float
    bits: int = 32
    max_power_w: float = 50_000.0
    idle_zero_s: float = 300.0
    offset_wh: float = 0.0
    _count: int | None = field(default=None, init=False)
    _read_t: float = field(default=0.0, init=False)
    _start_t: float = field(default=0.0, init=False)
    _total: int = field(default=0, init=False)
    _pulse_t: float | None = field(default=None, init=False)
    _power: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.pulses_per_kwh <= 0:
            raise ValueError("pulses_per_kwh must be > 0")
        if self.bits not in (16, 32):
            raise ValueError("a counter register has 16 or 32 bits")

    @property
    def wh_per_pulse(self) -> float:
        return 1000.0 / self.pulses_per_kwh

    @property
    def energy_wh(self) -> float:
        return self.offset_wh + self._total * self.wh_per_pulse

    def update(self, count: int, t: float) -> PulseReading:
        """One read of the counter register at monotonic time ``t`` (s).

        Raises:
            ValueError: ``count`` does not fit the register.
        """
        modulus = 1 << self.bits
        if not 0 <= count < modulus:
            raise ValueError(f"count {count} does not fit a {self.bits}-bit counter")
        if self._count is None:
            self._count, self._read_t, self._start_t, self._total = count, t, t, count
            return PulseReading(self.energy_wh, None)
        delta = (count - self._count) % modulus
        event = "wrap" if delta and count < self._count else ""
        if delta > self._most_pulses(t - self._read_t):
            # further back than a wrap could explain at the meter's maximum: the module restarted
            delta = count if count <= self._most_pulses(t - self._read_t) else 0
            event = "reset"
        self._count, self._read_t = count, t
        self._total += delta
        self._power = self._power_after(delta, t)
        return PulseReading(self.energy_wh, self._power, event)

    def _most_pulses(self, elapsed_s: float) -> int:
        """The most pulses the meter can emit in ``elapsed_s`` (plus one for the edges)."""
        kwh = self.max_power_w * max(elapsed_s, 0.0) / 3_600_000.0
        return int(kwh * self.pulses_per_kwh) + 1

    def _power_after(self, delta: int, t: float) -> float | None:
        if delta:
            previous, self._pulse_t = self._pulse_t, t
            if previous is None or t <= previous:
                return self._power
            return delta * self.wh_per_pulse * 3600.0 / (t - previous)
        since = t - (self._pulse_t if self._pulse_t is not None else self._start_t)
        if since >= self.idle_zero_s:
            return 0.0
        if self._power is None or since <= 0:
            return self._power
        # no pulse for ``since`` s: the mean power since the last pulse is below one pulse's worth
        return min(self._power, self.wh_per_pulse * 3600.0 / since)
