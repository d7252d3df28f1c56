"""The control acts on a grid meter update that leaves the range the last cycle allowed (issue
16: peak shaving one cycle late), and a refused device write reaches the control (the feed-in
limit's fallback for an inverter that refuses its limit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ampacity.assets import SPECS, AssetKind, PointValue, Quality, Reading, WriteError, WriteResult
from ampacity.control import ControlConfig, ControlCycle, Snapshot
from ampacity.server.control import ControlRuntime, _WriteState
from ampacity.server.setpoints import SetpointTarget
from ampacity.server.writer import NodeWriter

T0 = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
LIMIT_W = 14_000.0


def runtime(clock: list[datetime], write=None) -> ControlRuntime:
    config = ControlConfig.model_validate(
        {
            "grid_meter": "grid",
            "batteries": [{"id": "bat"}],
            "pv": [{"id": "pv", "nominal_power_w": 8000}],
            "strategies": {"peak": {"template": "peak-shaving", "grid_import_limit_w": LIMIT_W}},
            "strategy": "peak",
        }
    )
    targets = {}
    if write is not None:
        spec = SPECS[AssetKind.PV_INVERTER].point("ActivePowerLimit")
        targets["pv.ActivePowerLimit"] = SetpointTarget(
            "pv", "ActivePowerLimit", spec, (0.0, 8000.0), write
        )
    writer = NodeWriter(aspace=None)  # type: ignore[arg-type]  # readings are only queued here
    return ControlRuntime(ControlCycle(config), writer, targets, "site", clock=lambda: clock[0])


def meter(watts: float, when: datetime) -> Reading:
    return Reading("grid", "ActivePower", watts, Quality.GOOD, when)


def test_a_meter_update_past_the_import_limit_runs_a_cycle_at_once() -> None:
    clock = [T0]
    control = runtime(clock)
    control.cycle.step(Snapshot.of(T0, {"grid.ActivePower": 10_000.0}), T0)
    control.on_change(meter(12_000.0, T0))
    assert not control._wake.is_set()  # inside the range: the next tick will do
    control.on_change(meter(LIMIT_W + 500.0, T0))
    assert control._wake.is_set()  # a load jump past the limit: now
    control._wake.clear()
    clock[0] = T0 + timedelta(seconds=0.1)
    control.on_change(meter(LIMIT_W + 900.0, clock[0]))
    assert not control._wake.is_set()  # at most one such cycle per 0.25 s
    clock[0] = T0 + timedelta(seconds=0.3)
    control.on_change(meter(LIMIT_W + 900.0, clock[0]))
    assert control._wake.is_set()


async def test_a_refused_limit_write_is_reported_to_the_control() -> None:
    ok = [False]

    async def write(asset_id: str, point: str, value: PointValue) -> WriteResult:
        if not ok[0]:
            raise WriteError("the inverter refused the limit")
        assert isinstance(value, float)
        return WriteResult(value, value, value, False)

    clock = [T0]
    control = runtime(clock, write)
    resource = "pv.ActivePowerLimit"
    target, state = control.targets[resource], _WriteState()
    await control._write(resource, target, 4000.0, state)
    assert control.cycle.rejected == {resource}
    ok[0] = True
    await control._write(resource, target, 4000.0, state)
    assert not control.cycle.rejected
