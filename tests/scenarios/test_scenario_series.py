"""CSV time series for scenarios: parsing, resampling to any step, located errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ampacity.scenarios.series import SeriesError, read_series

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _write(path: Path, rows: list[tuple[str, str]], comment: str = "# source: a test") -> Path:
    lines = [comment, "timestamp,value", *(f"{t},{v}" for t, v in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_value_holds_from_its_timestamp_and_means_resample_any_step(tmp_path: Path) -> None:
    rows = [((T0 + timedelta(minutes=15 * i)).isoformat(), str(100.0 * (i + 1))) for i in range(4)]
    series = read_series(_write(tmp_path / "load.csv", rows), scale=2.0)
    assert series.at(T0 + timedelta(minutes=5)) == 200.0
    assert series.at(T0 + timedelta(minutes=15)) == 400.0
    # one minute inside a quarter-hour: that quarter's value
    assert series.mean(T0 + timedelta(minutes=16), T0 + timedelta(minutes=17)) == 400.0
    # half an hour across two quarter-hours: their mean
    assert series.mean(T0, T0 + timedelta(minutes=30)) == pytest.approx(300.0)
    # across a boundary at 1/3 : 2/3
    start = T0 + timedelta(minutes=10)
    assert series.mean(start, start + timedelta(minutes=15)) == pytest.approx(
        (5 * 200 + 10 * 400) / 15
    )
    assert series.covers(T0, T0 + timedelta(hours=1))
    assert not series.covers(T0, T0 + timedelta(hours=1, minutes=1))


def test_end_labelled_values_and_day_offsets(tmp_path: Path) -> None:
    """DWD's 10-minute values refer to the 10 minutes ending at the timestamp; a profile of
    another year is moved onto the scenario's day by whole days."""
    rows = [("2021-06-01T00:10:00Z", "10"), ("2021-06-01T00:20:00Z", "20")]
    series = read_series(_write(tmp_path / "ghi.csv", rows), offset_days=1096, label="end")
    day = datetime(2024, 6, 1, tzinfo=UTC)
    assert series.first == day
    assert series.at(day + timedelta(minutes=5)) == 10.0
    assert series.at(day + timedelta(minutes=15)) == 20.0
    assert series.last == day + timedelta(minutes=20)


@pytest.mark.parametrize(
    ("rows", "line", "problem"),
    [
        ([("2024-03-01T00:00:00Z", "1"), ("yesterday", "2")], 4, "not an ISO 8601 timestamp"),
        ([("2024-03-01T00:00:00Z", "1"), ("2024-03-01T00:00:30Z", "2")], 4, "less than 1 min"),
        ([("2024-03-01T00:00:00Z", "1"), ("2024-03-01T00:15:00Z", "x")], 4, "is not a number"),
        ([("2024-03-01T00:15:00Z", "1"), ("2024-03-01T00:00:00Z", "2")], 4, "not after"),
        ([("2024-03-01T00:00:00Z", "1"), ("2024-03-01T00:15:00Z", "nan")], 4, "not a finite"),
    ],
)
def test_bad_rows_are_located(
    tmp_path: Path, rows: list[tuple[str, str]], line: int, problem: str
) -> None:
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(SeriesError, match=rf"^bad\.csv:{line}: .*{problem}"):
        read_series(path)
