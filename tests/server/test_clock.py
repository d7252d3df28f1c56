"""The clock watch: NTP state from timedatectl/chrony output, jumps from injected clocks."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from ampacity.assets import Reading
from ampacity.server.clock import ClockWatch, ntp_status, parse_chrony, parse_timedatectl

# `timedatectl show` of systemd 252 (Debian 12), trimmed to the keys it prints
TIMEDATECTL_SYNCED = """Timezone=Europe/Berlin
LocalRTC=no
CanNTP=yes
NTP=yes
NTPSynchronized=yes
TimeUSec=Mon 2026-12-07 16:00:00 CET
RTCTimeUSec=Mon 2026-12-07 16:00:00 CET
"""
TIMEDATECTL_OFF = TIMEDATECTL_SYNCED.replace("NTP=yes", "NTP=no").replace(
    "NTPSynchronized=yes", "NTPSynchronized=no"
)
TIMEDATECTL_WAITING = TIMEDATECTL_SYNCED.replace("NTPSynchronized=yes", "NTPSynchronized=no")
# `chronyc -c tracking`: 14 comma-separated fields, the last the leap status
CHRONY_SYNCED = (
    "C0A80001,192.168.0.1,3,1765123200.123456789,-0.000012345,0.000004567,0.000023456,"
    "-12.345,0.001,0.012,0.012345678,0.001234567,1024.5,Normal\n"
)
CHRONY_UNSYNCED = (
    "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,"
    "0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n"
)


def runner(outputs: dict[str, str | None]):  # type: ignore[no-untyped-def]
    def run(command: Sequence[str]) -> str | None:
        return outputs.get(command[0])

    return run


def test_timedatectl_output() -> None:
    assert parse_timedatectl(TIMEDATECTL_SYNCED).synchronized is True  # type: ignore[union-attr]
    off = parse_timedatectl(TIMEDATECTL_OFF)
    assert off is not None and off.synchronized is False and "set-ntp" in off.detail
    waiting = parse_timedatectl(TIMEDATECTL_WAITING)
    assert waiting is not None and waiting.synchronized is False
    assert parse_timedatectl("garbage\n") is None


def test_chrony_output() -> None:
    synced = parse_chrony(CHRONY_SYNCED)
    assert synced is not None and synced.synchronized is True and "192.168.0.1" in synced.detail
    unsynced = parse_chrony(CHRONY_UNSYNCED)
    assert unsynced is not None and unsynced.synchronized is False
    assert parse_chrony("") is None
    assert parse_chrony("a,b,c") is None


def test_timedatectl_first_then_chrony_then_unknown() -> None:
    both = runner({"timedatectl": TIMEDATECTL_OFF, "chronyc": CHRONY_SYNCED})
    assert ntp_status(both).source == "timedatectl"
    only_chrony = runner({"timedatectl": None, "chronyc": CHRONY_UNSYNCED})
    status = ntp_status(only_chrony)
    assert (status.source, status.synchronized) == ("chronyc", False)
    assert ntp_status(runner({})).synchronized is None


class Sink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def publish(self, readings: list[Reading]) -> None:
        self.readings += readings


class Clocks:
    def __init__(self) -> None:
        self.wall_s = 1_765_123_200.0
        self.mono_s = 100.0

    def advance(self, seconds: float, wall_extra: float = 0.0) -> None:
        self.mono_s += seconds
        self.wall_s += seconds + wall_extra


def test_an_unsynchronised_clock_warns_in_the_log_and_in_health(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    watch = ClockWatch("site", sink, run=runner({"timedatectl": TIMEDATECTL_OFF}))
    watch.check_ntp()
    assert any("clock: not synchronised" in r.getMessage() for r in caplog.records)
    assert [(r.asset_id, r.point) for r in sink.readings] == [("site", "Health.LastError")]
    assert "not synchronised" in str(sink.readings[0].value)
    watch.check_ntp()  # still unsynchronised: no second warning
    assert len(sink.readings) == 1
    watch.run = runner({"timedatectl": TIMEDATECTL_SYNCED})
    assert watch.check_ntp().synchronized is True
    assert len(sink.readings) == 1


def test_a_jump_of_the_wall_clock_is_reported_a_steady_clock_is_not() -> None:
    clocks = Clocks()
    sink = Sink()
    watch = ClockWatch(
        "site", sink, run=runner({}), wall=lambda: clocks.wall_s, monotonic=lambda: clocks.mono_s
    )
    assert watch.check_jump() == 0.0
    clocks.advance(10.0, wall_extra=0.3)  # NTP slewing: small, not a jump
    watch.check_jump()
    assert watch.jumps == 0 and sink.readings == []
    clocks.advance(10.0, wall_extra=-3600.0)  # set back one hour
    assert watch.check_jump() == pytest.approx(-3600.0)
    assert watch.jumps == 1
    assert "jumped back by 3600.0 s" in str(sink.readings[-1].value)
    clocks.advance(10.0, wall_extra=120.0)
    watch.check_jump()
    assert watch.jumps == 2
    assert "jumped forward by 120.0 s" in watch.last_warning
