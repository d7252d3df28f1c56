"""The provider-shaped price server: shapes, the 2024 series moved to today, fault switches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import aiohttp
import pytest
from ampacity.drivers.tariffs import (
    TariffFormatError,
    parse_awattar,
    parse_energy_charts,
    parse_entsoe,
    parse_tibber,
)
from ampacity.sim.tariff import TariffSimServer, load_2024_prices, prices_2024

NOW = datetime(2026, 11, 23, 10, 7, tzinfo=UTC)


def test_2024_series_is_complete_and_has_negative_hours() -> None:
    table = load_2024_prices()
    assert len(table) == 8784  # 2024 is a leap year
    assert sum(1 for p in table.values() if p < 0) == 457
    assert table[(1, 1, 0)] == pytest.approx(0.01)  # first row of the file


def test_2024_series_moved_to_any_date_by_calendar_day_and_utc_hour() -> None:
    price = prices_2024()
    table = load_2024_prices()
    assert price(datetime(2026, 11, 23, 10, 45, tzinfo=UTC)) == table[(11, 23, 10)]
    assert price(datetime(2027, 2, 28, 0, tzinfo=UTC)) == table[(2, 28, 0)]


async def test_energy_charts_shape_with_quarter_hours_repeating_the_hour() -> None:
    async with (
        TariffSimServer(now=lambda: NOW) as server,
        aiohttp.ClientSession() as session,
        session.get(
            server.url + "/price",
            params={"bzn": "DE-LU", "start": "2026-11-23", "end": "2026-11-24"},
        ) as response,
    ):
        assert response.status == 200
        payload = await response.json()
    assert set(payload) == {"license_info", "unix_seconds", "price", "unit", "deprecated"}
    assert payload["unit"] == "EUR / MWh"
    assert len(payload["unix_seconds"]) == len(payload["price"]) == 192
    assert payload["unix_seconds"][0] == int(datetime(2026, 11, 22, 23, tzinfo=UTC).timestamp())
    hour = load_2024_prices()[(11, 22, 23)]
    assert payload["price"][:4] == [round(hour, 2)] * 4  # repetition, not interpolation
    slots = parse_energy_charts(payload)
    assert len(slots) == 192 and slots.skipped == []


async def test_every_shape_parses_to_the_same_slots() -> None:
    server = TariffSimServer(now=lambda: NOW, price=lambda t: 50.0 + t.hour, slot_minutes=60)
    async with server, aiohttp.ClientSession() as session:
        async with session.get(
            server.url + "/v1/marketdata",
            params={"start": str(int(NOW.timestamp()) * 1000 - 3_600_000 * 10)},
        ) as r:
            aw = parse_awattar(await r.json())
        async with session.get(
            server.url + "/api",
            params={
                "securityToken": "x",
                "documentType": "A44",
                "periodStart": "202611222300",
                "periodEnd": "202611232300",
            },
        ) as r:
            en = parse_entsoe(await r.text())
        async with session.post(
            server.url + "/v1-beta/gql",
            json={"query": "{ viewer { homes { id } } }"},
            headers={"Authorization": "Bearer x"},
        ) as r:
            tb = parse_tibber(await r.json())
    assert [s.price_per_kwh for s in en] == pytest.approx(
        [0.050 + h / 1000 for h in [23, *range(23)]]
    )
    assert [s.start for s in aw][:3] == [s.start for s in en][1:4]
    assert len(tb) == 48  # today and tomorrow, hourly
    assert tb[0].price_per_kwh == pytest.approx(round(0.073 * 1.19, 4) + 0.20)


async def test_fault_switches() -> None:
    server = TariffSimServer(now=lambda: NOW)
    async with server, aiohttp.ClientSession() as session:
        params = {"start": "2026-11-23", "end": "2026-11-24"}
        server.fail_status = 500
        async with session.get(server.url + "/price", params=params) as r:
            assert r.status == 500
        server.fail_status = None
        server.malformed = True
        async with session.get(server.url + "/price", params=params) as r:
            with pytest.raises(json.JSONDecodeError):
                json.loads(await r.text())
        server.malformed = False
        server.drop_tomorrow = True
        async with session.get(server.url + "/price", params=params) as r:
            assert len((await r.json())["unix_seconds"]) == 96
        server.drop_tomorrow = False
        server.tomorrow_from = time(13, 0)  # 11:07 CET: tomorrow not out yet
        async with session.get(server.url + "/price", params=params) as r:
            assert len((await r.json())["unix_seconds"]) == 96
        server.tomorrow_from = None
        server.null_price_at = {datetime(2026, 11, 23, 5, tzinfo=UTC)}
        async with session.get(server.url + "/price", params=params) as r:
            payload = await r.json()
        assert payload["price"].count(None) == 1
        async with session.get(
            server.url + "/api",
            params={"periodStart": "202611222300", "periodEnd": "202611232300"},
        ) as r:
            assert r.status == 401  # no securityToken
        async with session.post(server.url + "/v1-beta/gql", json={}) as r:
            assert "Unauthorized" in await r.text()
    assert [r.path for r in server.requests][:2] == ["/price", "/price"]
    assert len(parse_energy_charts(payload)) == 191


async def test_entsoe_shape_is_a03_and_truncated_when_malformed() -> None:
    server = TariffSimServer(now=lambda: NOW, price=lambda t: 42.0)
    async with server, aiohttp.ClientSession() as session:
        params = {"securityToken": "x", "periodStart": "202611222300", "periodEnd": "202611232300"}
        async with session.get(server.url + "/api", params=params) as r:
            text = await r.text()
        server.malformed = True
        async with session.get(server.url + "/api", params=params) as r:
            broken = await r.text()
    assert "<curveType>A03</curveType>" in text
    assert text.count("<Point>") == 1  # one price all day: the others are left out
    assert len(parse_entsoe(text)) == 96
    with pytest.raises(TariffFormatError, match="entsoe: body: not XML"):
        parse_entsoe(broken)
    assert timedelta(minutes=15) == parse_entsoe(text)[0].duration
