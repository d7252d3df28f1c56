"""The sun's position (NOAA low-accuracy formulas: fractional-year series for the declination and
the equation of time, about 0.1°). Shared by the simulator's PV model and the PV forecast."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def sun_angles(when: datetime, lat_deg: float, lon_deg: float) -> tuple[float, float, float]:
    """``(cos zenith, declination, hour angle)``; angles in radians, the hour angle 0 at solar
    noon and positive in the afternoon; ``cos zenith`` ≤ 0 at night.

    Args:
        when: the time (timezone-aware; naive = UTC).
        lat_deg / lon_deg: latitude north, longitude east, degrees.
    """
    utc = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    day_of_year = utc.timetuple().tm_yday
    hours = utc.hour + utc.minute / 60 + utc.second / 3600
    gamma = 2 * math.pi / 365 * (day_of_year - 1 + (hours - 12) / 24)  # fractional year, rad
    eq_time_min = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    true_solar_min = hours * 60 + eq_time_min + 4 * lon_deg
    hour_angle = math.radians(true_solar_min / 4 - 180)
    lat = math.radians(lat_deg)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return max(-1.0, min(1.0, cos_zenith)), declination, hour_angle


def solar_elevation(when: datetime, lat_deg: float, lon_deg: float) -> float:
    """Elevation of the sun above the horizon in degrees (negative at night)."""
    return math.degrees(math.asin(sun_angles(when, lat_deg, lon_deg)[0]))


def sun_azimuth(when: datetime, lat_deg: float, lon_deg: float) -> float:
    """Azimuth of the sun in degrees from north (90 east, 180 south, 270 west)."""
    _, declination, hour_angle = sun_angles(when, lat_deg, lon_deg)
    lat = math.radians(lat_deg)
    from_south = math.atan2(
        math.sin(hour_angle),
        math.cos(hour_angle) * math.sin(lat) - math.tan(declination) * math.cos(lat),
    )
    return (180.0 + math.degrees(from_south)) % 360.0
