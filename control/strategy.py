"""Strategies: which priority-based strategy is in force, and the controllers it runs.

A priority-based strategy (``StrategyConfig``) becomes a list of controllers: the grid limits
first, then one controller per device class in the strategy's order. A conditional strategy is a
decision tree (``DecisionNode``) over battery SoC, local time, price and external signals,
evaluated every cycle.
"""

from __future__ import annotations

from datetime import datetime
from statistics import fmean

from .config import Condition, ControlConfig, DecisionNode, StrategyConfig
from .controllers.base import Controller
from .controllers.battery import BatteryController
from .controllers.electrolyser import ElectrolyserController
from .controllers.ev import EvChargingController
from .controllers.generator import GeneratorController
from .controllers.groups import ChargingGroupController
from .controllers.heating import HeatingController
from .controllers.limits import (
    FeedInLimitController,
    GridOperatorController,
    ImportLimitController,
)
from .controllers.schedule import ScheduleController
from .snapshot import Snapshot
from .strategy_time import in_window, local_time


def build_controllers(config: ControlConfig, strategy: StrategyConfig) -> list[Controller]:
    """The controllers of one strategy, in execution order."""
    controllers: list[Controller] = [
        GridOperatorController(config.ripple_control, config.pv, config.heat_pumps),
        FeedInLimitController(config.pv),
        ImportLimitController(tuple(b.id for b in config.batteries)),
    ]
    if config.planner is not None:
        controllers.append(ScheduleController())  # settles before the limits (reverse order)
    for device_class in strategy.order:
        if device_class == "battery" and config.batteries:
            controllers.append(BatteryController(config.batteries, strategy.template))
        elif device_class == "charge_point" and config.charge_points:
            controllers.append(EvChargingController(config.charge_points))
            if config.charging_groups:
                groups = ChargingGroupController(config.charging_groups, config.charge_points)
                controllers.append(groups)
        elif device_class == "heating" and (config.heating_rods or config.heat_pumps):
            controllers.append(HeatingController(config.heating_rods, config.heat_pumps))
        elif device_class == "electrolyser" and config.electrolysers:
            controllers.append(ElectrolyserController(config.electrolysers))
        elif device_class == "generator" and config.generators:
            controllers.append(GeneratorController(config.generators))
    return controllers


def price_at(config: ControlConfig, snapshot: Snapshot, now: datetime) -> float | None:
    """The price per kWh now: the tariff asset's ``CurrentPrice``, else the configured series."""
    if config.tariff is not None:
        value = snapshot.number(config.tariff, "CurrentPrice")
        if value is not None:
            return value
    price = None
    for slot in config.prices:
        if slot.start <= now:
            price = slot.price
    return price


def holds(condition: Condition, config: ControlConfig, snapshot: Snapshot, now: datetime) -> bool:
    """Whether every given part of ``condition`` holds (unknown inputs make it fail)."""
    c = condition
    if c.soc_below_pct is not None or c.soc_above_pct is not None:
        socs = [snapshot.number(b.id, "StateOfCharge") for b in config.batteries]
        known = [s for s in socs if s is not None]
        if not known:
            return False
        soc = fmean(known)
        if c.soc_below_pct is not None and not soc < c.soc_below_pct:
            return False
        if c.soc_above_pct is not None and not soc > c.soc_above_pct:
            return False
    if c.between is not None and not in_window(local_time(now, config.time_zone), c.between):
        return False
    if c.price_above is not None or c.price_below is not None:
        price = price_at(config, snapshot, now)
        if price is None:
            return False
        if c.price_above is not None and not price > c.price_above:
            return False
        if c.price_below is not None and not price < c.price_below:
            return False
    if c.signal is not None:
        asset, point = c.signal.rsplit(".", 1)
        if snapshot.flag(asset, point) is not True:
            return False
    return True


def choose(
    node: str | DecisionNode, config: ControlConfig, snapshot: Snapshot, now: datetime
) -> str:
    """The strategy name the decision tree picks now."""
    while not isinstance(node, str):
        node = node.then if holds(node.if_, config, snapshot, now) else node.else_
    return node
