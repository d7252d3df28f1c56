"""Demands on writable resources: who wants what, how urgently, why, and until when.

A *resource* is a setpoint node, named like a snapshot key: ``<asset-id>.<SetpointName>``
(``battery.BatteryPowerSetpoint``, ``pv.ActivePowerLimit``, ``wallbox.ChargeCurrentLimit``).
A demand narrows the resource's allowed range (``low``..``high``) and may ask for a ``target``
inside it; units and signs are those of the setpoint (battery W + discharge, PV limit W,
charge current A per phase).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum


class Priority(IntEnum):
    """The one priority order of every resource (architecture §5); higher value wins."""

    GENERATOR_DISPATCH = 10
    SURPLUS = 20
    """Distribution of surplus to flexible loads (EV, heat pump, heating rod)."""
    SELF_CONSUMPTION = 30
    SCHEDULE = 40
    OPERATOR = 45
    """An operator's manual setpoint from an HMI, until it expires: above schedules and
    self-consumption, below every grid limit."""
    FEED_IN_LIMIT = 50
    GRID_CONNECTION = 60
    """Fuse limit and peak shaving."""
    MARKETER = 70
    GRID_OPERATOR = 80
    """Ripple control, §14a EnWG dimming."""
    DEVICE_LIMIT = 90
    """Safety and device limits, reserve SoC, fail-safe states."""


@dataclass(frozen=True, slots=True)
class Demand:
    """One owner's wish for one resource.

    Attributes:
        resource: ``<asset>.<Setpoint>``.
        owner: the controller or external party (``battery-self-consumption``, ``marketer``).
        priority: its class in the priority order.
        reason: a sentence for the operator (``charging from PV surplus 2.1 kW``).
        target: the value asked for, or ``None`` for a pure limit.
        low / high: the range the owner allows, in the setpoint's unit.
        expires: when the demand lapses (``None``: this cycle only, or until withdrawn).
    """

    resource: str
    owner: str
    priority: Priority
    reason: str
    target: float | None = None
    low: float = -math.inf
    high: float = math.inf
    expires: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now


def setpoint(resource: str, value: float, owner: str, priority: Priority, reason: str) -> Demand:
    """A demand for one value."""
    return Demand(resource, owner, priority, reason, target=value)


def command(resource: str, value: float, owner: str, priority: Priority, reason: str) -> Demand:
    """A value that must hold: the range pinned to it, so no lower priority's bound moves it."""
    return Demand(resource, owner, priority, reason, target=value, low=value, high=value)


def at_most(resource: str, high: float, owner: str, priority: Priority, reason: str) -> Demand:
    """A demand that the value stays ≤ ``high``."""
    return Demand(resource, owner, priority, reason, high=high)


def at_least(resource: str, low: float, owner: str, priority: Priority, reason: str) -> Demand:
    """A demand that the value stays ≥ ``low``."""
    return Demand(resource, owner, priority, reason, low=low)
