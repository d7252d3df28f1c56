"""Price composition, slot normalisation, request building and the tariff configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ampacity.drivers.tariffs import (
    PriceComponents,
    PriceSlot,
    TariffConfig,
    awattar,
    energy_charts,
    entsoe,
    per_mwh_to_per_kwh,
    tibber,
)
from ampacity.drivers.tariffs.model import normalise
from pydantic import ValidationError

T0 = datetime(2026, 11, 23, 23, tzinfo=UTC)
Q = timedelta(minutes=15)


def test_end_customer_price_arithmetic() -> None:
    components = PriceComponents(
        grid_fee_per_kwh=0.0912, levies_per_kwh=0.0415, margin_per_kwh=0.0179, vat_pct=19.0
    )
    wholesale = per_mwh_to_per_kwh(87.45)  # EUR/MWh -> 0.08745 EUR/kWh

    price = components.compose(wholesale)

    net = 0.08745 + 0.0912 + 0.0415 + 0.0179
    assert price.total == pytest.approx(net * 1.19)
    assert price.vat == pytest.approx(net * 0.19)
    assert price.wholesale == pytest.approx(0.08745)
    assert components.end_customer(wholesale) == pytest.approx(0.2832795)  # 0.23805 * 1.19


def test_negative_wholesale_price_passes_through() -> None:
    components = PriceComponents(grid_fee_per_kwh=0.10, vat_pct=19.0)
    assert components.end_customer(per_mwh_to_per_kwh(-250.0)) == pytest.approx(-0.15 * 1.19)


def test_no_components_leave_slots_as_they_are() -> None:
    slots = [PriceSlot(T0, T0 + Q, 0.3)]
    assert PriceComponents().is_zero
    assert PriceComponents().apply(slots) == slots
    assert PriceComponents(vat_pct=20).apply(slots)[0].price_per_kwh == pytest.approx(0.36)


def test_slot_needs_aware_times_in_order() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PriceSlot(datetime(2026, 1, 1), datetime(2026, 1, 1, 1), 0.1)
    with pytest.raises(ValueError, match="not after start"):
        PriceSlot(T0, T0, 0.1)


def test_normalise_sorts_drops_duplicates_and_overlaps_and_reports_gaps() -> None:
    skipped: list[str] = []
    slots = normalise(
        "x",
        [
            PriceSlot(T0 + Q, T0 + 2 * Q, 2.0),
            PriceSlot(T0, T0 + Q, 1.0),
            PriceSlot(T0, T0 + Q, 1.5),  # same slot, other price: first kept
            PriceSlot(T0, T0 + 4 * Q, 9.0),  # an hour over the quarters: left out
            PriceSlot(T0 + 3 * Q, T0 + 4 * Q, 4.0),
        ],
        skipped,
    )
    assert [(s.start, s.price_per_kwh) for s in slots] == [
        (T0, 1.0),
        (T0 + Q, 2.0),
        (T0 + 3 * Q, 4.0),
    ]
    assert any("duplicate with another price" in m for m in skipped)
    assert any("overlaps" in m for m in skipped)
    assert "x: no price for 2026-11-23T23:30:00Z..2026-11-23T23:45:00Z" in skipped


def _config(**values: Any) -> TariffConfig:
    return TariffConfig.model_validate(values)


def test_config_defaults_and_strictness() -> None:
    config = _config(provider="energy-charts")
    assert (config.id, config.bidding_zone, config.currency, config.refresh_s) == (
        "tariff",
        "DE-LU",
        "EUR",
        900.0,
    )
    with pytest.raises(ValidationError, match="extra"):
        _config(provider="awattar", grid_fee=0.1)
    with pytest.raises(ValidationError):
        _config(provider="awattar", refresh_s="900")  # strict: no string for a number
    with pytest.raises(ValidationError):
        _config(provider="octopus")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"provider": "tibber"}, "provider 'tibber' needs a 'token'"),
        ({"provider": "entsoe", "token": " "}, "provider 'entsoe' needs a 'token'"),
        ({"provider": "awattar", "product": "monthly"}, "'product' and 'monthly_price_per_kwh'"),
        (
            {"provider": "tibber", "token": "t", "monthly_price_per_kwh": 0.3},
            "needs product: monthly",
        ),
        ({"provider": "entsoe", "token": "t", "bidding_zone": "XX"}, "not a known zone"),
        ({"provider": "awattar", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"provider": "awattar", "market": "CH"}, "Input should be 'DE' or 'AT'"),
        ({"provider": "awattar", "entsoe_sequence": 1}, "'entsoe_sequence' is for provider"),
        ({"provider": "awattar", "components": {"vat_pct": 119}}, "less than or equal to 100"),
    ],
)
def test_config_errors_say_what_is_wrong(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**values)


def test_token_is_not_shown_in_the_config_repr() -> None:
    config = _config(provider="tibber", token="very-secret")
    assert "very-secret" not in repr(config)
    assert config.secret() == "very-secret"


def test_requests_cover_today_and_tomorrow_in_local_time() -> None:
    now = datetime(2026, 3, 28, 12, tzinfo=UTC)  # the day before the spring DST change
    aw = awattar.build_request(_config(provider="awattar", market="AT"), now)
    assert aw.url == "https://api.awattar.at/v1/marketdata"
    start, end = int(aw.params["start"]), int(aw.params["end"])
    assert datetime.fromtimestamp(start / 1000, UTC) == datetime(2026, 3, 27, 23, tzinfo=UTC)
    assert (end - start) / 3_600_000 == 47  # 24 h + the 23-h DST day

    ec = energy_charts.build_request(_config(provider="energy-charts", bidding_zone="AT"), now)
    assert ec.url == "https://api.energy-charts.info/price"
    assert dict(ec.params) == {"bzn": "AT", "start": "2026-03-28", "end": "2026-03-29"}

    en = entsoe.build_request(_config(provider="entsoe", token="tok", bidding_zone="NL"), now)
    assert en.url == "https://web-api.tp.entsoe.eu/api"
    assert en.params["in_Domain"] == en.params["out_Domain"] == "10YNL----------L"
    assert (en.params["periodStart"], en.params["periodEnd"]) == ("202603272300", "202603292200")
    assert "tok" not in en.redacted()

    tb = tibber.build_request(_config(provider="tibber", token="tok", product="hourly"), now)
    assert tb.url == "https://api.tibber.com/v1-beta/gql"
    assert tb.headers["Authorization"] == "Bearer tok"
    assert "priceInfo(resolution: HOURLY)" in tb.json_body["query"]
