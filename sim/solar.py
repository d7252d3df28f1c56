"""Sun position, clear-sky irradiance, a simple cloud model and PV array output. Pure functions.

Solar position: ``ampacity.assets.sun`` (NOAA low-accuracy formulas, about 0.1°). Clear-sky
global horizontal irradiance is Haurwitz's model, ``GHI = 1098 W/m² · cos z · exp(-0.057 / cos z)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ampacity.assets.sun import solar_elevation as solar_elevation  # the one sun position


def clear_sky_ghi(elevation_deg: float) -> float:
    """Clear-sky global horizontal irradiance in W/m² (Haurwitz); 0 with the sun below."""
    if elevation_deg <= 0:
        return 0.0
    cos_z = math.sin(math.radians(elevation_deg))
    return 1098.0 * cos_z * math.exp(-0.057 / cos_z)


def hash01(seed: int, n: int) -> float:
    """A reproducible pseudo-random number in [0, 1) for the integer ``n``."""
    x = (n * 0x9E3779B1 + seed * 0x85EBCA77) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 2**32


def smooth_noise(seed: int, t_s: float, period_s: float) -> float:
    """Reproducible noise in [0, 1): a random value per ``period_s`` slot, cosine-interpolated."""
    t = t_s / period_s
    n = math.floor(t)
    w = (1 - math.cos(math.pi * (t - n))) / 2
    return hash01(seed, n) * (1 - w) + hash01(seed, n + 1) * w


@dataclass(frozen=True, slots=True)
class CloudModel:
    """Clearness (share of clear-sky irradiance reaching the panels) varying smoothly in time.

    Value noise: a random cloudiness per ``period_s`` slot, interpolated with a cosine, scaled
    into ``[min_clearness, 1]`` and weighted by ``cloudiness`` (0 = always clear sky).

    Attributes:
        cloudiness: 0 (clear day) .. 1 (heavily overcast at times).
        period_s: typical time between cloud changes, s.
        min_clearness: clearness under the thickest cloud.
        seed: makes the weather reproducible.
    """

    cloudiness: float = 0.3
    period_s: float = 600.0
    min_clearness: float = 0.2
    seed: int = 1

    def clearness(self, when: datetime) -> float:
        """Share of the clear-sky irradiance (0..1) at ``when``."""
        if self.cloudiness <= 0:
            return 1.0
        cover = smooth_noise(self.seed, when.timestamp(), self.period_s) * self.cloudiness
        return 1.0 - cover * (1.0 - self.min_clearness)


@dataclass(frozen=True, slots=True)
class PvArray:
    """A PV array (horizontal-equivalent) behind one inverter.

    Attributes:
        peak_w: DC peak power at 1000 W/m², W.
        lat_deg / lon_deg: location.
        dc_losses: share lost before the inverter (soiling, wiring, temperature).
        clouds: the sky.
    """

    peak_w: float
    lat_deg: float
    lon_deg: float
    dc_losses: float = 0.1
    clouds: CloudModel = CloudModel()

    def dc_power(self, when: datetime) -> float:
        """DC power the array offers at ``when``, W (≥ 0)."""
        ghi = clear_sky_ghi(solar_elevation(when, self.lat_deg, self.lon_deg))
        return self.peak_w * ghi / 1000.0 * self.clouds.clearness(when) * (1 - self.dc_losses)
