"""Recording policy: model defaults, overrides, deadbands, intervals, status changes."""

from __future__ import annotations

from ampacity.assets import SPECS, AssetKind, PointSpec
from ampacity.storage import Mode, PolicyOverride, RecordingPolicy, StorageConfig, default_policy
from ampacity.storage.policy import apply_overrides
from ampacity.storage.recorder import SeriesHandle

PV = SPECS[AssetKind.PV_INVERTER]
POWER = PV.point("ActivePower")
ENERGY = PV.point("EnergyProduced")
LIMIT = PV.point("ActivePowerLimit")
S = 1_000_000


def handle(spec: PointSpec, policy: RecordingPolicy | None = None) -> SeriesHandle:
    return SeriesHandle.create("pv1." + spec.name, spec, policy or default_policy(spec))


def test_defaults_follow_the_kind_of_point() -> None:
    assert default_policy(ENERGY) == RecordingPolicy(Mode.ON_CHANGE)
    assert default_policy(LIMIT) == RecordingPolicy(Mode.ON_CHANGE)
    power = default_policy(POWER)
    assert power.mode is Mode.ON_CHANGE
    assert power.deadband_abs == 1.0  # W
    assert power.max_gap_s == 300.0


def test_counters_record_every_change_and_nothing_unchanged() -> None:
    h = handle(ENERGY)
    assert h.offer(100.0, 0, 1 * S, 1 * S) is not None
    assert h.offer(100.0, 0, 2 * S, 2 * S) is None
    assert h.offer(100.001, 0, 3 * S, 3 * S) is not None


def test_absolute_deadband_skips_small_changes_and_measures_from_the_last_recorded() -> None:
    h = handle(POWER, RecordingPolicy(Mode.ON_CHANGE, deadband_abs=10.0))
    assert h.offer(1000.0, 0, 1 * S, 1 * S) is not None
    assert h.offer(1006.0, 0, 2 * S, 2 * S) is None
    assert h.offer(1009.0, 0, 3 * S, 3 * S) is None
    assert h.offer(1010.5, 0, 4 * S, 4 * S) is not None  # 10.5 from 1000


def test_percent_deadband_is_relative_to_the_eurange_span() -> None:
    spec = PointSpec("Soc", POWER.kind, POWER.data_type, "", POWER.unit, (0.0, 200.0))
    h = handle(spec, RecordingPolicy(Mode.ON_CHANGE, deadband_pct=1.0))  # 2.0 of 200
    assert h.width == 2.0
    assert h.offer(50.0, 0, 1 * S, 1 * S) is not None
    assert h.offer(51.9, 0, 2 * S, 2 * S) is None
    assert h.offer(52.1, 0, 3 * S, 3 * S) is not None


def test_status_changes_are_always_recorded_with_a_later_time() -> None:
    h = handle(POWER, RecordingPolicy(Mode.ON_CHANGE, deadband_abs=1000.0))
    first = h.offer(500.0, 0, 10 * S, 10 * S)
    assert first is not None
    # the device stops answering: same value, old source time, new status
    lost = h.offer(500.0, 0x40900000, 10 * S, 12 * S)
    assert lost is not None
    assert lost[1] == 12 * S  # the server time: the source time did not move
    assert lost[4] == 0x40900000
    bad = h.offer(None, 0x80050000, 13 * S, 13 * S)
    assert bad is not None and bad[2] is None


def test_times_are_strictly_increasing_per_series() -> None:
    h = handle(ENERGY)
    a = h.offer(1.0, 0, 5 * S, 5 * S)
    b = h.offer(2.0, 0, 5 * S, 5 * S)
    assert a is not None and b is not None
    assert b[1] > a[1]


def test_interval_mode_records_the_held_value_at_each_boundary() -> None:
    h = handle(POWER, RecordingPolicy(Mode.INTERVAL, interval_s=60.0))
    assert h.offer(1.0, 0, 1 * S, 1 * S) is not None  # first value: status change from none
    assert h.offer(2.0, 0, 30 * S, 30 * S) is None
    sample = h.tick(61 * S)
    assert sample is not None and sample[1] == 60 * S and sample[2] == 2.0
    assert h.tick(90 * S) is None
    assert h.tick(120 * S) is not None


def test_heartbeat_records_a_quiet_value_after_max_gap() -> None:
    h = handle(POWER)
    assert h.offer(100.0, 0, 0, 0) is not None
    assert h.tick(299 * S) is None
    beat = h.tick(300 * S)
    assert beat is not None and beat[2] == 100.0


def test_off_records_nothing() -> None:
    h = handle(POWER, RecordingPolicy(Mode.OFF))
    assert h.offer(1.0, 0, 1, 1) is None
    assert h.tick(10**12) is None


def test_config_overrides_match_by_glob_and_the_last_wins() -> None:
    config = StorageConfig(
        policies=[
            PolicyOverride(points="*.ActivePower", deadband_abs=50.0),
            PolicyOverride(points="pv1.*", mode="interval", interval_s=10.0),
        ]
    )
    policy = apply_overrides(default_policy(POWER), config.overrides_for("pv1.ActivePower"))
    assert policy.mode is Mode.INTERVAL and policy.interval_s == 10.0
    assert policy.deadband_abs == 50.0
    other = apply_overrides(default_policy(POWER), config.overrides_for("meter.ActivePower"))
    assert other.mode is Mode.ON_CHANGE and other.deadband_abs == 50.0
    assert config.overrides_for("meter.Frequency") == []
