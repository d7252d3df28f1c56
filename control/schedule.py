"""From prices and forecasts to a plan, and from the plan to demands (priority ``SCHEDULE``).

``inputs_from`` gathers what the day-ahead LP (``dayahead.solve``) needs from the snapshot, the
control config and the ``PlannerConfig``; ``schedule_demands`` turns the slot that covers now into
demands that *bound* the real-time control rather than replace it:

* battery: charging at most the planned charge plus a margin (so a sunny morning does not fill
  the battery before the midday peak: forecast-based charging), discharging at most the planned
  discharge plus a margin where the plan discharges, not at all where it holds or charges
  (energy is kept for the expensive hours; at a flat price a round trip is a loss), except
  under a demand charge (the margin then also keeps the import low); where the plan charges
  from the grid (cheap or negative prices) the battery charges at least that much;
* PV: where the plan curtails because exporting costs money (negative export price), the
  inverters' limit is their output minus the curtailment, shared by nominal power (curtailment
  for the feed-in limit is left to the feed-in controller, on measured power);
* charge points in ``CostOptimised`` mode: the planned power as their current.
* grid import: where the site pays a demand charge (``demand_charge_per_kw_month``), the peak
  the plan chose is an import bound (``CycleContext.plan_import_max_w``, never above a
  configured import limit); the batteries discharge to keep it like an import limit.

Self-consumption still evens out forecast errors inside these bounds, and every limit of higher
priority (feed-in, fuse, marketer, grid operator) still wins. Powers W, prices per kWh.
"""

from __future__ import annotations

import calendar
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from .dayahead import FlexUnit, Plan, PlanInputs, VehicleNeed
from .demands import Demand, Priority, setpoint
from .snapshot import Snapshot

OWNER = "schedule"


class VehicleTarget(BaseModel):
    """A vehicle's wish at a charge point: ``energy_kwh`` by ``departure`` (local time);
    ``arrival``: when it is expected to plug in (local time; a daily routine, such as staff
    cars), so the plan prepares for it before it comes (``None``: planned once connected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    energy_kwh: float = Field(gt=0)
    departure: time
    arrival: time | None = None


class PlannerConfig(BaseModel):
    """The ``control.planner`` section.

    Attributes:
        export_price_per_kwh: what feeding in earns (feed-in tariff or market value), per kWh.
        curtail: the plan may curtail PV (negative prices).
        efficiency: one-way battery efficiency.
        margin_pct: the battery bounds' margin, % of its power limits.
        rod_energy_kwh_per_day: energy the heating rod should take per day (0: not planned).
        heat_pump_energy_kwh_per_day: electrical energy the heat pump needs per day (0: not
            planned); the plan raises SG-Ready to 3 in the slots it puts it in.
        hydrogen_value_per_kwh: what an electrolyser's hydrogen is worth per kWh consumed.
        chp_fuel_cost_per_kwh: fuel cost of a CHP unit / fuel cell per kWh of electricity.
        vehicles: charge point id -> its vehicle's energy by departure (with an ``arrival``:
            expected daily, planned before it plugs in).
        replan_s: re-plan at least this often, s.
        demand_charge_per_kw_month: the grid tariff's demand charge on the month's highest
            15-minute mean import, per kW and month (0: none). The plan bears one day's share
            (the charge / days of the month) for the peak it chooses, and the real-time control
            keeps the import below that peak.
        battery_to_vehicles: the batteries may discharge into charging vehicles where the plan
            does so (a site that keeps its battery for the house, like evcc's battery lock,
            sets false: the plan then discharges them for the other consumption only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    export_price_per_kwh: float = 0.08
    curtail: bool = True
    efficiency: float = Field(0.95, gt=0.5, le=1.0)
    margin_pct: float = Field(15.0, ge=0, le=100)
    rod_energy_kwh_per_day: float = Field(0.0, ge=0)
    heat_pump_energy_kwh_per_day: float = Field(0.0, ge=0)
    hydrogen_value_per_kwh: float = 0.0
    chp_fuel_cost_per_kwh: float = 0.0
    vehicles: dict[str, VehicleTarget] = Field(default_factory=dict)
    replan_s: float = Field(900.0, ge=60)
    demand_charge_per_kw_month: float = Field(0.0, ge=0)
    battery_to_vehicles: bool = True


def parse_price_forecast(text: str | None) -> list[tuple[datetime, datetime, float]]:
    """The ``Tariff.PriceForecast`` JSON as ``(start, end, price)``; junk gives ``[]``."""
    try:
        raw = json.loads(text or "[]")
        slots = []
        for item in raw:
            start = datetime.fromisoformat(str(item["start"]).replace("Z", "+00:00"))
            end = datetime.fromisoformat(str(item["end"]).replace("Z", "+00:00"))
            price = float(item["price"])
            if end > start and math.isfinite(price):
                slots.append((start.astimezone(UTC), end.astimezone(UTC), price))
        return sorted(slots)
    except (ValueError, TypeError, KeyError):
        return []


def price_per_slot(
    prices: list[tuple[datetime, datetime, float]], start: datetime, slot_s: float, slots: int
) -> list[float]:
    """The price of each slot from ``start`` while prices are known (the plan's horizon)."""
    out: list[float] = []
    for i in range(slots):
        moment = start + timedelta(seconds=(i + 0.5) * slot_s)
        found = next((p for s, e, p in prices if s <= moment < e), None)
        if found is None:
            break
        out.append(found)
    return out


STORED_VALUE_WINDOW = timedelta(days=1)
"""Stored energy is valued at the mean import price of this much known price data."""


def stored_value_per_kwh(
    prices: list[tuple[datetime, datetime, float]], end: datetime, efficiency: float
) -> float | None:
    """What a kWh left in the batteries at ``end`` (the plan's horizon) is worth, per kWh.

    The rule: it will displace an import the next day, whose prices are not known yet; the
    estimate is the mean import price of the last day of known prices (``STORED_VALUE_WINDOW``
    up to ``end``, slots already past included, weighted by their length), times the one-way
    ``efficiency`` lost when it is discharged. A re-plan late in the day gets the same value as
    the morning's plan (a mean of the remaining evening hours alone would value it at their
    price and empty the battery into them). ``None`` without prices in the window.
    """
    begin = end - STORED_VALUE_WINDOW
    total = weight = 0.0
    for start, stop, price in prices:
        overlap = (min(stop, end) - max(start, begin)).total_seconds()
        if overlap > 0:
            total += price * overlap
            weight += overlap
    return total / weight * efficiency if weight > 0 else None


def inputs_from(
    snapshot: Snapshot,
    control: Any,
    planner: PlannerConfig,
    prices: list[tuple[datetime, datetime, float]],
    pv_w: list[float],
    load_w: list[float],
    start: datetime,
    slot_s: float = 900.0,
    export_prices: list[float] | None = None,
    vehicle_max_w: Mapping[str, float] | None = None,
    peak_floor_w: float = 0.0,
    surplus_room: Mapping[str, tuple[float, datetime]] | None = None,
) -> PlanInputs:
    """The LP's inputs now (``control``: the ``ControlConfig``). Export earns
    ``export_prices`` per slot, else the planner's ``export_price_per_kwh``; never more than
    the import price of the slot (one meter does not import and export at once). A vehicle is
    planned at ``vehicle_max_w`` where given (what the car was seen to take,
    ``ControlCycle.vehicles``), else at its charge point's rating; the cycle re-plans when
    what it learns differs from the plan's (``ControlCycle.step``). ``peak_floor_w``: the
    highest 15-minute import of the month so far (``ControlCycle.import_peak``), W; import up
    to it adds nothing to a demand charge. ``surplus_room``: charge point id -> ``(Wh, departure
    UTC)`` of a connected vehicle without a target, what it takes in the session and when it
    leaves (as the car or its driver reports it; the session energy so far is subtracted); in
    a Surplus mode it is planned to take PV only (``VehicleNeed.surplus``), so the plan can leave
    it the PV the battery would take."""
    price = price_per_slot(prices, start, slot_s, len(pv_w))
    n = len(price)
    exports = export_prices or [planner.export_price_per_kwh] * n
    export_price = [
        min(exports[i] if i < len(exports) else exports[-1], price[i]) for i in range(n)
    ]
    capacity = soc_energy = max_charge = max_discharge = 0.0
    reserve = 0.0
    for b in control.batteries:
        cap = snapshot.number(b.id, "Capacity") or 0.0
        soc = snapshot.number(b.id, "StateOfCharge")
        if cap <= 0 or soc is None:
            continue
        capacity += cap
        soc_energy += cap * soc / 100.0
        reserve += cap * b.reserve_soc_pct / 100.0
        charge = snapshot.number(b.id, "MaxChargePower")
        discharge = snapshot.number(b.id, "MaxDischargePower")
        max_charge += charge if charge is not None else b.max_charge_w or 0.0
        max_discharge += discharge if discharge is not None else b.max_discharge_w or 0.0
    zone = ZoneInfo(control.time_zone)
    local_start = start.astimezone(zone)
    month_days = calendar.monthrange(local_start.year, local_start.month)[1]
    vehicles = []
    horizon_end = start + timedelta(seconds=n * slot_s)
    for cp in control.charge_points:
        target = planner.vehicles.get(cp.id)
        if target is None:
            continue
        if not snapshot.flag(cp.id, "VehicleConnected"):
            expected = _expected_vehicle(cp, target, start, horizon_end, zone, vehicle_max_w)
            if expected is not None:
                vehicles.append(expected)
            continue
        local = start.astimezone(zone)
        departure = datetime.combine(local.date(), target.departure, zone)
        if departure <= local:
            departure += timedelta(days=1)
        delivered = snapshot.number(cp.id, "SessionEnergy") or 0.0
        need = max(0.0, target.energy_kwh * 1000.0 - delivered)
        max_w = cp.max_power_w if cp.dc else cp.max_current_a * cp.voltage_v * cp.phases
        if vehicle_max_w is not None and cp.id in vehicle_max_w:
            max_w = vehicle_max_w[cp.id]
        vehicles.append(VehicleNeed(cp.id, need, departure.astimezone(UTC), max_w, delivered))
    surplus_modes = (3, 4)  # ChargeMode.SURPLUS, SURPLUS_PLUS (config imports this module)
    at_once_modes = (1, 2)  # FAST, FAST_ONCE
    for cp in control.charge_points:
        room = (surplus_room or {}).get(cp.id)
        connected = snapshot.flag(cp.id, "VehicleConnected")
        if room is None or cp.id in planner.vehicles or not connected:
            continue
        value = snapshot.number(cp.id, "ChargeMode")
        mode = cp.mode if value is None else round(value)
        if mode not in surplus_modes + at_once_modes:
            continue
        delivered = snapshot.number(cp.id, "SessionEnergy") or 0.0
        max_w = cp.max_power_w if cp.dc else cp.max_current_a * cp.voltage_v * cp.phases
        if vehicle_max_w is not None and cp.id in vehicle_max_w:
            max_w = vehicle_max_w[cp.id]
        energy, leaves = room
        vehicles.append(
            VehicleNeed(
                cp.id,
                max(0.0, energy - delivered),
                leaves,
                max_w,
                delivered,
                surplus=mode in surplus_modes,
                at_once=mode in at_once_modes,
            )
        )
    strategy = (
        control.all_strategies().get(control.strategy)
        if isinstance(control.strategy, str)
        else None
    )
    feed_in = import_limit = None
    if strategy is not None:
        feed_in = strategy.max_feed_in_w
        import_limit = strategy.grid_import_limit_w
        if strategy.max_feed_in_pct is not None:
            nominal = sum(
                pv.nominal_power_w or snapshot.number(pv.id, "NominalPower") or 0.0
                for pv in control.pv
            )
            feed_in = nominal * strategy.max_feed_in_pct / 100.0
    rod_max = sum(rod.max_power_w for rod in control.heating_rods)
    share_of_day = n * slot_s / 86_400.0
    hp_max = sum(hp.boost_power_w for hp in control.heat_pumps)
    units = tuple(
        FlexUnit(u.id, "electrolyser", u.min_power_w, u.max_power_w) for u in control.electrolysers
    ) + tuple(FlexUnit(g.id, "chp", g.min_power_w, g.rated_power_w) for g in control.generators)
    return PlanInputs(
        start=start,
        slot_s=slot_s,
        import_price=price,
        export_price=export_price,
        pv_w=pv_w[:n],
        load_w=load_w[:n],
        capacity_wh=capacity,
        soc_pct=soc_energy / capacity * 100.0 if capacity > 0 else 0.0,
        reserve_pct=reserve / capacity * 100.0 if capacity > 0 else 0.0,
        max_charge_w=max_charge,
        max_discharge_w=max_discharge,
        efficiency=planner.efficiency,
        grid_import_limit_w=import_limit,
        feed_in_limit_w=feed_in,
        curtail=planner.curtail,
        vehicles=tuple(vehicles),
        rod_max_w=rod_max,
        rod_energy_wh=planner.rod_energy_kwh_per_day * 1000.0 * share_of_day,
        heat_pump_max_w=hp_max,
        heat_pump_energy_wh=planner.heat_pump_energy_kwh_per_day * 1000.0 * share_of_day,
        hydrogen_value_per_kwh=planner.hydrogen_value_per_kwh,
        chp_fuel_cost_per_kwh=planner.chp_fuel_cost_per_kwh,
        units=units,
        demand_charge_per_kw=planner.demand_charge_per_kw_month / month_days,
        stored_value_per_kwh=stored_value_per_kwh(
            prices, start + timedelta(seconds=n * slot_s), planner.efficiency
        ),
        peak_floor_w=peak_floor_w,
        battery_to_vehicles=planner.battery_to_vehicles,
    )


def _charge_point_max_w(cp: Any, vehicle_max_w: Mapping[str, float] | None) -> float:
    """What a vehicle at ``cp`` is planned to take: what the car was seen to take, else the
    charge point's rating, W."""
    if vehicle_max_w is not None and cp.id in vehicle_max_w:
        return vehicle_max_w[cp.id]
    return float(cp.max_power_w if cp.dc else cp.max_current_a * cp.voltage_v * cp.phases)


def _expected_vehicle(
    cp: Any,
    target: VehicleTarget,
    start: datetime,
    horizon_end: datetime,
    zone: ZoneInfo,
    vehicle_max_w: Mapping[str, float] | None,
) -> VehicleNeed | None:
    """The car expected at ``cp`` (``target.arrival``) while none is connected: its next
    arrival after ``start`` and the departure after that, if it arrives within the horizon."""
    if target.arrival is None:
        return None
    local = start.astimezone(zone)
    arrival = datetime.combine(local.date(), target.arrival, zone)
    if arrival <= local:  # today's has come (and gone) or is late: the next day's
        arrival += timedelta(days=1)
    if arrival >= horizon_end:
        return None
    departure = datetime.combine(arrival.date(), target.departure, zone)
    if departure <= arrival:
        departure += timedelta(days=1)
    return VehicleNeed(
        cp.id,
        target.energy_kwh * 1000.0,
        departure.astimezone(UTC),
        _charge_point_max_w(cp, vehicle_max_w),
        arrival=arrival.astimezone(UTC),
    )


def schedule_demands(
    plan: Plan, snapshot: Snapshot, control: Any, planner: PlannerConfig, now: datetime
) -> list[Demand]:
    """The demands of the plan's current slot (none outside the plan)."""
    index = plan.slot_at(now)
    if index is None or not plan.usable:
        return []
    until = plan.slot_end(index)
    price = plan.import_price[index] if index < len(plan.import_price) else None
    at = f"{price:.3f}/kWh until {until:%H:%M} UTC" if price is not None else ""
    found: list[Demand] = []
    batteries = [b for b in control.batteries if (snapshot.number(b.id, "Capacity") or 0) > 0]
    total_cap = sum(snapshot.number(b.id, "Capacity") or 0.0 for b in batteries)
    planned = plan.battery_w[index]
    grid = plan.grid_w[index]
    for b in batteries:
        share = (snapshot.number(b.id, "Capacity") or 0.0) / total_cap if total_cap else 0.0
        charge_room = snapshot.number(b.id, "MaxChargePower") or b.max_charge_w or 0.0
        discharge_room = snapshot.number(b.id, "MaxDischargePower") or b.max_discharge_w or 0.0
        margin = planner.margin_pct / 100.0 * max(charge_room, discharge_room)
        value = planned * share
        resource = f"{b.id}.BatteryPowerSetpoint"
        low = min(value, 0.0) - margin  # charge at most the plan's + margin
        # discharge at most the plan's + margin where it discharges (or a demand charge makes
        # every kW of import count); where it holds or charges, not at all: it keeps the energy
        # for dearer hours, and at a flat price a round trip through the battery is a loss
        discharges = value > 1.0 or plan.peak_import_w is not None
        high = max(value, 0.0) + margin if discharges else 0.0
        if value < 0 and grid > 0:  # the plan charges from the grid: at least that much
            high = value
            reason = f"plan: charge {-value / 1000:.1f} kW from the grid at {at}"
        elif value < 0:
            reason = f"plan: charge ≤ {-low / 1000:.1f} kW (forecast-based) at {at}"
        elif value > 0:
            reason = f"plan: discharge ≤ {high / 1000:.1f} kW at {at}"
        else:
            held = f"±{margin / 1000:.1f} kW" if discharges else f"charge ≤ {margin / 1000:.1f} kW"
            reason = f"plan: hold the battery ({held}) at {at}"
        found.append(Demand(resource, OWNER, Priority.SCHEDULE, reason, None, low, high, until))
    curtail = plan.curtail_w[index]
    exports = plan.inputs.export_price if plan.inputs is not None else plan.import_price
    paid_to_export = index < len(exports) and exports[index] >= 0
    # the plan's curtailment bounds the inverters only where exporting costs money; where it
    # curtails for the feed-in limit, the feed-in controller does that on measured power (the
    # forecast's curtailment would starve consumers that take more than it expected)
    if curtail > 1.0 and not paid_to_export:
        nominal = {
            pv.id: pv.nominal_power_w or snapshot.number(pv.id, "NominalPower") or 0.0
            for pv in control.pv
        }
        total = sum(nominal.values())
        produced = sum(snapshot.number(pv.id, "ActivePower") or 0.0 for pv in control.pv)
        allowed = max(0.0, produced - curtail)
        for pv in control.pv:
            if total > 0 and nominal[pv.id] > 0:
                limit = allowed * nominal[pv.id] / total
                why = f"plan: curtail {curtail / 1000:.1f} kW at {at}"
                found.append(
                    Demand(f"{pv.id}.ActivePowerLimit", OWNER, Priority.SCHEDULE, why, None,
                           high=limit, expires=until)
                )  # fmt: skip
    for unit in (*control.electrolysers, *control.generators):  # each unit its own series
        series = plan.unit_w.get(unit.id, [])
        if index < len(series):
            watts = series[index]
            why = f"plan: {watts / 1000:.1f} kW at {at}"
            found.append(setpoint(f"{unit.id}.PowerSetpoint", watts, OWNER, Priority.SCHEDULE, why))
    for hp in control.heat_pumps:
        if index < len(plan.heat_pump_w) and plan.heat_pump_w[index] > 0.5 * hp.boost_power_w:
            why = f"plan: heat pump on at {at}"
            found.append(setpoint(f"{hp.id}.SgReadyState", 3.0, OWNER, Priority.SCHEDULE, why))
    for cp in control.charge_points:
        power = plan.vehicle_w.get(cp.id)
        mode = snapshot.number(cp.id, "ChargeMode")
        if power is None or mode != 5:  # CostOptimised
            continue
        watts = power[index]
        value = watts if cp.dc else watts / (cp.voltage_v * cp.phases)
        if not cp.dc and 0 < value < cp.min_current_a:
            # a part of a slot: the minimum current, the car stops at its target (a remainder
            # rounded down to nothing would never be delivered)
            value = cp.min_current_a if watts > 1.0 else 0.0
        why = f"plan: {watts / 1000:.1f} kW at {at}"
        demand = setpoint(f"{cp.id}.{cp.setpoint}", value, OWNER, Priority.SCHEDULE, why)
        found.append(demand)
    return found
