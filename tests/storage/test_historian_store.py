"""The storage suite, run against SQLite and PostgreSQL: ingest, reads, aggregates, events,
rollups, retention, export."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from ampacity.assets import SPECS, AssetKind
from ampacity.storage import Aggregate, EventKind, Historian, RecordingPolicy, StorageConfig
from ampacity.storage import status as sc
from ampacity.storage.export import export_csv
from ampacity.storage.timeutil import to_us
from historian_testkit import T0, FakeClock, at

PV = SPECS[AssetKind.PV_INVERTER]
POWER = PV.point("ActivePower")
ENERGY = PV.point("EnergyProduced")
LIMIT = PV.point("ActivePowerLimit")
SERIAL = SPECS[AssetKind.PV_INVERTER].point("NominalPower")
EVERY = RecordingPolicy()  # every change, no deadband, no heartbeat


def fill(h: Historian, key: str, values: list[tuple[float, float | None, int]]) -> None:
    for seconds, value, status in values:
        h.record(key, value, status, at(seconds), at(seconds))


async def test_recorded_values_read_back_raw_in_order(historian: Historian) -> None:
    historian.register_series("pv1.ActivePower", POWER, EVERY)
    fill(historian, "pv1.ActivePower", [(i, float(i * 10), 0) for i in range(100)])
    assert await historian.flush()
    page = await historian.read_raw("pv1.ActivePower", at(0), at(100))
    assert [v.value for v in page.values] == [float(i * 10) for i in range(100)]
    assert page.values[0].t_us == to_us(at(0))
    assert page.next_t is None
    health = historian.health()
    assert health.database_connected and health.buffered == 0 and health.oldest_buffered is None
    assert health.written == 100


async def test_raw_reads_page_with_continuation_reverse_and_bounds(historian: Historian) -> None:
    historian.register_series("pv1.ActivePower", POWER, EVERY)
    fill(historian, "pv1.ActivePower", [(i * 10, float(i), 0) for i in range(10)])
    await historian.flush()
    key = "pv1.ActivePower"
    first = await historian.read_raw(key, at(0), at(100), limit=4)
    assert [v.value for v in first.values] == [0.0, 1.0, 2.0, 3.0]
    second = await historian.read_raw(key, at(0), at(100), limit=4, resume_t=first.next_t)
    assert [v.value for v in second.values] == [4.0, 5.0, 6.0, 7.0]
    # end is exclusive, start inclusive
    window = await historian.read_raw(key, at(20), at(50))
    assert [v.value for v in window.values] == [2.0, 3.0, 4.0]
    reverse = await historian.read_raw(key, at(50), at(20))
    assert [v.value for v in reverse.values] == [5.0, 4.0, 3.0]
    bounded = await historian.read_raw(key, at(25), at(45), bounds=True)
    assert [v.value for v in bounded.values] == [2.0, 3.0, 4.0, 5.0]
    missing = await historian.read_raw(key, at(95), at(200), bounds=True)
    assert missing.values[-1].status == sc.BAD_BOUND_NOT_FOUND
    latest = await historian.read_raw(key, None, at(1000), limit=2)
    assert [v.value for v in latest.values] == [9.0, 8.0]


async def test_text_bool_and_bad_values_keep_their_kind(historian: Historian) -> None:
    ident = SPECS[AssetKind.PV_INVERTER]
    historian.register_series("pv1.ActivePower", POWER, EVERY)
    from ampacity.assets import IDENTIFICATION_POINTS

    historian.register_series("pv1.Identification.Model", IDENTIFICATION_POINTS[1])
    assert ident.kind is AssetKind.PV_INVERTER
    historian.record("pv1.Identification.Model", "SB 5.0", 0, at(1))
    historian.record("pv1.ActivePower", None, 0x80050000, at(1))
    await historian.flush()
    text = await historian.read_raw("pv1.Identification.Model", at(0), at(10))
    assert text.values[0].value == "SB 5.0"
    bad = await historian.read_raw("pv1.ActivePower", at(0), at(10))
    assert bad.values[0].value is None and bad.values[0].status == 0x80050000


async def test_processed_aggregates_per_interval(historian: Historian, clock: FakeClock) -> None:
    key = "pv1.ActivePower"
    historian.register_series(key, POWER, EVERY)
    # 0..59 s: 10, 20 (from 30 s); 60..119 s: 40; 120..179 s: nothing; then 100 at 180 s
    fill(historian, key, [(0, 10.0, 0), (30, 20.0, 0), (60, 40.0, 0), (180, 100.0, 0)])
    await historian.flush()
    minute = timedelta(minutes=1)

    async def agg(a: Aggregate) -> list[tuple[float | str | None, int]]:
        out = await historian.read_processed(key, at(0), at(240), minute, a)
        return [(v.value, v.status) for v in out]

    good = sc.calculated(sc.GOOD)
    avg = await agg(Aggregate.AVERAGE)
    assert avg[0] == (15.0, good)
    assert avg[1] == (40.0, good)
    assert avg[2] == (None, sc.BAD_NO_DATA)
    assert await agg(Aggregate.MINIMUM) == [
        (10.0, good),
        (40.0, good),
        (None, sc.BAD_NO_DATA),
        (100.0, good),
    ]
    assert [v for v, _ in await agg(Aggregate.MAXIMUM)] == [20.0, 40.0, None, 100.0]
    assert [v for v, _ in await agg(Aggregate.COUNT)] == [2.0, 1.0, 0.0, 1.0]
    assert [v for v, _ in await agg(Aggregate.START)] == [10.0, 40.0, None, 100.0]
    assert [v for v, _ in await agg(Aggregate.END)] == [20.0, 40.0, None, 100.0]
    assert [v for v, _ in await agg(Aggregate.DELTA)][:2] == [10.0, 0.0]
    # sloped (analog) interpolation at the interval starts
    interp = await agg(Aggregate.INTERPOLATIVE)
    assert interp[0] == (10.0, 0)  # a raw sample exactly at the start
    assert interp[2][0] == pytest.approx(40.0 + 60.0 * (60 / 120))
    assert interp[2][1] == sc.interpolated(sc.GOOD)
    # time average, linear between samples: 0..30 s 10→20, 30..60 s 20→40
    tavg = await agg(Aggregate.TIME_AVERAGE)
    assert tavg[0][0] == pytest.approx((15.0 * 30 + 30.0 * 30) / 60)
    assert tavg[2][0] == pytest.approx(85.0)  # 120..180 s of the 40→100 ramp: 70→100
    # the last interval ends after the last sample's time but before "now": complete;
    # an interval reaching past now is Partial
    clock.now = at(200)
    last = await historian.read_processed(key, at(180), at(240), minute, Aggregate.AVERAGE)
    assert sc.has_partial(last[0].status)


async def test_processed_status_is_uncertain_with_bad_samples_and_partial_for_short_intervals(
    historian: Historian,
) -> None:
    key = "pv1.ActivePower"
    historian.register_series(key, POWER, EVERY)
    fill(historian, key, [(0, 10.0, 0), (10, None, 0x80050000), (20, 30.0, 0)])
    await historian.flush()
    out = await historian.read_processed(
        key, at(0), at(90), timedelta(minutes=1), Aggregate.AVERAGE
    )
    assert out[0].value == 20.0
    assert out[0].status & sc.STATUS_MASK == sc.UNCERTAIN_DATA_SUB_NORMAL
    assert out[1].status == sc.BAD_NO_DATA  # 60..90 s: no sample
    count = await historian.read_processed(
        key, at(0), at(90), timedelta(minutes=1), Aggregate.COUNT
    )
    assert sc.has_partial(count[1].status)  # 30 s of a 60 s interval


async def test_delta_of_a_counter_gives_energy_per_interval(historian: Historian) -> None:
    key = "pv1.EnergyProduced"
    historian.register_series(key, ENERGY)
    # 1 Wh every 10 s for an hour
    fill(historian, key, [(i * 10, 1000.0 + i, 0) for i in range(360)])
    await historian.flush()
    out = await historian.read_processed(
        key, at(0), at(3600), timedelta(minutes=15), Aggregate.DELTA
    )
    # Delta (OPC UA Part 13): last minus first sample inside each interval
    assert [v.value for v in out] == [89.0, 89.0, 89.0, 89.0]
    # DeltaBounds: the counter at the interval end minus at its start; intervals add up
    bounds = await historian.read_processed(
        key, at(0), at(3600), timedelta(minutes=15), Aggregate.DELTA_BOUNDS
    )
    assert [v.value for v in bounds[:3]] == [90.0, 90.0, 90.0]
    assert bounds[3].value == 89.0  # the counter is known up to 3590 s: extrapolated, Uncertain
    assert bounds[3].status & sc.STATUS_MASK == sc.UNCERTAIN_DATA_SUB_NORMAL
    part = await historian.read_processed(
        key, at(5), at(65), timedelta(seconds=30), Aggregate.DELTA_BOUNDS
    )
    assert [v.value for v in part] == [pytest.approx(3.0), pytest.approx(3.0)]


async def test_read_at_time_interpolates_and_steps(historian: Historian) -> None:
    historian.register_series("pv1.ActivePower", POWER, EVERY)
    historian.register_series("pv1.ActivePowerLimit", LIMIT)
    fill(historian, "pv1.ActivePower", [(0, 0.0, 0), (10, 100.0, 0)])
    fill(historian, "pv1.ActivePowerLimit", [(0, 5000.0, 0), (10, 3000.0, 0)])
    await historian.flush()
    power = await historian.read_at_time("pv1.ActivePower", [at(-5), at(0), at(2.5), at(20)])
    assert power[0].status == sc.BAD_NO_DATA
    assert (power[1].value, power[1].status) == (0.0, 0)
    assert power[2].value == pytest.approx(25.0)
    assert power[2].status == sc.interpolated(sc.GOOD)
    assert power[3].status == sc.interpolated(sc.UNCERTAIN_DATA_SUB_NORMAL)  # extrapolated
    limit = await historian.read_at_time("pv1.ActivePowerLimit", [at(5)])
    assert limit[0].value == 5000.0  # a setpoint is stepped


async def test_events_are_stored_filtered_by_source_and_paged(
    historian: Historian, clock: FakeClock
) -> None:
    for i in range(5):
        clock.now = at(i)
        historian.record_event(
            EventKind.AUDIT_WRITE,
            "pv1.ActivePowerLimit",
            f"write {i}",
            user="operator",
            old_value=float(i),
            new_value=float(i + 1),
            status=0,
        )
    historian.record_event(EventKind.DEVICE_LOST, "meter1", "meter1 lost", time=at(10))
    historian.record_event(EventKind.SYSTEM, "pvX1", "not below pv_1", time=at(11))
    await historian.flush()
    every, _ = await historian.read_events(None, at(0), at(60))
    assert [e.kind for e in every] == ["audit.write"] * 5 + ["device.lost", "system"]
    assert await historian.read_events("pv_1", at(0), at(60)) == ([], None)
    pv, _ = await historian.read_events("pv1", at(0), at(60))
    assert len(pv) == 5 and pv[0].user_name == "operator"
    assert pv[0].old_value == "0.0" and pv[0].new_value == "1.0" and pv[0].status == 0
    page, more = await historian.read_events(None, at(0), at(60), limit=4)
    assert len(page) == 4 and more is not None
    rest, done = await historian.read_events(None, at(0), at(60), limit=4, resume=more)
    assert [e.message for e in rest] == ["write 4", "meter1 lost", "not below pv_1"]
    assert done is None


async def test_replaying_a_batch_adds_nothing(historian: Historian) -> None:
    historian.register_series("pv1.ActivePower", POWER, EVERY)
    fill(historian, "pv1.ActivePower", [(i, float(i), 0) for i in range(10)])
    await historian.flush()
    from ampacity.storage.batch import Batch

    batch = Batch([("pv1.ActivePower", to_us(at(i)), float(i), None, 0) for i in range(10)])
    assert historian._ingest is not None
    historian._ingest.write(batch)
    page = await historian.read_raw("pv1.ActivePower", at(0), at(100))
    assert len(page.values) == 10


async def test_rollups_serve_processed_reads_and_retention_keeps_them(
    storage_config: StorageConfig, tmp_path, clock: FakeClock
) -> None:
    config = storage_config.model_copy(
        update={"retention": storage_config.retention.model_copy(update={"raw_days": 1.0})}
    )
    h = Historian.open(config, tmp_path / "roll", clock=clock)
    await h.start(background=False)
    try:
        key = "pv1.ActivePower"
        h.register_series(key, POWER, EVERY)
        fill(h, key, [(i * 5, float(i % 37), 0) for i in range(2 * 720)])  # 2 h, every 5 s
        await h.flush()
        hour = timedelta(hours=1)
        quarter = timedelta(minutes=15)
        raw_avg = await h.read_processed(key, T0, T0 + 2 * hour, quarter, Aggregate.AVERAGE)
        raw_max = await h.read_processed(key, T0, T0 + 2 * hour, quarter, Aggregate.MAXIMUM)
        clock.now = T0 + timedelta(hours=3)
        assert await h.maintain() > 0
        assert h._db is not None
        from ampacity.storage import maintenance

        marks = maintenance.watermarks(h._db.engine)
        assert marks[60] >= to_us(T0 + 2 * hour) and marks[900] >= to_us(T0 + 2 * hour)
        rolled = await h.read_processed(key, T0, T0 + 2 * hour, quarter, Aggregate.AVERAGE)
        assert [v.value for v in rolled] == pytest.approx([v.value for v in raw_avg])
        assert [v.status for v in rolled] == [v.status for v in raw_avg]
        rolled_max = await h.read_processed(key, T0, T0 + 2 * hour, quarter, Aggregate.MAXIMUM)
        assert [v.value for v in rolled_max] == [v.value for v in raw_max]
        # two days later raw samples are past retention; rollups still answer
        clock.now = T0 + timedelta(days=3)
        await h.maintain()
        assert (await h.read_raw(key, T0, T0 + 2 * hour)).values == []
        later = await h.read_processed(key, T0, T0 + 2 * hour, hour, Aggregate.COUNT)
        assert [v.value for v in later] == [720.0, 720.0]
        assert [v.status for v in later] == [sc.calculated(sc.GOOD)] * 2  # complete, not Partial
    finally:
        await h.stop()


async def test_late_samples_recompute_their_rollups(historian: Historian, clock: FakeClock) -> None:
    key = "pv1.ActivePower"
    historian.register_series(key, POWER, EVERY)
    fill(historian, key, [(i * 10, 10.0, 0) for i in range(360)])
    await historian.flush()
    clock.now = T0 + timedelta(hours=2)
    await historian.maintain()
    # a replayed buffer brings samples of an hour already rolled up
    from ampacity.storage.batch import Batch

    late = Batch([(key, to_us(at(i * 10 + 5)), 20.0, None, 0) for i in range(360)])
    position, _ = historian._buffer.append(late)  # as a restart after an outage would
    historian._enqueue(position, late)
    await historian.flush()
    await historian.maintain()
    out = await historian.read_processed(
        key, T0, T0 + timedelta(hours=1), timedelta(hours=1), Aggregate.AVERAGE
    )
    # the unchanged 10.0 was recorded once (on change), the late 20.0s all 360 times
    assert out[0].value == pytest.approx((10.0 + 360 * 20.0) / 361)


async def test_csv_export_raw_and_per_interval(historian: Historian) -> None:
    historian.register_series("pv1.ActivePower", POWER, EVERY)
    historian.register_series("pv1.EnergyProduced", ENERGY)
    fill(historian, "pv1.ActivePower", [(i, float(i), 0) for i in range(120)])
    fill(historian, "pv1.EnergyProduced", [(i, 1000.0 + i, 0) for i in range(120)])
    await historian.flush()
    out = io.StringIO()
    rows = await export_csv(historian, out, T0, at(120), points="*.ActivePower")
    lines = out.getvalue().splitlines()
    assert rows == 120 and lines[0] == "time,point,value,status"
    assert lines[1] == "2026-01-01T00:00:00Z,pv1.ActivePower,0.0,0x00000000"
    out = io.StringIO()
    rows = await export_csv(historian, out, T0, at(120), interval=timedelta(minutes=1))
    lines = out.getvalue().splitlines()
    assert lines[0] == "time,point,average,minimum,maximum,last,count"
    assert "2026-01-01T00:01:00Z,pv1.ActivePower,89.5,60.0,119.0,119.0,60" in lines
    assert rows == 4
