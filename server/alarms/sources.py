"""Where conditions come from: which conditions a site has and what turns each one on and off.

Pure logic (no asyncua): ``AlarmSources.plan`` lists the site's conditions from its assets and
configuration; ``on_reading`` (every node change the writer applies), ``on_historian`` (the
historian's health) and ``tick`` (delays of limit alarms) return ``Signal``\\ s, the condition's
state as its source says it.

What each kind watches (node keys ``<asset>.<Point>``):

* ``comm_lost``: ``Health.Connected`` of a device's assets (false: the device stopped answering
  and its values went Uncertain). One condition per device: on the asset, or on the device's
  folder when the device has several assets.
* ``device_fault``: ``OperatingState`` = Fault (7) of an inverter, ``RunState`` = Fault (4) of a
  CHP, fuel cell, heat pump, heating rod or electrolyser.
* ``failsafe``: ``<site>.Control.FailSafe`` not empty.
* ``feed_in_limit`` / ``import_limit``: ``<site>.GridPower`` (W, + import) against
  ``<site>.FeedInLimit`` / ``<site>.GridImportLimit`` (W), with hysteresis and delay.
* ``dimming``: ``<site>.GridOperator.DimmingActive``; ``ripple_stage``: ``ActiveLimit`` (%) of a
  ripple-control receiver below 100.
* ``demand_expired``: a marketer or § 14a demand left ``<site>.Control.ExternalDemands`` at its
  expiry (not withdrawn); cleared when that party sends a demand again.
* ``soc_floor`` / ``soc_ceiling``: a battery's ``StateOfCharge`` (%) at the configured floor or
  ceiling; ``temperature``: a ``Temperature`` point (°C) above ``temperature_max_c``.
* ``historian_buffering``: the database is unreachable (samples go to the disk buffer); its
  return to normal is "database back". ``historian_buffer_high``: the disk buffer's size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ampacity.assets import AssetKind, Reading

from .config import AlarmsConfig
from .limits import LimitMonitor

MARKETER_OWNER = "marketer"
DIMMING_OWNER = "grid-operator-14a"
EXPIRY_SLACK = timedelta(seconds=2)
"""A demand that leaves the list this close to its expiry has expired (the cycle's period)."""
INVERTER_FAULT = 7
RUN_STATE_FAULT = 4


@dataclass(frozen=True)
class KindSpec:
    """A condition kind: its BrowseName, OPC UA type and the messages of its two states."""

    name: str
    type_name: str
    on: str
    off: str
    limit: str | None = None
    """``"high"`` / ``"low"`` for ExclusiveLimitAlarmType conditions."""


KINDS: dict[str, KindSpec] = {
    "comm_lost": KindSpec(
        "CommunicationLost", "OffNormalAlarmType", "{src}: no answer", "{src}: answering again"
    ),
    "device_fault": KindSpec(
        "DeviceFault", "OffNormalAlarmType", "{src}: device reports a fault", "{src}: fault cleared"
    ),
    "failsafe": KindSpec(
        "FailSafe", "OffNormalAlarmType", "control in fail-safe: {detail}", "control back to normal"
    ),
    "feed_in_limit": KindSpec(
        "FeedInLimitExceeded",
        "ExclusiveLimitAlarmType",
        "export {detail} above the feed-in limit",
        "export within the feed-in limit",
        limit="low",
    ),
    "import_limit": KindSpec(
        "ImportLimitExceeded",
        "ExclusiveLimitAlarmType",
        "import {detail} above the grid import limit",
        "import within the grid import limit",
        limit="high",
    ),
    "dimming": KindSpec(
        "DimmingActive", "OffNormalAlarmType", "§14a dimming active", "§14a dimming ended"
    ),
    "ripple_stage": KindSpec(
        "RippleStageReduced",
        "OffNormalAlarmType",
        "{src}: ripple-control stage {detail} %",
        "{src}: ripple-control stage 100 %",
    ),
    "demand_expired": KindSpec(
        "DemandExpired",
        "DiscreteAlarmType",
        "demand expired without renewal: {detail}",
        "demands renewed",
    ),
    "soc_floor": KindSpec(
        "StateOfChargeFloor",
        "OffNormalAlarmType",
        "{src}: state of charge {detail} % at the floor",
        "{src}: state of charge above the floor",
    ),
    "soc_ceiling": KindSpec(
        "StateOfChargeCeiling",
        "OffNormalAlarmType",
        "{src}: state of charge {detail} % at the ceiling",
        "{src}: state of charge below the ceiling",
    ),
    "temperature": KindSpec(
        "TemperatureHigh",
        "OffNormalAlarmType",
        "{src}: temperature {detail} °C too high",
        "{src}: temperature normal",
    ),
    "historian_buffering": KindSpec(
        "DatabaseUnreachable",
        "OffNormalAlarmType",
        "historian: database unreachable, writing to the disk buffer ({detail})",
        "historian: database back",
    ),
    "historian_buffer_high": KindSpec(
        "DiskBufferHigh",
        "OffNormalAlarmType",
        "historian: disk buffer {detail} bytes above the threshold",
        "historian: disk buffer below the threshold",
    ),
}


@dataclass(frozen=True)
class ConditionDef:
    """One condition instance: ``key`` is its NodeId string (``<source>.<BrowseName>``)."""

    kind: str
    source: str
    """Key of the SourceNode (asset, device folder, site or ``<site>.Historian``)."""

    @property
    def spec(self) -> KindSpec:
        return KINDS[self.kind]

    @property
    def key(self) -> str:
        return f"{self.source}.{self.spec.name}"


@dataclass(frozen=True)
class Signal:
    """What a source says about a condition now."""

    key: str
    active: bool
    message: str
    limit: float | None = None
    """The limit in force for limit alarms (W, in the sign of ``GridPower``)."""


@dataclass(frozen=True)
class AssetRef:
    asset_id: str
    kind: AssetKind
    points: tuple[str, ...]
    device: str
    """The device's key: its folder when it has several assets, else the asset id."""


@dataclass
class AlarmSources:
    """The site's condition sources; ``plan()`` first, then feed it what happens."""

    config: AlarmsConfig
    site_id: str
    assets: Sequence[AssetRef]
    control: bool = False
    """The site runs a control (FailSafe, dimming and external-demand conditions exist)."""
    historian: bool = True
    conditions: dict[str, ConditionDef] = field(default_factory=dict)
    _by_watch: dict[str, list[tuple[ConditionDef, str]]] = field(default_factory=dict)
    _limits: dict[str, LimitMonitor] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)
    _demands: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    _expired: dict[str, str] = field(default_factory=dict)

    # --- which conditions -------------------------------------------------------------------

    def _add(self, kind: str, source: str, *watched: str) -> None:
        if not self.config.kind(kind).enabled:
            return
        cond = ConditionDef(kind, source)
        self.conditions.setdefault(cond.key, cond)
        for key in watched:
            self._by_watch.setdefault(key, []).append((cond, source))

    def plan(self) -> list[ConditionDef]:
        """Every condition of the site (nothing when ``alarms.enabled`` is false)."""
        if not self.config.enabled:
            return []
        site = self.site_id
        for a in self.assets:
            self._add("comm_lost", a.device, f"{a.asset_id}.Health.Connected")
            for point in ("OperatingState", "RunState"):
                if point in a.points:
                    self._add("device_fault", a.asset_id, f"{a.asset_id}.{point}")
            if a.kind is AssetKind.BATTERY and "StateOfCharge" in a.points:
                self._add("soc_floor", a.asset_id, f"{a.asset_id}.StateOfCharge")
                self._add("soc_ceiling", a.asset_id, f"{a.asset_id}.StateOfCharge")
            if "Temperature" in a.points:
                self._add("temperature", a.asset_id, f"{a.asset_id}.Temperature")
            if a.kind is AssetKind.RIPPLE_CONTROL_RECEIVER and "ActiveLimit" in a.points:
                self._add("ripple_stage", a.asset_id, f"{a.asset_id}.ActiveLimit")
        grid = (f"{site}.GridPower", f"{site}.FeedInLimit", f"{site}.GridImportLimit")
        self._add("feed_in_limit", site, *grid)
        self._add("import_limit", site, *grid)
        if self.control:
            self._add("failsafe", site, f"{site}.Control.FailSafe")
            self._add("dimming", site, f"{site}.GridOperator.DimmingActive")
            self._add("demand_expired", site, f"{site}.Control.ExternalDemands")
        if self.historian:
            self._add("historian_buffering", f"{site}.Historian")
            self._add("historian_buffer_high", f"{site}.Historian")
        hysteresis, delay = self.config.limit_hysteresis_w, self.config.limit_delay_s
        for kind in ("feed_in_limit", "import_limit"):
            self._limits[kind] = LimitMonitor(hysteresis, delay)
        soc_h = self.config.soc_hysteresis_pct
        self._limits["soc_floor"] = LimitMonitor(soc_h, 0.0)
        self._limits["soc_ceiling"] = LimitMonitor(soc_h, 0.0)
        return list(self.conditions.values())

    # --- what happens --------------------------------------------------------------------------

    def watches(self, key: str) -> bool:
        """A reading of node ``key`` may change a condition (a cheap check for every reading)."""
        return key in self._by_watch

    def on_reading(self, reading: Reading, now: datetime) -> list[Signal]:
        watchers = self._by_watch.get(reading.node_key)
        if not watchers:
            return []
        good = reading.quality.is_good
        self._values[reading.node_key] = reading.value if good else None
        out: list[Signal] = []
        for cond, source in watchers:
            signal = self._evaluate(cond, source, reading, now)
            if signal is not None:
                out.append(signal)
        return out

    def tick(self, now: datetime) -> list[Signal]:
        """Re-check the delayed limit alarms with the last values."""
        if f"{self.site_id}.FeedInLimitExceeded" not in self.conditions and (
            f"{self.site_id}.ImportLimitExceeded" not in self.conditions
        ):
            return []
        return self._grid(now)

    def on_historian(self, connected: bool, buffer_bytes: int, buffered: int) -> list[Signal]:
        source = f"{self.site_id}.Historian"
        out = []
        buffering = ConditionDef("historian_buffering", source)
        if buffering.key in self.conditions:
            out.append(_signal(buffering, not connected, source, f"{buffered} samples and events"))
        high = ConditionDef("historian_buffer_high", source)
        if high.key in self.conditions:
            above = buffer_bytes > self.config.disk_buffer_max_bytes
            out.append(_signal(high, above, source, str(buffer_bytes)))
        return out

    def _evaluate(
        self, cond: ConditionDef, source: str, reading: Reading, now: datetime
    ) -> Signal | None:
        value = self._values.get(reading.node_key)
        kind = cond.kind
        if kind == "comm_lost":
            if not isinstance(value, bool):
                return None
            return _signal(cond, not value, source)
        if kind == "device_fault":
            if value is None:
                return None
            fault = INVERTER_FAULT if reading.point == "OperatingState" else RUN_STATE_FAULT
            return _signal(cond, int(value) == fault, source)
        if kind == "failsafe":
            return _signal(cond, bool(value), source, str(value or ""))
        if kind == "dimming":
            return _signal(cond, value is True, source)
        if kind == "ripple_stage":
            if not isinstance(value, int | float):
                return None
            return _signal(cond, value < 100, source, f"{value:g}")
        if kind in ("soc_floor", "soc_ceiling", "temperature"):
            return self._threshold(cond, source, value, now)
        if kind in ("feed_in_limit", "import_limit"):
            return next((s for s in self._grid(now) if s.key == cond.key), None)
        if kind == "demand_expired":
            return self._demands_changed(cond, source, value, now)
        return None

    def _threshold(
        self, cond: ConditionDef, source: str, value: Any, now: datetime
    ) -> Signal | None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        c = self.config
        if cond.kind == "temperature":
            monitor = self._limits.setdefault(
                cond.key, LimitMonitor(c.temperature_hysteresis_c, 0.0)
            )
            state = monitor.update(value, c.temperature_max_c, now)
        elif cond.kind == "soc_floor":
            monitor = self._limits.setdefault(cond.key, LimitMonitor(c.soc_hysteresis_pct, 0.0))
            # "at the floor": SoC <= floor, as "above -floor" of the negated value
            state = monitor.update(-value, -c.soc_floor_pct - 1e-9, now)
        else:
            monitor = self._limits.setdefault(cond.key, LimitMonitor(c.soc_hysteresis_pct, 0.0))
            state = monitor.update(value, c.soc_ceiling_pct - 1e-9, now)
        return _signal(cond, monitor.exceeded, source, f"{value:g}") if state is not None else None

    def _grid(self, now: datetime) -> list[Signal]:
        site = self.site_id
        power = _number(self._values.get(f"{site}.GridPower"))
        out = []
        for kind, limit_key, sign in (
            ("feed_in_limit", "FeedInLimit", -1.0),
            ("import_limit", "GridImportLimit", 1.0),
        ):
            cond = ConditionDef(kind, site)
            if cond.key not in self.conditions:
                continue
            limit = _number(self._values.get(f"{site}.{limit_key}"))
            monitor = self._limits[kind]
            value = None if power is None else sign * power
            state = monitor.update(value, limit, now)
            if state is None:
                continue
            detail = f"{value:.0f} W" if value is not None else ""
            out.append(
                Signal(
                    cond.key,
                    state,
                    (cond.spec.on if state else cond.spec.off).format(src=site, detail=detail),
                    None if limit is None else sign * limit,
                )
            )
        return out

    def _demands_changed(
        self, cond: ConditionDef, source: str, value: Any, now: datetime
    ) -> Signal | None:
        try:
            listed = json.loads(value) if isinstance(value, str) else []
        except ValueError:
            return None
        current: dict[tuple[str, str], datetime | None] = {}
        for d in listed if isinstance(listed, list) else []:
            owner = d.get("owner") if isinstance(d, dict) else None
            if owner not in (MARKETER_OWNER, DIMMING_OWNER):
                continue
            expires = d.get("expires")
            try:
                current[(owner, str(d.get("resource")))] = (
                    datetime.fromisoformat(expires) if expires else None
                )
            except ValueError:
                current[(owner, str(d.get("resource")))] = None
        before = bool(self._expired)
        for (owner, resource), expires in self._demands.items():
            gone = (owner, resource) not in current
            if gone and expires is not None and expires <= now + EXPIRY_SLACK:
                self._expired[owner] = resource
        for owner, _ in current:
            self._expired.pop(owner, None)
        self._demands = current
        if bool(self._expired) == before and not self._expired:
            return None
        detail = ", ".join(f"{o} ({r})" for o, r in sorted(self._expired.items()))
        return _signal(cond, bool(self._expired), source, detail)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _signal(cond: ConditionDef, active: bool, source: str, detail: str = "") -> Signal:
    text = cond.spec.on if active else cond.spec.off
    return Signal(cond.key, active, text.format(src=source, detail=detail))
