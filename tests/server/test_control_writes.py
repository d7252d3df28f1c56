"""How the control's decisions reach a device: one write at a time per setpoint, and a value
decided while a write is on its way follows at once, not a cycle later."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from ampacity.assets import SPECS, AssetKind, PointValue, WriteError, WriteResult
from ampacity.control import ControlConfig, ControlCycle, Decision, Priority
from ampacity.server.control import ControlRuntime
from ampacity.server.setpoints import SetpointTarget
from ampacity.server.writer import NodeWriter

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
LIMIT = "wallbox.ChargeCurrentLimit"


class SlowDevice:
    """A charger whose writes take until ``release`` is set (a slow RS485 bus)."""

    def __init__(self) -> None:
        self.written: list[PointValue] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        self.started.set()
        await self.release.wait()
        self.written.append(value)
        assert isinstance(value, float | int)
        return WriteResult(value, value, value, False)


def runtime(device: SlowDevice) -> ControlRuntime:
    config = ControlConfig.model_validate(
        {"grid_meter": "grid", "charge_points": [{"id": "wallbox", "mode": 1}]}
    )
    spec = SPECS[AssetKind.CHARGE_POINT].point("ChargeCurrentLimit")
    target = SetpointTarget("wallbox", "ChargeCurrentLimit", spec, (0.0, 32.0), device.write)
    writer = NodeWriter(aspace=None)  # type: ignore[arg-type]  # readings are only queued here
    return ControlRuntime(ControlCycle(config), writer, {LIMIT: target}, "site", clock=lambda: NOW)


def decide(amps: float, owner: str = "ev-charging") -> dict[str, Decision]:
    return {LIMIT: Decision(LIMIT, amps, owner, Priority.SURPLUS, "test")}


async def settled(control: ControlRuntime) -> None:
    """Until no write of the setpoint is on its way."""
    state: Any = control._writes[LIMIT]
    while state.task is not None and not state.task.done():
        await state.task


async def test_a_value_decided_during_a_write_follows_it_at_once() -> None:
    device = SlowDevice()
    control = runtime(device)
    control._dispatch(decide(16.0), NOW)
    await device.started.wait()
    # the grid operator's cap arrives while 16 A is on its way, then the same decision again
    control._dispatch(decide(6.09, "grid-operator-14a"), NOW)
    control._dispatch(decide(6.09, "grid-operator-14a"), NOW)
    device.release.set()
    await settled(control)
    assert device.written == [16.0, 6.09]  # no cycle in between


async def test_only_the_latest_decision_follows_and_none_when_it_is_the_value_in_flight() -> None:
    device = SlowDevice()
    control = runtime(device)
    control._dispatch(decide(16.0), NOW)
    await device.started.wait()
    for amps in (10.0, 8.0, 6.0):
        control._dispatch(decide(amps), NOW)
    device.release.set()
    await settled(control)
    assert device.written == [16.0, 6.0]

    device.release.clear()
    control._dispatch(decide(12.0), NOW)
    await asyncio.sleep(0)
    control._dispatch(decide(9.0), NOW)
    control._dispatch(decide(12.0), NOW)  # back to the value being written: nothing follows
    device.release.set()
    await settled(control)
    assert device.written == [16.0, 6.0, 12.0]


class RefusingDevice:
    """A charger that refuses every write until ``accept`` is set."""

    def __init__(self) -> None:
        self.accept = False
        self.attempts = 0

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        self.attempts += 1
        if not self.accept:
            raise WriteError(f"{asset_id}.{point}: 127.0.0.1:502 Modbus exception 4")
        assert isinstance(value, float | int)
        return WriteResult(value, value, value, False)


async def test_a_failing_write_is_logged_once_and_its_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ampacity.server.control")
    device = RefusingDevice()
    control = runtime(device)  # type: ignore[arg-type]
    for amps in (16.0, 10.0, 16.0, 10.0, 16.0):  # five cycles, five failed writes
        control._dispatch(decide(amps), NOW)
        await settled(control)
    assert device.attempts == 5
    device.accept = True
    control._dispatch(decide(12.0), NOW)
    await settled(control)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            logging.WARNING,
            f"{LIMIT}: control write: 16: WriteError: wallbox.ChargeCurrentLimit: "
            "127.0.0.1:502 Modbus exception 4",
        ),
        (logging.INFO, f"{LIMIT}: OK again after 5 failures in 0 s"),
    ]
