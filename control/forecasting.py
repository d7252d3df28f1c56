"""Forecasts for the day-ahead plan: PV from the sun position, household load from history.

PV: the clear-sky power of the plant is the sun's position (``ampacity.assets.sun``) with the
Haurwitz clear-sky irradiance ``GHI = 1098 · cos z · exp(−0.057 / cos z)`` W/m², turned onto the
module plane (beam 80 %, isotropic diffuse 20 %), times the peak power. The plant's **clear-sky
factor** (orientation, shading, soiling, inverter limits) is learned from its measured power: the
90th percentile of measured / clear-sky over the recent history where the sun is up. A **weather
persistence** factor (the last day's measured energy over the expected) scales the forecast for the
next day.

Load: the mean of the same weekday and quarter-hour over the recent weeks; where a weekday has no
history, any day's mean at that time; without history a flat value. A re-plan corrects it by what
the site measures now (``nowcast``): the error of the last quarter-hour, fading over two hours.

Series are ``(UTC time, W)``; forecasts are W per slot (mean), one value per slot from ``start``."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from statistics import fmean, quantiles

from ampacity.assets.sun import sun_angles, sun_azimuth

DEFAULT_FACTOR = 0.8
"""The clear-sky factor until the history holds enough sunny samples."""
MIN_SAMPLES = 12


def sun_position(when: datetime, latitude: float, longitude: float) -> tuple[float, float]:
    """``(cos zenith, azimuth)``: cosine of the zenith angle (≤ 0: below the horizon) and the
    azimuth in degrees from north (180 = south)."""
    return sun_angles(when, latitude, longitude)[0], sun_azimuth(when, latitude, longitude)


def clear_sky_pv_w(
    when: datetime,
    latitude: float,
    longitude: float,
    peak_w: float,
    tilt_deg: float = 30.0,
    azimuth_deg: float = 180.0,
) -> float:
    """The plant's power under a clear sky at ``when``, W (0 at night); ``azimuth_deg`` of the
    modules from north (180 = south)."""
    cos_z, sun_az = sun_position(when, latitude, longitude)
    if cos_z <= 0.01:
        return 0.0
    ghi = 1098.0 * cos_z * math.exp(-0.057 / cos_z)
    sin_z = math.sqrt(max(0.0, 1 - cos_z * cos_z))
    beta = math.radians(tilt_deg)
    cos_inc = cos_z * math.cos(beta) + sin_z * math.sin(beta) * math.cos(
        math.radians(sun_az - azimuth_deg)
    )
    beam = 0.8 * ghi * max(0.0, cos_inc) / cos_z
    diffuse = 0.2 * ghi * (1 + math.cos(beta)) / 2
    return peak_w * min(1.1, (beam + diffuse) / 1000.0)


def learn_clear_sky_factor(
    history: Sequence[tuple[datetime, float]], latitude: float, longitude: float, peak_w: float
) -> float:
    """Measured over clear-sky power (90th percentile where the sun is well up); a default while
    the history is short."""
    if peak_w <= 0:
        return DEFAULT_FACTOR
    ratios = []
    for when, measured in history:
        expected = clear_sky_pv_w(when, latitude, longitude, peak_w)
        if expected > 0.2 * peak_w:
            ratios.append(max(0.0, measured) / expected)
    if len(ratios) < MIN_SAMPLES:
        return DEFAULT_FACTOR
    return max(0.05, min(1.2, quantiles(ratios, n=10)[-1]))


def weather_persistence(
    history: Sequence[tuple[datetime, float]],
    latitude: float,
    longitude: float,
    peak_w: float,
    factor: float,
    now: datetime,
) -> float:
    """The last 24 h's measured PV energy over the learned clear-sky expectation (0.1..1)."""
    since = now - timedelta(days=1)
    measured = expected = 0.0
    for when, value in history:
        if when >= since:
            expected_w = factor * clear_sky_pv_w(when, latitude, longitude, peak_w)
            if expected_w > 0.05 * peak_w:
                measured += max(0.0, value)
                expected += expected_w
    if expected <= 0:
        return 1.0
    return max(0.1, min(1.0, measured / expected))


def pv_forecast(
    start: datetime,
    slots: int,
    slot_s: float,
    latitude: float,
    longitude: float,
    peak_w: float,
    factor: float,
    weather: float = 1.0,
) -> list[float]:
    """Mean PV power per slot, W: clear-sky × learned factor × weather persistence."""
    out = []
    for i in range(slots):
        begin = start + timedelta(seconds=i * slot_s)
        samples = [
            clear_sky_pv_w(begin + timedelta(seconds=slot_s * k / 3), latitude, longitude, peak_w)
            for k in range(3)
        ]
        out.append(factor * weather * fmean(samples))
    return out


def load_forecast(
    history: Sequence[tuple[datetime, float]],
    start: datetime,
    slots: int,
    slot_s: float,
    weeks: int = 4,
    fallback_w: float = 500.0,
) -> list[float]:
    """Mean load per slot, W, from the same weekday and time of day over the recent weeks."""
    since = start - timedelta(weeks=weeks)
    by_weekday: dict[tuple[int, int], list[float]] = defaultdict(list)
    by_time: dict[int, list[float]] = defaultdict(list)
    for when, value in history:
        if when < since:
            continue
        minute = (when.hour * 60 + when.minute) // max(1, int(slot_s // 60))
        by_weekday[(when.weekday(), minute)].append(value)
        by_time[minute].append(value)
    everything = [v for values in by_time.values() for v in values]
    overall = fmean(everything) if everything else fallback_w
    out = []
    for i in range(slots):
        when = start + timedelta(seconds=i * slot_s)
        minute = (when.hour * 60 + when.minute) // max(1, int(slot_s // 60))
        values = by_weekday.get((when.weekday(), minute)) or by_time.get(minute)
        out.append(fmean(values) if values else overall)
    return out


NOWCAST_FADE_S = 7200.0
"""The measured forecast error fades out with this time constant, s (e-folding)."""


def nowcast(
    load_w: Sequence[float],
    measured_w: float | None,
    slot_s: float,
    fade_s: float = NOWCAST_FADE_S,
) -> list[float]:
    """The load forecast corrected by the measured load (W, the mean of the last quarter-hour):
    its difference from the forecast of the first slot is added to the load, fading by
    ``exp(−t / fade_s)``, never below 0 W. A forecast that is too low at night is then
    corrected for the next hours, not only once it has cost the battery energy. ``measured_w``
    ``None`` (nothing measured yet): the forecast unchanged."""
    if measured_w is None or not load_w:
        return list(load_w)
    error = measured_w - load_w[0]
    return [max(0.0, w + error * math.exp(-i * slot_s / fade_s)) for i, w in enumerate(load_w)]
