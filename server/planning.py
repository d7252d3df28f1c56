"""Forecasts and the day-ahead plan in the running server (``Site.Forecast``, ``Site.Schedule``).

``PlanningRuntime`` re-plans when the tariff's ``PriceForecast`` changes, and every
``control.planner.replan_s`` otherwise:

1. history from the historian: 15-minute averages of the site's ``PvPower`` and
   ``HouseConsumption`` over the last ``HISTORY_DAYS`` days (W);
2. forecasts (``ampacity.control.forecast``): PV from the sun position times the plant's clear-sky
   factor learned from that history; household load from the same weekday and time of the recent
   weeks;
3. the day-ahead plan (``ampacity.control.optimiser``, HiGHS) over the price horizon, solved in a
   worker thread so the server never waits for it;
4. ``cycle.set_plan(plan)``: the schedule becomes demands of priority ``SCHEDULE``.

Nodes: ``Site.Forecast.PvPower`` / ``HouseConsumption`` (JSON lists of ``{start, end, value}``, W),
``Site.Forecast.ClearSkyFactor``, ``Site.Forecast.UpdatedAt``; ``Site.Schedule.Plan`` (JSON per
slot), ``Status``, ``SolveTime`` (ms), ``Objective`` (currency), ``PlannedAt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ampacity.assets import DataType, PointSpec, Quality, Reading, ValueKind
from ampacity.control import forecasting
from ampacity.control.controllers.limits import pv_nominal_w
from ampacity.control.dayahead import Plan, PlanInputs, solve
from ampacity.control.schedule import PlannerConfig, inputs_from, parse_price_forecast
from ampacity.storage import Historian
from ampacity.storage.aggregates import Aggregate
from ampacity.storage.values import HistValue

from .addressspace import AddressSpaceBuilder
from .control import ControlRuntime

log = logging.getLogger(__name__)

HISTORY_DAYS = 28
SLOT = timedelta(minutes=15)
HORIZON_SLOTS = 96
"""Forecasts cover 24 h in quarter-hours; the plan covers the known prices within them."""


def _spec(name: str, description: str, data_type: DataType = DataType.STRING) -> PointSpec:
    return PointSpec(name, ValueKind.INFO, data_type, description)


FORECAST_POINTS = (
    _spec("PvPower", "PV power forecast, W per 15-min slot, as JSON [{start, end, value}]."),
    _spec("HouseConsumption", "Household load forecast, W per 15-min slot, as JSON."),
    _spec(
        "ClearSkyFactor",
        "Measured PV power over the clear-sky model, learned from history (1 = ideal).",
        DataType.DOUBLE,
    ),
    _spec("UpdatedAt", "When the forecasts were made (UTC).", DataType.DATETIME),
)
SCHEDULE_POINTS = (
    _spec(
        "Plan",
        "The day-ahead plan as JSON, per slot: start, price, grid_w, battery_w (+ discharge), "
        "and the flexible loads' power.",
    ),
    _spec("Status", "The solver's status (optimal, infeasible: best effort, no prices)."),
    _spec("SolveTime", "Time the solver took, ms.", DataType.DOUBLE),
    _spec("Objective", "Cost of the plan over its horizon, currency.", DataType.DOUBLE),
    _spec("PlannedAt", "When the plan was made (UTC).", DataType.DATETIME),
)


def history_series(values: Sequence[HistValue]) -> list[tuple[datetime, float]]:
    """Historian aggregates as ``(time, W)`` pairs, gaps left out."""
    return [
        (datetime.fromtimestamp(v.t_us / 1e6, UTC), float(v.value))
        for v in values
        if isinstance(v.value, int | float)
    ]


def slots_json(start: datetime, values: Sequence[float]) -> str:
    return json.dumps(
        [
            {
                "start": _iso(start + i * SLOT),
                "end": _iso(start + (i + 1) * SLOT),
                "value": round(v, 1),
            }
            for i, v in enumerate(values)
        ]
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlanningRuntime:
    """Forecasts and the schedule of one site.

    Args:
        control: the control runtime (snapshot, cycle, writer).
        historian: where the history comes from.
        site_id: the site's asset id.
        latitude / longitude: the site's location, degrees.
        tariff_id: the ``Tariff`` asset whose ``PriceForecast`` the plan uses (``None``: the
            control config's price series).
        clock: UTC now.
    """

    def __init__(
        self,
        control: ControlRuntime,
        historian: Historian | None,
        site_id: str,
        latitude: float,
        longitude: float,
        tariff_id: str | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.control = control
        self.historian = historian
        self.site_id = site_id
        self.latitude = latitude
        self.longitude = longitude
        self.tariff_id = tariff_id
        self.clock = clock
        self.planner = control.cycle.config.planner or PlannerConfig()
        self.last_plan: Plan | None = None
        self._wake = asyncio.Event()
        self._plans_started = 0
        self._replans: set[asyncio.Task[None]] = set()
        control.cycle.replan_solver = self._replan

    def _replan(self, inputs: PlanInputs) -> None:
        """The cycle's re-plan (a car takes other power than planned): solved off the event loop,
        then handed to the cycle and published, unless a full plan started meanwhile."""
        task = asyncio.get_running_loop().create_task(self._solve_replan(inputs))
        self._replans.add(task)
        task.add_done_callback(self._replans.discard)

    async def _solve_replan(self, inputs: PlanInputs) -> None:
        started = self._plans_started
        try:
            plan = await asyncio.get_running_loop().run_in_executor(None, solve, inputs)
        except Exception:  # a planning bug: the plan in force stays
            log.exception("re-planning failed")
            return
        if plan.usable and started == self._plans_started:
            self.control.cycle.set_plan(plan)
            self.last_plan = plan
            self._publish_plan(plan, self.clock())

    @property
    def forecast_key(self) -> str:
        return f"{self.site_id}.Forecast"

    @property
    def schedule_key(self) -> str:
        return f"{self.site_id}.Schedule"

    def declare_nodes(self, builder: AddressSpaceBuilder) -> None:
        builder.add_object(
            self.site_id, self.forecast_key, "Forecast", "PV and household load forecasts."
        )
        for point in FORECAST_POINTS:
            builder.add_variable(self.forecast_key, point)
        builder.add_object(
            self.site_id,
            self.schedule_key,
            "Schedule",
            "The day-ahead plan from prices and forecasts (a demand of priority SCHEDULE).",
        )
        for point in SCHEDULE_POINTS:
            builder.add_variable(self.schedule_key, point)

    def on_change(self, reading: Reading) -> None:
        """Writer listener: new prices -> re-plan."""
        if reading.asset_id == self.tariff_id and reading.point == "PriceForecast":
            self._wake.set()

    async def run(self) -> None:
        """Plan now, then on new prices and every ``REPLAN_S``, until cancelled."""
        await asyncio.sleep(2.0)  # the first readings
        while True:
            try:
                await self.plan_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a planning bug: local control goes on without a plan
                log.exception("planning failed")
                self._publish_status(f"error: {type(exc).__name__}: {exc}")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.planner.replan_s)

    async def plan_once(self) -> Plan | None:
        """Forecast, solve, hand the plan to the cycle; returns it."""
        self._plans_started += 1
        now = self.clock()
        start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        snapshot = self.control.snapshot(now)
        config = self.control.cycle.config
        peak_w = sum(pv_nominal_w(snapshot, pv) for pv in config.pv)
        pv_history, load_history = await self._history(now)
        factor = forecasting.learn_clear_sky_factor(
            pv_history, self.latitude, self.longitude, peak_w
        )
        weather = forecasting.weather_persistence(
            pv_history, self.latitude, self.longitude, peak_w, factor, now
        )
        slot_s = SLOT.total_seconds()
        lat, lon = self.latitude, self.longitude
        pv = forecasting.pv_forecast(
            start, HORIZON_SLOTS, slot_s, lat, lon, peak_w, factor, weather
        )
        load = forecasting.load_forecast(load_history, start, HORIZON_SLOTS, slot_s)
        # corrected by the last quarter-hour the cycle measured (published as forecast too)
        load = forecasting.nowcast(load, self.control.cycle.load.mean_w, slot_s)
        key = self.forecast_key
        self.control.writer.publish(
            [
                Reading(key, "PvPower", slots_json(start, pv), Quality.GOOD, now),
                Reading(key, "HouseConsumption", slots_json(start, load), Quality.GOOD, now),
                Reading(key, "ClearSkyFactor", factor, Quality.GOOD, now),
                Reading(key, "UpdatedAt", now, Quality.GOOD, now),
            ]
        )
        prices = self._prices()
        if not prices:
            self._publish_status("no prices: local control only")
            self.control.cycle.set_plan(None)
            return None
        peak = self.control.cycle.import_peak.peak_w  # the month's so far (demand charge)
        inputs = inputs_from(
            snapshot, config, self.planner, prices, pv, load, start, slot_s, peak_floor_w=peak
        )
        loop = asyncio.get_running_loop()
        plan = await loop.run_in_executor(None, solve, inputs)
        self.control.cycle.set_plan(plan)
        self.last_plan = plan
        self._publish_plan(plan, now)
        return plan

    async def _history(
        self, now: datetime
    ) -> tuple[list[tuple[datetime, float]], list[tuple[datetime, float]]]:
        if self.historian is None:
            return [], []
        begin = now - timedelta(days=HISTORY_DAYS)
        found = []
        for point in ("PvPower", "HouseConsumption"):
            values = await self.historian.read_processed(
                f"{self.site_id}.{point}", begin, now, SLOT, Aggregate.AVERAGE
            )
            found.append(history_series(values))
        return found[0], found[1]

    def _prices(self) -> list[Any]:
        if self.tariff_id is None:
            return []
        key = f"{self.tariff_id}.PriceForecast"
        writer = self.control.writer
        if not writer.has(key):
            return []
        text = writer.slot(key).value
        return parse_price_forecast(text) if isinstance(text, str) else []

    def _publish_status(self, status: str) -> None:
        now = self.clock()
        self.control.writer.publish(
            [Reading(self.schedule_key, "Status", status, Quality.GOOD, now)]
        )

    def _publish_plan(self, plan: Plan, now: datetime) -> None:
        self.control.writer.publish(
            [
                Reading(self.schedule_key, "Plan", plan_json(plan), Quality.GOOD, now),
                Reading(self.schedule_key, "Status", str(plan.status), Quality.GOOD, now),
                Reading(self.schedule_key, "SolveTime", plan.solve_time_s * 1e3, Quality.GOOD, now),
                Reading(self.schedule_key, "Objective", float(plan.objective), Quality.GOOD, now),
                Reading(self.schedule_key, "PlannedAt", now, Quality.GOOD, now),
            ]
        )


def plan_json(plan: Plan) -> str:
    """The plan's per-slot series as JSON."""
    return json.dumps(plan.to_dict())
