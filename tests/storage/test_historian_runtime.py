"""The historian as the server runs it: background flushing, the node writer's listener,
device events, registering while running, stopping with a dead database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ampacity.assets import HEALTH_POINTS, SPECS, AssetKind, Quality, Reading
from ampacity.storage import Aggregate, Historian, RecordingPolicy, StorageConfig, to_us
from historian_testkit import FakeClock, at

POWER = SPECS[AssetKind.PV_INVERTER].point("ActivePower")
CONNECTED = HEALTH_POINTS[0]


async def wait_for(condition, timeout_s: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_background_task_writes_within_the_flush_interval(
    storage_config: StorageConfig, tmp_path: Path
) -> None:
    config = storage_config.model_copy(update={"flush_interval_s": 0.05})
    h = Historian.open(config, tmp_path / "data")
    h.register_series("pv1.ActivePower", POWER)
    await h.start()
    try:
        now = datetime.now(UTC)
        h.record("pv1.ActivePower", 1500.0, Quality.GOOD.value, now, now)
        assert h.health().buffered == 1
        await wait_for(lambda: h.health().written == 1)
        assert h.health().database_connected and h.health().buffered == 0
        # a series registered while running is written too
        h.register_series("pv2.ActivePower", POWER)
        h.record("pv2.ActivePower", 10.0, 0, now, now)
        await wait_for(lambda: h.health().written == 2)
        assert "pv2.ActivePower" in await h.stored_keys()
    finally:
        await h.stop()


@pytest.mark.parametrize("batched", [False, True], ids=["on_reading", "on_readings"])
async def test_node_writer_listener_records_and_reports_devices(
    historian: Historian, batched: bool
) -> None:
    historian.register_series("pv1.ActivePower", POWER)
    historian.register_series("pv1.Health.Connected", CONNECTED)
    readings = [
        Reading("pv1", "Health.Connected", True, Quality.GOOD, at(0)),
        Reading("pv1", "ActivePower", 2000.0, Quality.GOOD, at(0)),
        Reading("pv1", "Health.Connected", False, Quality.GOOD, at(5)),
        Reading("pv1", "ActivePower", 2000.0, Quality.UNCERTAIN_LAST_USABLE, at(0)),
        Reading("pv1", "Health.Connected", True, Quality.GOOD, at(9)),
        Reading("pv1", "Unregistered", 1.0, Quality.GOOD, at(9)),
    ]
    if batched:  # the node writer's batch listener: the same samples and events
        historian.on_readings(readings)
    else:
        for reading in readings:
            historian.on_reading(reading)
    await historian.flush()
    events, _ = await historian.read_events("pv1", at(0), at(60))
    assert [(e.kind, e.message) for e in events] == [
        ("device.lost", "pv1 lost"),
        ("device.connected", "pv1 connected"),
    ]
    power = await historian.read_raw("pv1.ActivePower", at(0), at(10**6))
    assert [v.status for v in power.values] == [0, Quality.UNCERTAIN_LAST_USABLE.value]
    assert power.values[0].t_us == to_us(at(0))
    connected = await historian.read_raw("pv1.Health.Connected", at(0), at(60))
    assert [v.value for v in connected.values] == [1.0, 0.0, 1.0]
    assert [v.t_us for v in connected.values] == [to_us(at(s)) for s in (0, 5, 9)]


async def test_stop_with_an_unreachable_database_keeps_the_buffer(tmp_path: Path) -> None:
    config = StorageConfig(url="postgresql+psycopg://nobody@127.0.0.1:1/none", fsync=False)
    h = Historian.open(config, tmp_path / "data")
    h.register_series("pv1.ActivePower", POWER, RecordingPolicy())
    await h.start(background=False)
    h.record("pv1.ActivePower", 1.0, 0, at(0))
    assert not await h.flush()
    health = h.health()
    assert not health.database_connected and "OperationalError" in health.last_error
    assert health.buffered == 1 and health.oldest_buffered == at(0)
    await h.stop(timeout_s=0.5)
    again = Historian.open(config, tmp_path / "data")
    await again.start(background=False)
    assert again.health().buffered == 1
    await again.stop(timeout_s=0.5)


async def test_background_maintenance_computes_rollups(
    storage_config: StorageConfig, tmp_path: Path
) -> None:
    config = storage_config.model_copy(
        update={"flush_interval_s": 0.02, "maintenance_interval_s": 0.02}
    )
    h = Historian.open(config, tmp_path / "data", clock=FakeClock(at(7200)))
    h.register_series("pv1.ActivePower", POWER, RecordingPolicy())
    for i in range(600):
        h.record("pv1.ActivePower", float(i), 0, at(i))
    await h.start()
    try:
        await wait_for(lambda: h._wm60 is not None and h._wm60 >= to_us(at(600)))
        hourly = await h.read_processed(
            "pv1.ActivePower", at(0), at(3600), timedelta(hours=1), Aggregate.COUNT
        )
        assert hourly[0].value == 600.0
    finally:
        await h.stop()
