"""Helpers for the end-to-end tests on the demo devices that must not depend on the time of day.

The demo's vehicles come and go on a daily plan (``sim.site.SiteConfig.sessions``, e.g. the
Heidelberg's car 18:15-06:45 local); a test that needs a vehicle plugs one in itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import time

from ampacity.sim.ev import SessionPlan
from ampacity.sim.site import SitePhysics

ALL_DAY = SessionPlan(time(12, 0), time(11, 59, 59), 1.0e9, phases=3)
"""A vehicle that stays connected at any time of day (arrives at 12:00, leaves at 11:59:59 the
next day) and never fills up."""


@contextlib.contextmanager
def vehicle_plugged_in(physics: SitePhysics | None, charger: str) -> Iterator[None]:
    """A vehicle on ``charger`` (``alfen1``, ``alfen2``, ``heidelberg``) whatever the demo's
    clock says; the charger's own daily plan again afterwards."""
    assert physics is not None
    charge_point = physics.chargers[charger]
    plan = charge_point.plan
    charge_point.plan = ALL_DAY
    try:
        yield
    finally:
        charge_point.plan = plan
