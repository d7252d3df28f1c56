"""TariffDriver against the provider-shaped price server on loopback, under a fake clock."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from ampacity.assets import AssetKind, Quality, WriteError
from ampacity.drivers.tariffs import TariffConfig, TariffDriver
from ampacity.sim.tariff import TariffSimServer
from tariff_rig import FakeTime, RecordingSink

Q = timedelta(minutes=15)
START = datetime(2026, 11, 23, 10, 7, tzinfo=UTC)  # 11:07 CET


def _price(start: datetime) -> float:
    """EUR/MWh: a different price for every quarter-hour of the day (100 + minute of day / 15)."""
    return 100.0 + (start.hour * 60 + start.minute) / 15


@asynccontextmanager
async def running(
    config: dict[str, Any],
    clock: FakeTime,
    *,
    price: Callable[[datetime], float] = _price,
    **server_options: Any,
) -> AsyncIterator[tuple[TariffDriver, TariffSimServer, RecordingSink]]:
    async with TariffSimServer(price=price, now=clock.now, **server_options) as server:
        cfg = TariffConfig.model_validate({"base_url": server.url, **config})
        driver = TariffDriver(cfg, now=clock.now, sleep=clock.sleep, rng=random.Random(7))
        sink = RecordingSink()
        task = asyncio.create_task(driver.run(sink))
        try:
            await clock.idle()
            yield driver, server, sink
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_current_price_follows_the_slot_boundary_without_a_new_fetch() -> None:
    clock = FakeTime(START)
    async with running({"provider": "energy-charts"}, clock) as (driver, _server, sink):
        first = sink.last("CurrentPrice")
        assert first.quality is Quality.GOOD
        assert first.value == pytest.approx(
            _price(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) / 1000
        )
        assert clock.wake_at == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)  # the boundary

        await clock.run_until(datetime(2026, 11, 23, 10, 15, 1, tzinfo=UTC))

        second = sink.last("CurrentPrice")
        assert second.value == pytest.approx(0.1 + 41 / 1000)  # slot 10:15 is the 41st
        assert second.source_time == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
        assert driver.fetch_count == 1  # the boundary, not a refresh, moved the price
        forecast = json.loads(sink.last("PriceForecast").value)  # type: ignore[arg-type]
        assert forecast[0]["start"] == "2026-11-23T10:15:00Z"  # past slots dropped


async def test_forecast_json_has_end_customer_prices_in_iso_utc() -> None:
    clock = FakeTime(START)
    components = {"grid_fee_per_kwh": 0.1, "levies_per_kwh": 0.05, "vat_pct": 19.0}
    async with running({"provider": "energy-charts", "components": components}, clock) as (
        driver,
        server,
        sink,
    ):
        reading = sink.last("PriceForecast")
        assert reading.quality is Quality.GOOD
        forecast = json.loads(reading.value)  # type: ignore[arg-type]
        # today 11:00 CET .. tomorrow 24:00 CET in 15-min slots (the sim serves both days)
        assert forecast[0] == {
            "start": "2026-11-23T10:00:00Z",
            "end": "2026-11-23T10:15:00Z",
            "price": round((0.140 + 0.1 + 0.05) * 1.19, 6),
        }
        assert forecast[-1]["end"] == "2026-11-24T23:00:00Z"
        assert len(forecast) == 4 * 13 + 96
        assert sink.last("CurrentPrice").value == pytest.approx((0.140 + 0.15) * 1.19)
        # the request asked for the local days, Energy-Charts style
        assert server.requests[0].path == "/price"
        assert server.requests[0].query == {
            "bzn": "DE-LU",
            "start": "2026-11-23",
            "end": "2026-11-24",
        }
        info = driver.assets[0]
        assert info.kind is AssetKind.TARIFF and info.points == ("CurrentPrice", "PriceForecast")
        assert sink.last("Identification.DeviceProfile").value == "tariff:energy-charts"


async def test_retry_with_growing_backoff_after_500_then_recovery() -> None:
    clock = FakeTime(START)
    config = {"provider": "awattar", "retry_initial_s": 10.0, "retry_max_s": 60.0}
    async with running(config, clock, fail_status=500) as (driver, server, sink):
        assert sink.last("Health.Connected").value is False
        assert "HTTP 500" in str(sink.last("Health.LastError").value)
        assert sink.last("CurrentPrice").quality is Quality.BAD_COMMUNICATION_ERROR

        delays = []
        for _ in range(5):
            assert clock.wake_at is not None
            delays.append((clock.wake_at - clock.now()).total_seconds())
            await clock.run_until(clock.wake_at)
            await clock.idle()
        # 10, 20, 40, 60, 60 s, each drawn from [d/2, d]
        for delay, base in zip(delays, [10, 20, 40, 60, 60], strict=True):
            assert base / 2 <= delay <= base
        assert sink.last("Health.ErrorCount").value == 6
        assert driver.fetch_count == 6

        server.fail_status = None
        await clock.run_until(clock.wake_at)  # type: ignore[arg-type]
        await clock.idle()
        assert sink.last("Health.Connected").value is True
        assert sink.last("Health.LastError").value == ""
        assert sink.last("CurrentPrice").quality is Quality.GOOD
        assert server.requests[-1].path == "/v1/marketdata"
        # back to the refresh cadence (900 s) or the next slot boundary, whichever is first
        assert clock.wake_at is not None and clock.wake_at - clock.now() <= timedelta(seconds=900)


async def test_last_good_forecast_kept_while_the_source_fails() -> None:
    clock = FakeTime(START)
    config = {"provider": "energy-charts", "refresh_s": 600.0}
    async with running(config, clock, drop_tomorrow=True) as (driver, server, sink):
        forecast = sink.last("PriceForecast").value
        server.fail_status = 503

        await clock.run_until(datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC))

        assert driver.fetch_count > 3
        assert sink.last("Health.Connected").value is False
        assert "HTTP 503" in str(sink.last("Health.LastError").value)
        current = sink.last("CurrentPrice")
        assert current.quality is Quality.GOOD  # from the cached slot 12:00
        assert current.value == pytest.approx(_price(datetime(2026, 11, 23, 12, tzinfo=UTC)) / 1000)
        kept = json.loads(sink.last("PriceForecast").value)  # type: ignore[arg-type]
        assert kept == [e for e in json.loads(forecast) if e["end"] > "2026-11-23T12:00:00Z"]  # type: ignore[arg-type]

        # past the known slots (today ends 23:00Z): last price, Uncertain, and the reason
        await clock.run_until(datetime(2026, 11, 23, 23, 0, 5, tzinfo=UTC))
        stale = sink.last("CurrentPrice")
        assert stale.quality is Quality.UNCERTAIN_LAST_USABLE
        assert stale.value == pytest.approx(
            _price(datetime(2026, 11, 23, 22, 45, tzinfo=UTC)) / 1000
        )
        # its old time: when it was last published Good, inside the last known slot
        assert datetime(2026, 11, 23, 22, 45, tzinfo=UTC) <= stale.source_time
        assert stale.source_time < datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
        last_error = str(sink.last("Health.LastError").value)
        assert "no price for 2026-11-23T23:00" in last_error
        assert "known slots end at 2026-11-23T23:00:00Z" in last_error


async def test_tomorrow_fetched_once_the_known_slots_end_within_11_h() -> None:
    clock = FakeTime(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # 10:00 CET
    config = {"provider": "energy-charts", "refresh_s": 6 * 3600.0}
    async with running(config, clock, tomorrow_from=time(13, 0)) as (driver, _server, sink):
        assert json.loads(sink.last("PriceForecast").value)[-1]["end"] == "2026-11-23T23:00:00Z"  # type: ignore[arg-type]

        await clock.run_until(datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC))  # 13:00 CET

        assert driver.fetch_count == 2  # not waiting for the 6-h refresh at 15:00Z
        forecast = json.loads(sink.last("PriceForecast").value)  # type: ignore[arg-type]
        assert forecast[-1]["end"] == "2026-11-24T23:00:00Z"
        await clock.run_until(datetime(2026, 11, 23, 14, 59, tzinfo=UTC))
        assert driver.fetch_count == 2  # tomorrow known: back to refresh_s


async def test_malformed_answer_is_located_and_the_cache_survives() -> None:
    clock = FakeTime(START)
    async with running({"provider": "energy-charts"}, clock) as (driver, server, sink):
        good = sink.last("PriceForecast").value
        server.malformed = True
        await clock.run_until(START + timedelta(seconds=901))
        error = str(sink.last("Health.LastError").value)
        assert error.startswith("energy-charts: body: not JSON (line 1 column")
        assert sink.last("Health.ErrorCount").value == 1
        assert len(driver.slots) == 2 * 96
        assert json.loads(sink.last("PriceForecast").value)[-1] == json.loads(good)[-1]  # type: ignore[arg-type]


async def test_partial_answer_keeps_the_good_slots_and_says_what_was_left_out() -> None:
    clock = FakeTime(START)
    holes = {datetime(2026, 11, 23, 15, 0, tzinfo=UTC)}
    async with running({"provider": "awattar"}, clock, null_price_at=holes) as (driver, _s, sink):
        assert sink.last("Health.Connected").value is True
        assert "marketprice: null; slot left out" in str(sink.last("Health.LastError").value)
        assert all(s.start not in holes for s in driver.slots)
        assert len(driver.slots) == 2 * 96 - 1  # the cache holds today's past slots too


async def test_tibber_token_in_the_bearer_header_and_prices_taken_as_they_are() -> None:
    clock = FakeTime(START)
    config = {"provider": "tibber", "token": "secret-token-123"}
    async with running(config, clock) as (_driver, server, sink):
        request = server.requests[0]
        assert request.method == "POST" and request.path == "/v1-beta/gql"
        assert request.headers["Authorization"] == "Bearer secret-token-123"
        assert "priceInfo(resolution: QUARTER_HOURLY)" in json.loads(request.body)["query"]
        # total = wholesale * 1.19 + 0.20, no component added by the driver
        wholesale = _price(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) / 1000
        assert sink.last("CurrentPrice").value == pytest.approx(round(wholesale * 1.19, 4) + 0.2)
        assert sink.last("Identification.Manufacturer").value == "Tibber"


async def test_entsoe_token_as_query_parameter_and_never_in_messages() -> None:
    clock = FakeTime(START)
    config = {"provider": "entsoe", "token": "entsoe-secret-42", "bidding_zone": "DE-LU"}
    async with running(config, clock) as (driver, server, sink):
        query = server.requests[0].query
        assert query["securityToken"] == "entsoe-secret-42"
        assert query["documentType"] == "A44"
        assert query["in_Domain"] == query["out_Domain"] == "10Y1001A1001A82H"
        assert (query["periodStart"], query["periodEnd"]) == ("202611222300", "202611242300")
        assert sink.last("CurrentPrice").value == pytest.approx(0.140)
        assert len(driver.slots) == 2 * 96

        server.fail_status = 500
        await clock.run_until(START + timedelta(seconds=905))
        messages = [str(r.value) for r in sink.of("Health.LastError")]
        assert any("HTTP 500" in m for m in messages)
        assert not any("entsoe-secret-42" in m for m in messages)


async def test_monthly_product_with_the_contract_price_is_flat_without_a_request() -> None:
    clock = FakeTime(START)
    config = {
        "provider": "tibber",
        "token": "t",
        "product": "monthly",
        "monthly_price_per_kwh": 0.2871,
    }
    async with running(config, clock) as (_driver, server, sink):
        assert server.requests == []
        assert sink.last("CurrentPrice").value == 0.2871
        forecast = json.loads(sink.last("PriceForecast").value)  # type: ignore[arg-type]
        assert {e["price"] for e in forecast} == {0.2871}
        assert forecast[-1]["end"] == "2026-11-24T23:00:00Z"


async def test_monthly_product_from_tibbers_current_price_until_the_month_ends() -> None:
    clock = FakeTime(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    config = {"provider": "tibber", "token": "t", "product": "monthly"}
    async with running(config, clock, price=lambda _: 100.0) as (_driver, server, sink):
        assert len(server.requests) == 1
        assert sink.last("CurrentPrice").value == pytest.approx(0.319)  # 0.119 + 0.20
        forecast = json.loads(sink.last("PriceForecast").value)  # type: ignore[arg-type]
        assert forecast[-1]["end"] == "2026-11-30T23:00:00Z"  # December's price is not known


async def test_nothing_is_writable() -> None:
    driver = TariffDriver(TariffConfig(provider="energy-charts"))
    with pytest.raises(WriteError, match="not writable"):
        await driver.write("tariff", "CurrentPrice", 0.1)


async def test_unreachable_source_is_a_located_error() -> None:
    clock = FakeTime(START)
    cfg = TariffConfig(provider="energy-charts", base_url="http://127.0.0.1:9", timeout_s=2.0)
    driver = TariffDriver(cfg, now=clock.now, sleep=clock.sleep)
    sink = RecordingSink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await clock.idle()
        error = str(sink.last("Health.LastError").value)
        assert error.startswith("energy-charts: GET http://127.0.0.1:9/price: ")
        assert sink.last("CurrentPrice").quality is Quality.BAD_COMMUNICATION_ERROR
        assert sink.last("PriceForecast").quality is Quality.BAD_COMMUNICATION_ERROR
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
