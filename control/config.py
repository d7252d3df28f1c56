"""The control configuration (YAML ``control:`` section), validated with pydantic.

Powers in W, currents in A, SoC in %, times in s unless a name says otherwise.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .dimming import DimmingConfig
from .schedule import PlannerConfig


class ChargeMode(IntEnum):
    """A charge point's mode; the values are those of the ``ChargeMode`` node."""

    OFF = 0
    FAST = 1
    FAST_ONCE = 2
    SURPLUS = 3
    SURPLUS_PLUS = 4
    COST_OPTIMISED = 5


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatteryConfig(_Model):
    """One battery (``Battery`` asset) under control.

    Attributes:
        id: asset id.
        reserve_soc_pct: never discharged below this (backup reserve), %.
        max_charge_w / max_discharge_w: limits of our own (device limits still apply), W.
        ramp_w_per_s: the largest setpoint change per second, W/s (limits of feed-in priority
            and above act at once).
        full_soc_pct / empty_soc_pct: SoC at which it counts as full / empty for planning, %.
    """

    id: str
    reserve_soc_pct: float = Field(10.0, ge=0, le=100)
    max_charge_w: float | None = Field(None, ge=0)
    max_discharge_w: float | None = Field(None, ge=0)
    ramp_w_per_s: float | None = Field(None, gt=0)
    full_soc_pct: float = Field(99.0, ge=0, le=100)
    empty_soc_pct: float = Field(6.0, ge=0, le=100)


class PvConfig(_Model):
    """One PV inverter; ``nominal_power_w`` if the device does not report ``NominalPower``.

    Attributes:
        limit_settle_s: an inverter producing above its limit for longer than this refuses the
            limit; the feed-in limit then leaves it out (``FeedInLimitController``), s.
    """

    id: str
    nominal_power_w: float | None = Field(None, gt=0)
    limit_settle_s: float = Field(10.0, gt=0)


class ChargePointConfig(_Model):
    """One AC charge point (connector).

    Attributes:
        min_current_a / max_current_a: the range the control uses per phase, A.
        phases: phases wired (1 or 3).
        phase_switching: the station can switch between 1 and 3 phases.
        mode: the mode when the ``ChargeMode`` node does not say.
        start_delay_s / stop_delay_s: surplus must stay above the start / below the stop
            threshold this long before charging starts / stops.
        start_margin_w: surplus above the minimum power needed to start, W.
        stop_margin_w: grid power below the minimum tolerated before the stop timer runs, W.
        phase_switch_delay_s: a phase switch needs its condition this long.
        plug_in_check_s: full power this long after plug-in (does the vehicle charge?); 0 = off.
        max_price_per_kwh: in ``CostOptimised``, charge at full power at or below this price.
    """

    id: str
    min_current_a: float = Field(6.0, ge=0)
    max_current_a: float = Field(16.0, gt=0)
    phases: Literal[1, 3] = 3
    phase_switching: bool = False
    mode: ChargeMode = ChargeMode.SURPLUS
    start_delay_s: float = Field(60.0, ge=0)
    stop_delay_s: float = Field(300.0, ge=0)
    start_margin_w: float = Field(0.0, ge=0)
    stop_margin_w: float = Field(300.0, ge=0)
    phase_switch_delay_s: float = Field(120.0, ge=0)
    plug_in_check_s: float = Field(60.0, ge=0)
    max_price_per_kwh: float | None = None
    voltage_v: float = Field(230.0, gt=0)
    phase: Literal[1, 2, 3] = 1
    """The phase a one-phase vehicle draws on (charging groups count it there)."""
    dc: bool = False
    """A DC charger, controlled by ``ChargePowerLimit`` in W between ``min_power_w`` and
    ``max_power_w`` (the current and phase settings do not apply)."""
    min_power_w: float = Field(0.0, ge=0)
    max_power_w: float = Field(50_000.0, gt=0)

    @property
    def setpoint(self) -> str:
        """The setpoint point: ``ChargePowerLimit`` (W, DC) or ``ChargeCurrentLimit`` (A, AC)."""
        return "ChargePowerLimit" if self.dc else "ChargeCurrentLimit"

    @property
    def minimum(self) -> float:
        """The smallest setpoint that charges, in the setpoint's unit."""
        return self.min_power_w if self.dc else self.min_current_a

    @property
    def maximum(self) -> float:
        """The largest setpoint, in the setpoint's unit."""
        return self.max_power_w if self.dc else self.max_current_a

    def watts_per_unit(self, phases: int) -> float:
        """W per unit of the setpoint: 1 for DC, volts x phases per A for AC."""
        return 1.0 if self.dc else self.voltage_v * phases


class ChargingGroupConfig(_Model):
    """Charge points behind one fuse (AMPERIX "LIS"): currents shared per phase.

    Attributes:
        id: the group's name (its demands' owner is ``charging-group:<id>``).
        fuse_a: the largest current per phase the group may draw, A.
        members: charge point ids.
        priorities: charge point id -> priority (higher is served first; default 0); members of
            one priority get a fair (equal) share, a share below a charge point's minimum
            current becomes 0 and goes to the others.
        between: the group applies only in this local time window ``[start, end)``.
    """

    id: str
    fuse_a: float = Field(gt=0)
    members: tuple[str, ...]
    priorities: dict[str, int] = Field(default_factory=dict)
    between: tuple[time, time] | None = None


class HeatingRodConfig(_Model):
    """A heating rod taking PV surplus continuously.

    Attributes:
        max_power_w: its rated power, W.
        min_power_w: below this it stays off, W.
        max_temperature_c: off at or above this water temperature, °C.
    """

    id: str
    max_power_w: float = Field(gt=0)
    min_power_w: float = Field(0.0, ge=0)
    max_temperature_c: float = 65.0


class HeatPumpConfig(_Model):
    """A heat pump switched through SG-Ready.

    Attributes:
        boost_power_w: extra electrical power it draws in states 3 and 4, W (estimate).
        recommend_surplus_w: surplus for state 3 (recommended), W.
        force_surplus_w: surplus for state 4 (forced), W.
        on_delay_s: the surplus must hold this long before switching up, s.
        min_on_s: a raised state is held at least this long, s.
        block_signal: snapshot key of the grid operator's block contact (``rcr.Contact4``);
            while it is closed the pump is in SG-Ready 1 (blocked), with grid-operator
            priority. A contact that stops answering keeps its last known level.
    """

    id: str
    boost_power_w: float = Field(gt=0)
    recommend_surplus_w: float = Field(gt=0)
    force_surplus_w: float = Field(gt=0)
    on_delay_s: float = Field(600.0, ge=0)
    min_on_s: float = Field(1200.0, ge=0)
    block_signal: str | None = Field(None, pattern=r"^[^.]+\.[^.]+$")


class ElectrolyserConfig(_Model):
    """An electrolyser taking PV surplus.

    Attributes:
        min_power_w / max_power_w: its operating range, W; below the minimum it stops.
        ramp_w_per_s: the largest setpoint change per second, W/s.
        min_run_s: once started it runs at least this long (at minimum load if need be), s.
        stop_above_tank_pct: at or above this ``HydrogenTankLevel`` it stops whatever the
            surplus and the run time (the store is full), %; ``None``: no tank rule.
        resume_below_tank_pct: it may start again only below this level, % (default 5 below
            the stop level).
    """

    id: str
    min_power_w: float = Field(ge=0)
    max_power_w: float = Field(gt=0)
    ramp_w_per_s: float | None = Field(None, gt=0)
    min_run_s: float = Field(600.0, ge=0)
    stop_above_tank_pct: float | None = Field(None, gt=0, le=100)
    resume_below_tank_pct: float | None = Field(None, ge=0, le=100)

    @property
    def resume_pct(self) -> float | None:
        """The level below which a unit stopped by a full store may start again, %."""
        if self.stop_above_tank_pct is None:
            return None
        if self.resume_below_tank_pct is not None:
            return min(self.resume_below_tank_pct, self.stop_above_tank_pct)
        return max(0.0, self.stop_above_tank_pct - 5.0)


class GeneratorConfig(_Model):
    """A CHP unit or fuel cell (``PowerSetpoint`` W, + production).

    Attributes:
        mode: ``heat-led`` runs at rated power while the heat store is cold (``temperature``
            below ``start_below_c`` starts, above ``stop_above_c`` stops); ``power-led`` runs
            while the site imports at least ``min_power_w`` and covers that import.
        rated_power_w / min_power_w: its electrical range, W.
        temperature: snapshot key of the store temperature (``buffer.Temperature``), heat-led.
        min_run_s / min_stop_s: once started it runs, once stopped it rests, at least this long.
    """

    id: str
    mode: Literal["heat-led", "power-led"] = "power-led"
    rated_power_w: float = Field(gt=0)
    min_power_w: float = Field(0.0, ge=0)
    temperature: str | None = None
    start_below_c: float = 55.0
    stop_above_c: float = 70.0
    min_run_s: float = Field(1800.0, ge=0)
    min_stop_s: float = Field(900.0, ge=0)

    @model_validator(mode="after")
    def _heat_led_needs_temperature(self) -> GeneratorConfig:
        if self.mode == "heat-led" and self.temperature is None:
            raise ValueError("a heat-led generator needs a temperature key")
        return self


DeviceClass = Literal["battery", "charge_point", "heating", "electrolyser", "generator"]


class StrategyConfig(_Model):
    """A priority-based strategy (AMPERIX): device classes in order of their claim on surplus.

    Attributes:
        template: ``self-consumption`` (the battery evens out the grid) or ``peak-shaving`` (the
            battery only shaves import above ``grid_import_limit_w`` and recharges below it).
        order: device classes; the first takes surplus first and is reduced last.
        grid_target_w: grid power aimed at, W (+ import); a small import offset keeps the battery
            from feeding in.
        max_feed_in_w: largest export, W (≥ 0); or ``max_feed_in_pct`` of installed PV power.
        grid_import_limit_w: largest import (peak shaving, fuse), W.
        hysteresis_w: peak shaving recharges from the grid only below ``limit - hysteresis``, W.
        peak_reserve_soc_pct: peak shaving recharges from the grid up to this SoC and uses the
            energy above it for self-consumption, %.
    """

    template: Literal["self-consumption", "peak-shaving"] = "self-consumption"
    order: tuple[DeviceClass, ...] = (
        "battery",
        "charge_point",
        "heating",
        "electrolyser",
        "generator",
    )
    grid_target_w: float = 0.0
    max_feed_in_w: float | None = Field(None, ge=0)
    max_feed_in_pct: float | None = Field(None, ge=0, le=100)
    grid_import_limit_w: float | None = Field(None, gt=0)
    hysteresis_w: float = Field(500.0, ge=0)
    peak_reserve_soc_pct: float = Field(50.0, ge=0, le=100)

    @model_validator(mode="after")
    def _peak_needs_limit(self) -> StrategyConfig:
        if self.template == "peak-shaving" and self.grid_import_limit_w is None:
            raise ValueError("the peak-shaving template needs grid_import_limit_w")
        if self.max_feed_in_w is not None and self.max_feed_in_pct is not None:
            raise ValueError("give max_feed_in_w or max_feed_in_pct, not both")
        return self


class Condition(_Model):
    """All given parts must hold (an empty condition always holds).

    Attributes:
        soc_below_pct / soc_above_pct: mean SoC of the batteries, %.
        between: local time window ``[start, end)``; wraps over midnight if end < start.
        price_above / price_below: current price per kWh (``Tariff`` or the configured series).
        signal: a snapshot key (``rcr.Contact1``) that must be true.
    """

    soc_below_pct: float | None = None
    soc_above_pct: float | None = None
    between: tuple[time, time] | None = None
    price_above: float | None = None
    price_below: float | None = None
    signal: str | None = None


class DecisionNode(_Model):
    """A decision tree: ``if`` holds -> ``then``, else ``else``; leaves are strategy names."""

    if_: Condition = Field(alias="if")
    then: str | DecisionNode
    else_: str | DecisionNode = Field(alias="else")


class PriceSlot(_Model):
    """A price from ``start`` (UTC) on, per kWh, until the next slot."""

    start: datetime
    price: float


class ControlConfig(_Model):
    """The ``control:`` section of a site config.

    Attributes:
        cycle_s: cycle period, s.
        stale_after_s: a reading older than this is stale, s.
        grid_meter: asset id of the grid meter (``ActivePower``: + import).
        batteries / pv / charge_points: the controlled assets.
        charging_groups: charge points sharing a fuse.
        ripple_control: asset ids of ``RippleControlReceiver``s whose ``ActiveLimit`` (% of the
            installed PV power) limits PV output with grid-operator priority.
        heating_rods / heat_pumps: flexible heat taking surplus (device class ``heating``).
        electrolysers: hydrogen from surplus (device class ``electrolyser``).
        generators: CHP units and fuel cells (device class ``generator``).
        strategies: named strategies; ``self-consumption`` and ``peak-shaving`` exist by default.
        strategy: a strategy name, or a decision tree choosing one every cycle.
        time_zone: IANA zone for time windows.
        tariff: asset id of the ``Tariff`` whose ``CurrentPrice`` is used.
        prices: a price series for when no tariff asset provides prices.
        ev_failsafe_current_a: chargers' current in the fail-safe state (0 = off), A.
        site / manual_override_s: see below.
    """

    cycle_s: float = Field(1.0, gt=0)
    stale_after_s: float = Field(10.0, gt=0)
    grid_meter: str
    batteries: tuple[BatteryConfig, ...] = ()
    pv: tuple[PvConfig, ...] = ()
    charge_points: tuple[ChargePointConfig, ...] = ()
    charging_groups: tuple[ChargingGroupConfig, ...] = ()
    ripple_control: tuple[str, ...] = ()
    heating_rods: tuple[HeatingRodConfig, ...] = ()
    heat_pumps: tuple[HeatPumpConfig, ...] = ()
    electrolysers: tuple[ElectrolyserConfig, ...] = ()
    generators: tuple[GeneratorConfig, ...] = ()
    strategies: dict[str, StrategyConfig] = Field(default_factory=dict)
    strategy: str | DecisionNode = "self-consumption"
    time_zone: str = "UTC"
    tariff: str | None = None
    prices: tuple[PriceSlot, ...] = ()
    ev_failsafe_current_a: float = Field(6.0, ge=0)
    site: str | None = None
    """Id of the site whose ``FeedInLimit`` / ``GridImportLimit`` nodes (W, written by an
    operator or SCADA) limit the grid power on top of the strategy's limits; the server sets it."""
    planner: PlannerConfig | None = None
    """The day-ahead plan from prices and forecasts (``ampacity.control.schedule``)."""
    dimming: DimmingConfig | None = None
    """§14a EnWG dimming of controllable consumers (``ampacity.control.dimming``)."""
    manual_override_s: float = Field(900.0, gt=0)
    """A client's write to a controlled setpoint holds this long (owner ``operator``), s."""

    def all_strategies(self) -> dict[str, StrategyConfig]:
        """The configured strategies over the built-in templates of the same name."""
        defaults: dict[str, StrategyConfig] = {"self-consumption": StrategyConfig()}
        return {**defaults, **self.strategies}

    @model_validator(mode="after")
    def _strategies_exist(self) -> ControlConfig:
        known = self.all_strategies()
        for name in _leaves(self.strategy):
            if name not in known:
                raise ValueError(f"strategy {name!r} is not defined (known: {sorted(known)})")
        return self


def _leaves(node: str | DecisionNode) -> list[str]:
    if isinstance(node, str):
        return [node]
    return [*_leaves(node.then), *_leaves(node.else_)]
