"""SG-Ready heat pump on a KMTronic board over UDP: the four states, the dwell rule whatever is
written, the grid operator's block, relay read-back, a board that does not answer or answers
garbage, the site file's keys, and the safe state at stop.

The board is the simulator of ``sim/kmtronic_udp.py`` on loopback; time is a clock whose
monotonic time the test moves forward (the poll loop itself runs every 20 ms of real time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from ampacity.assets import Quality, Reading, WriteError
from ampacity.drivers.registry import driver_types
from ampacity.drivers.runtime import PolledDriver
from ampacity.drivers.sgready.driver import (
    PROFILES,
    DwellGuard,
    SgReadyConnection,
    SgReadyProfile,
    create_driver,
)
from ampacity.server.config import ConfigError, load_config
from ampacity.sim.kmtronic_udp import KmtronicBoardSimulator

ASSET = "hp"


class MovableClock:
    """Real time for sleeps, plus an offset the test adds to jump over dwell times."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Sink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def publish(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)

    def latest(self, point: str) -> Reading | None:
        found = [r for r in self.readings if r.asset_id == ASSET and r.point == point]
        return found[-1] if found else None

    def value(self, point: str) -> object:
        reading = self.latest(point)
        return reading.value if reading is not None else None

    def quality(self, point: str) -> Quality | None:
        reading = self.latest(point)
        return reading.quality if reading is not None else None


def profile() -> SgReadyProfile:
    data = yaml.safe_load((PROFILES / "sgready_kmtronic_udp.yaml").read_text(encoding="utf-8"))
    found = SgReadyProfile.model_validate(data)
    return found.model_copy(update={"poll_s": 0.02, "answer_timeout_s": 0.2})


@pytest_asyncio.fixture
async def board() -> AsyncIterator[KmtronicBoardSimulator]:
    simulator = KmtronicBoardSimulator()
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def driver_for(board: KmtronicBoardSimulator, clock: MovableClock, **keys: object) -> PolledDriver:
    connection = SgReadyConnection.model_validate({"host": "127.0.0.1", "port": board.port, **keys})
    return create_driver("hp", ASSET, profile(), connection, clock=clock)


async def until(check: Callable[[], bool], within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


class Running:
    def __init__(self, driver: PolledDriver) -> None:
        self.driver = driver
        self.sink = Sink()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.driver.run(self.sink))
        await until(lambda: self.sink.quality("SgReadyState") is Quality.GOOD)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_the_four_states_on_two_relays(board: KmtronicBoardSimulator) -> None:
    clock = MovableClock()
    driver = driver_for(board, clock, min_dwell_s={1: 0, 2: 0, 3: 0, 4: 0})
    async with Running(driver) as run:
        assert run.sink.value("SgReadyState") == 2  # all relays off after power-on
        for state, relays in ((3, [False, True]), (4, [True, True]), (1, [True, False])):
            result = await driver.write(ASSET, "SgReadyState", state)
            assert result.read_back == state
            assert board.relays[:2] == relays
            assert board.relays[2:] == [False] * 6  # the other relays are left alone
            assert run.sink.value("SgReadyState") == state
        result = await driver.write(ASSET, "SgReadyState", 2)
        assert board.relays[:2] == [False, False] and result.read_back == 2


async def test_a_change_never_passes_through_the_block(board: KmtronicBoardSimulator) -> None:
    clock = MovableClock()
    driver = driver_for(board, clock, min_dwell_s={1: 0, 2: 0, 3: 0, 4: 0})
    async with Running(driver):
        for state in (4, 2, 4, 3, 2, 3, 4):  # every change between 2, 3 and 4
            before = len(board.switched)
            relays = list(board.relays[:2])
            await driver.write(ASSET, "SgReadyState", state)
            for change in board.switched[before:]:
                relays[change.relay - 1] = change.on
                assert relays != [True, False], f"passed through state 1 on the way to {state}"
            assert board.sg_ready_state == state


async def test_dwell_time_holds_a_state_whatever_is_written(
    board: KmtronicBoardSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ampacity.drivers")
    clock = MovableClock()
    driver = driver_for(board, clock)  # the profile's 300 s for 1/2, 600 s for 3/4
    async with Running(driver) as run:
        clock.advance(301)  # state 2 held since start: may be left now
        assert (await driver.write(ASSET, "SgReadyState", 3)).read_back == 3
        switches = len(board.switched)
        for wanted in (2, 4, 2, 3, 4, 2, 4, 2, 2, 4) * 3:  # a flickering surplus
            result = await driver.write(ASSET, "SgReadyState", wanted)
            assert result.read_back == 3  # the node keeps showing what the pump sees
            clock.advance(10)
        assert len(board.switched) == switches, "switched within the 600 s dwell of state 3"
        assert board.sg_ready_state == 3
        clock.advance(600 - 300 + 1)  # 301 s after entering 3 + 300 s = past the dwell
        await until(lambda: board.sg_ready_state == 4)  # the last wish, on the next poll
        await until(lambda: run.sink.value("SgReadyState") == 4)
    held = [r.getMessage() for r in caplog.records if "held back" in r.getMessage()]
    assert held and "state 3 is held at least 600 s" in held[0]
    assert len(held) == 1  # one line per dwell time, not one per write


async def test_the_grid_operators_block_cuts_a_dwell_short(board: KmtronicBoardSimulator) -> None:
    clock = MovableClock()
    driver = driver_for(board, clock)
    async with Running(driver):
        clock.advance(301)
        await driver.write(ASSET, "SgReadyState", 4)
        clock.advance(5)
        assert (await driver.write(ASSET, "SgReadyState", 1)).read_back == 1
        assert board.relays[:2] == [True, False]
        # the block itself is held too: lifting it 5 s later waits for its 300 s
        clock.advance(5)
        assert (await driver.write(ASSET, "SgReadyState", 2)).read_back == 1


async def test_without_the_override_even_the_block_waits(board: KmtronicBoardSimulator) -> None:
    guard = DwellGuard({3: 600}, block_overrides_dwell=False, monotonic=lambda: 100.0)
    guard.entered(3)
    assert guard.request(1) is None and guard.pending == 1


def test_dwell_rule_table() -> None:
    now = [0.0]
    guard = DwellGuard({1: 300, 2: 300, 3: 600, 4: 600}, monotonic=lambda: now[0])
    guard.observe(2)  # first state seen at start: its dwell starts now
    assert guard.request(3) is None and guard.pending == 3
    now[0] = 299.9
    assert guard.due() is None
    now[0] = 300.0
    assert guard.due() == 3
    guard.entered(3)
    assert guard.request(3) is None and guard.pending is None  # unchanged: nothing to do
    now[0] = 899.0
    assert guard.request(2) is None
    guard.observe(2)  # the board restarted (relays off): a new dwell time for 2
    assert guard.pending is None and guard.since == 899.0
    assert guard.request(4) is None and guard.left_s() == pytest.approx(300.0)


async def test_relay_read_back_catches_a_relay_that_does_not_follow(
    board: KmtronicBoardSimulator,
) -> None:
    clock = MovableClock()
    driver = driver_for(board, clock, min_dwell_s={2: 0})
    board.stuck = {2}
    async with Running(driver) as run:
        with pytest.raises(WriteError, match="SG-Ready 3 not taken: relay 2 is off"):
            await driver.write(ASSET, "SgReadyState", 3)
        await until(lambda: "relay 2 is off" in str(run.sink.value("Health.LastError")))


async def test_a_silent_board_is_a_located_error_not_a_crash(
    board: KmtronicBoardSimulator,
) -> None:
    board.mode = "silent"
    driver = driver_for(board, MovableClock())
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await until(lambda: sink.quality("SgReadyState") is Quality.BAD_COMMUNICATION_ERROR)
        where = f"no answer from udp://127.0.0.1:{board.port}"
        await until(lambda: where in str(sink.value("Health.LastError")))
        with pytest.raises(WriteError, match="no answer"):
            await driver.write(ASSET, "SgReadyState", 3)
        board.mode = "ok"
        await until(lambda: sink.quality("SgReadyState") is Quality.GOOD, within_s=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_garbage_keeps_the_last_value_uncertain(board: KmtronicBoardSimulator) -> None:
    async with Running(driver_for(board, MovableClock())) as run:
        board.mode = "garbage"
        await until(lambda: run.sink.quality("SgReadyState") is Quality.UNCERTAIN_LAST_USABLE)
        assert run.sink.value("SgReadyState") == 2
        assert "status byte 1 is b'<'" in str(run.sink.value("Health.LastError"))


async def test_a_restarted_board_gets_the_wanted_state_back(board: KmtronicBoardSimulator) -> None:
    clock = MovableClock()
    driver = driver_for(board, clock, min_dwell_s={2: 30, 3: 30})
    async with Running(driver) as run:
        clock.advance(31)
        await driver.write(ASSET, "SgReadyState", 3)
        board.power_cycle()  # relays off: the pump sees 2
        await until(lambda: run.sink.value("SgReadyState") == 2)
        clock.advance(31)  # past the new dwell time of state 2
        await until(lambda: board.sg_ready_state == 3)


async def test_an_orderly_stop_returns_to_normal(board: KmtronicBoardSimulator) -> None:
    clock = MovableClock()
    driver = driver_for(board, clock, min_dwell_s={2: 0, 4: 0})
    async with Running(driver):
        await driver.write(ASSET, "SgReadyState", 4)
    await until(lambda: board.sg_ready_state == 2)


async def test_an_orderly_stop_keeps_the_block(board: KmtronicBoardSimulator) -> None:
    driver = driver_for(board, MovableClock(), min_dwell_s={1: 0, 2: 0})
    async with Running(driver):
        await driver.write(ASSET, "SgReadyState", 1)
    await asyncio.sleep(0.05)
    assert board.sg_ready_state == 1


def test_the_driver_is_registered_and_its_site_keys_are_checked(tmp_path: Path) -> None:
    assert "sgready_kmtronic_udp" in driver_types()
    site = tmp_path / "site.yaml"
    site.write_text(
        "devices:\n"
        "  - id: hp\n"
        "    profile: sgready_kmtronic_udp\n"
        "    host: 192.0.2.7\n"
        "    relay_b: 9\n"
        "    url: http://192.0.2.7\n"
        "  - id: hp2\n"
        "    profile: sgready_kmtronic_udp\n"
        "    host: 192.0.2.8\n"
        "    min_dwell_s: {5: 10}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(site)
    text = "\n".join(error.value.errors)
    assert "site.yaml:5: devices[0].relay_b: Input should be less than or equal to 8" in text
    assert "site.yaml:6: devices[0].url: Extra inputs are not permitted" in text
    assert "devices[1]" in text and "SG-Ready states 1..4" in text
