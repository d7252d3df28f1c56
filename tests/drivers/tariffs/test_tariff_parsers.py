"""Provider parsers against real captures and payloads written from the providers' documentation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from ampacity.drivers.tariffs import (
    TariffFormatError,
    TariffSourceError,
    parse_awattar,
    parse_energy_charts,
    parse_entsoe,
    parse_tibber,
    tibber_current_price,
)

DATA = Path(__file__).parent / "data"
Q = timedelta(minutes=15)
H = timedelta(hours=1)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def _contiguous(slots: list[Any]) -> bool:
    return all(a.end == b.start for a, b in pairwise(slots))


# --- aWATTar -------------------------------------------------------------------------------------


def test_awattar_capture_gives_hourly_slots_in_eur_per_kwh() -> None:
    slots = parse_awattar(_load("awattar_de_marketdata_2023-10-26_openwb.json"))

    assert len(slots) == 13
    assert slots.skipped == []
    assert slots[0].start == _utc(2023, 10, 26, 9)  # 1698310800000 ms
    assert slots[0].end == _utc(2023, 10, 26, 10)
    assert slots[0].price_per_kwh == pytest.approx(0.140)  # 140 EUR/MWh
    assert slots[1].price_per_kwh == pytest.approx(0.13111)
    assert slots[-1].price_per_kwh == pytest.approx(0.10485)
    assert all(s.duration == H for s in slots)
    assert _contiguous(slots)


def _awattar(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": entries, "url": "/de/v1/marketdata"}


def _aw(start: datetime, minutes: int, price: Any, unit: str = "Eur/MWh") -> dict[str, Any]:
    ms = int(start.timestamp() * 1000)
    return {
        "start_timestamp": ms,
        "end_timestamp": ms + minutes * 60_000,
        "marketprice": price,
        "unit": unit,
    }


def test_awattar_quarter_hours_negative_prices_unsorted_and_duplicates() -> None:
    t0 = _utc(2026, 5, 1, 10)
    payload = _awattar(
        [
            _aw(t0 + Q, 15, -12.5),
            _aw(t0, 15, -5.12),
            _aw(t0 + 2 * Q, 15, 0),
            _aw(t0, 15, -5.12),  # exact repeat: dropped silently
        ]
    )

    slots = parse_awattar(payload)

    assert [s.start for s in slots] == [t0, t0 + Q, t0 + 2 * Q]
    assert [s.price_per_kwh for s in slots] == pytest.approx([-0.00512, -0.0125, 0.0])
    assert all(s.duration == Q for s in slots)
    assert slots.skipped == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"marketprice": "abc"}, "awattar: data[1].marketprice: not a number ('abc')"),
        ({"marketprice": True}, "awattar: data[1].marketprice: not a number (True)"),
        ({"start_timestamp": "soon"}, "awattar: data[1].start_timestamp: not a Unix time"),
        ({"end_timestamp": None}, "awattar: data[1].end_timestamp: not a Unix time"),
        ({"unit": "Eur/MW"}, "awattar: data[1].unit: unknown price unit"),
        ({"start_timestamp": 1}, "awattar: data[1].start_timestamp: Unix time out of range"),
    ],
)
def test_awattar_malformed_entry_is_located(entry: dict[str, Any], message: str) -> None:
    t0 = _utc(2026, 5, 1, 10)
    bad = {**_aw(t0 + H, 60, 50.0), **entry}

    with pytest.raises(TariffFormatError) as caught:
        parse_awattar(_awattar([_aw(t0, 60, 40.0), bad]))

    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "awattar: body: not a JSON object"),
        ({"object": "list"}, "awattar: data: missing or not a list"),
        ({"data": {"a": 1}}, "awattar: data: missing or not a list"),
        ({"data": [42]}, "awattar: data[0]: not an object"),
    ],
)
def test_awattar_wrong_shape(payload: Any, message: str) -> None:
    with pytest.raises(TariffFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_awattar(payload)


def test_awattar_end_before_start_is_located() -> None:
    entry = _aw(_utc(2026, 5, 1, 10), 60, 1.0)
    entry["end_timestamp"] = entry["start_timestamp"]
    with pytest.raises(TariffFormatError, match=r"data\[0\]\.end_timestamp: not after"):
        parse_awattar(_awattar([entry]))


def test_awattar_null_price_keeps_the_good_slots_and_reports_the_gap() -> None:
    t0 = _utc(2026, 5, 1, 10)
    slots = parse_awattar(
        _awattar([_aw(t0, 60, 10.0), _aw(t0 + H, 60, None), _aw(t0 + 2 * H, 60, 30.0)])
    )

    assert [s.price_per_kwh for s in slots] == pytest.approx([0.01, 0.03])
    assert "awattar: data[1].marketprice: null; slot left out" in slots.skipped
    assert any(
        "no price for 2026-05-01T11:00:00Z..2026-05-01T12:00:00Z" in m for m in slots.skipped
    )


def test_awattar_empty_list_is_no_slots_not_an_error() -> None:
    assert parse_awattar(_awattar([])) == []


# --- Energy-Charts -------------------------------------------------------------------------------


def _ec(starts: list[datetime], prices: list[Any]) -> dict[str, Any]:
    return {
        "license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from Bundesnetzagentur",
        "unix_seconds": [int(t.timestamp()) for t in starts],
        "price": prices,
        "unit": "EUR / MWh",
        "deprecated": False,
    }


def test_energy_charts_quarter_hours_of_a_whole_day() -> None:
    day = _utc(2026, 11, 23, 23)  # 24 Nov 2026 00:00 CET
    starts = [day + i * Q for i in range(96)]
    slots = parse_energy_charts(_ec(starts, [float(i) for i in range(96)]))

    assert len(slots) == 96
    assert slots[0].start == day and slots[-1].end == day + timedelta(days=1)
    assert all(s.duration == Q for s in slots)
    assert slots[95].price_per_kwh == pytest.approx(0.095)


def test_energy_charts_spring_dst_day_has_92_quarter_hours() -> None:
    # 29 Mar 2026 in Europe/Berlin: 23 h, from 28 Mar 23:00Z to 29 Mar 22:00Z
    day = _utc(2026, 3, 28, 23)
    starts = [day + i * Q for i in range(92)]
    slots = parse_energy_charts(_ec(starts, [50.0] * 92))

    assert len(slots) == 92
    assert slots[-1].end == _utc(2026, 3, 29, 22)
    assert _contiguous(slots)


def test_energy_charts_autumn_dst_day_hourly_has_25_hours() -> None:
    # 27 Oct 2024 in Europe/Berlin: 25 h, hourly market then
    day = _utc(2024, 10, 26, 22)
    starts = [day + i * H for i in range(25)]
    slots = parse_energy_charts(_ec(starts, [float(i) for i in range(25)]))

    assert len(slots) == 25
    assert all(s.duration == H for s in slots)
    assert slots[-1].end == _utc(2024, 10, 27, 23)


def test_energy_charts_switch_from_hourly_to_quarter_hours() -> None:
    # the 15-min day-ahead market began with delivery on 1 Oct 2025 (30 Sep 22:00Z)
    switch = _utc(2025, 9, 30, 22)
    starts = [switch - 2 * H, switch - H] + [switch + i * Q for i in range(4)]
    slots = parse_energy_charts(_ec(starts, [1, 2, 3, 4, 5, 6]))

    assert [s.duration for s in slots] == [H, H, Q, Q, Q, Q]
    assert _contiguous(slots)


def test_energy_charts_lone_slot_length_follows_the_market_of_its_date() -> None:
    assert parse_energy_charts(_ec([_utc(2026, 1, 1)], [1.0]))[0].duration == Q
    assert parse_energy_charts(_ec([_utc(2024, 1, 1)], [1.0]))[0].duration == H


def test_energy_charts_null_price_and_gap_keep_the_rest() -> None:
    t0 = _utc(2026, 1, 1)
    starts = [t0, t0 + Q, t0 + 2 * Q, t0 + 5 * Q, t0 + 6 * Q]
    slots = parse_energy_charts(_ec(starts, [10.0, None, 30.0, 60.0, 70.0]))

    assert [s.start for s in slots] == [t0, t0 + 2 * Q, t0 + 5 * Q, t0 + 6 * Q]
    assert slots[0].end == t0 + Q  # ends where the null slot starts
    assert slots[1].end == t0 + 3 * Q  # before the gap: as long as the slot before
    assert "energy-charts: price[1]: null; slot left out" in slots.skipped
    assert any(
        "no price for 2026-01-01T00:45:00Z..2026-01-01T01:15:00Z" in m for m in slots.skipped
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[1, 2]", "energy-charts: body: not a JSON object"),
        ({"price": [1]}, "energy-charts: unix_seconds: missing or not a list"),
        ({"unix_seconds": [1767225600]}, "energy-charts: price: missing or not a list"),
        (
            {"unix_seconds": [1767225600, 1767226500], "price": [1.0]},
            "energy-charts: price: 1 prices for 2 unix_seconds: not aligned",
        ),
        (
            {"unix_seconds": [1767225600], "price": ["n/a"]},
            "energy-charts: price[0]: not a number ('n/a')",
        ),
        (
            {"unix_seconds": ["2026-01-01"], "price": [1.0]},
            "energy-charts: unix_seconds[0]: not a Unix time",
        ),
        (
            {"unix_seconds": [1767225600], "price": [1.0], "unit": "EUR / GWh"},
            "energy-charts: unit: unknown price unit",
        ),
    ],
)
def test_energy_charts_malformed_is_located(payload: Any, message: str) -> None:
    with pytest.raises(TariffFormatError) as caught:
        parse_energy_charts(payload)
    assert str(caught.value).startswith(message)


def test_energy_charts_error_object_is_a_source_error() -> None:
    with pytest.raises(TariffSourceError, match="no prices: No data for requested period"):
        parse_energy_charts({"detail": "No data for requested period"})


# --- Tibber --------------------------------------------------------------------------------------


def test_tibber_capture_mixed_resolutions_from_starts_and_offsets() -> None:
    slots = parse_tibber(_load("tibber_priceInfo_2023-10-27_openwb.json"))

    assert len(slots) == 30
    assert slots.skipped == []
    assert slots[0].start == _utc(2023, 10, 26, 22)  # 00:00+02:00
    assert slots[0].end == _utc(2023, 10, 26, 23)  # the next starts at 01:00+02:00
    assert slots[0].price_per_kwh == pytest.approx(0.8724)
    assert slots[1].duration == Q  # 01:00 then 01:15
    assert slots[-1].start == _utc(2023, 10, 27, 21)  # 23:00+02:00
    assert slots[-1].end == _utc(2023, 10, 27, 22)  # as long as the slot before
    assert _contiguous(slots)


def _tibber_entry(start: datetime, total: Any, offset_h: int = 1) -> dict[str, Any]:
    local = start.astimezone(timezone(timedelta(hours=offset_h)))
    return {
        "total": total,
        "energy": 0.1,
        "tax": 0.2,
        "startsAt": local.isoformat(timespec="milliseconds"),
        "currency": "EUR",
        "level": "NORMAL",
    }


def _tibber(today: list[Any], tomorrow: Any, current: Any = None, homes: Any = None) -> Any:
    info = {"current": current, "today": today, "tomorrow": tomorrow}
    home = {"id": "h1", "currentSubscription": {"status": "running", "priceInfo": info}}
    return {"data": {"viewer": {"homes": homes if homes is not None else [home]}}}


def test_tibber_quarter_hourly_today_and_tomorrow() -> None:
    day = _utc(2026, 11, 23, 23)
    today = [_tibber_entry(day + i * Q, 0.25 + i / 10000) for i in range(96)]
    tomorrow = [_tibber_entry(day + timedelta(days=1) + i * Q, 0.30) for i in range(96)]

    slots = parse_tibber(_tibber(today, tomorrow, current=today[5]))

    assert len(slots) == 192
    assert slots[5].price_per_kwh == pytest.approx(0.2505)
    assert slots[-1].end == day + timedelta(days=2)
    assert all(s.duration == Q for s in slots)


def test_tibber_missing_tomorrow_is_normal_before_publication() -> None:
    day = _utc(2026, 11, 23, 23)
    today = [_tibber_entry(day + i * H, 0.3) for i in range(24)]
    for tomorrow in ([], None):
        slots = parse_tibber(_tibber(today, tomorrow), resolution=H)
        assert len(slots) == 24 and slots[-1].end == day + timedelta(days=1)
        assert slots.skipped == []


def test_tibber_first_home_with_a_subscription_or_the_configured_one() -> None:
    day = _utc(2026, 11, 23, 23)
    other = {"id": "old", "currentSubscription": None}
    mine = _tibber([_tibber_entry(day, 0.5)], [])["data"]["viewer"]["homes"][0]
    payload = _tibber([], [], homes=[other, mine])

    assert parse_tibber(payload)[0].price_per_kwh == 0.5
    assert parse_tibber(payload, home_id="h1")[0].price_per_kwh == 0.5
    with pytest.raises(TariffSourceError, match="no home with id 'x'"):
        parse_tibber(payload, home_id="x")


def test_tibber_graphql_errors_without_data_are_a_source_error() -> None:
    payload = {"errors": [{"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}]}
    with pytest.raises(TariffSourceError, match="tibber: API error: Unauthorized"):
        parse_tibber(payload)


def test_tibber_null_total_skipped_and_bad_total_located() -> None:
    day = _utc(2026, 11, 23, 23)
    today = [_tibber_entry(day, 0.3), _tibber_entry(day + H, None), _tibber_entry(day + 2 * H, 0.4)]
    slots = parse_tibber(_tibber(today, []), resolution=H)
    assert [s.price_per_kwh for s in slots] == [0.3, 0.4]
    assert (
        "tibber: data.viewer.homes[0].currentSubscription.priceInfo.today[1].total: null; "
        "slot left out" in slots.skipped
    )

    today[1] = {**today[1], "total": "0,31"}
    with pytest.raises(TariffFormatError) as caught:
        parse_tibber(_tibber(today, []))
    assert str(caught.value) == (
        "tibber: data.viewer.homes[0].currentSubscription.priceInfo.today[1].total: "
        "not a number ('0,31')"
    )


@pytest.mark.parametrize(
    ("startsat", "message"),
    [("2026-11-24T00:00:00", "time without a UTC offset"), ("tomorrow", "not an ISO 8601 time")],
)
def test_tibber_bad_start_is_located(startsat: str, message: str) -> None:
    entry = {"total": 0.3, "startsAt": startsat}
    with pytest.raises(TariffFormatError, match=r"priceInfo\.tomorrow\[0\]\.startsAt: " + message):
        parse_tibber(_tibber([], [entry]))


def test_tibber_other_currency_than_configured_is_an_error() -> None:
    entry = {**_tibber_entry(_utc(2026, 1, 1), 1.2), "currency": "NOK"}
    with pytest.raises(TariffFormatError, match=r"today\[0\]\.currency: 'NOK', configured 'EUR'"):
        parse_tibber(_tibber([entry], []), currency="EUR")


def test_tibber_autumn_dst_day_hourly_has_25_slots_across_the_offset_change() -> None:
    # 25 Oct 2026 in Europe/Berlin: +02:00 until 01:00Z, +01:00 after
    day = _utc(2026, 10, 24, 22)
    today = [
        _tibber_entry(
            day + i * H, 0.2 + i / 100, offset_h=2 if day + i * H < _utc(2026, 10, 25, 1) else 1
        )
        for i in range(25)
    ]
    slots = parse_tibber(_tibber(today, []), resolution=H)
    assert len(slots) == 25
    assert _contiguous(slots) and slots[-1].end == _utc(2026, 10, 25, 23)


def test_tibber_current_price_for_the_monthly_product() -> None:
    entry = _tibber_entry(_utc(2026, 11, 23, 23), 0.2871)
    assert tibber_current_price(_tibber([], [], current=entry)) == 0.2871
    with pytest.raises(TariffFormatError, match=r"priceInfo\.current: missing"):
        tibber_current_price(_tibber([], []))


def test_tibber_single_home_query_shape() -> None:
    payload = _load("tibber_priceInfo_2023-10-27_openwb.json")
    assert "home" in payload["data"]["viewer"]
    assert len(parse_tibber(payload, home_id="any")) == 30  # the answer has no id to compare


# --- ENTSO-E -------------------------------------------------------------------------------------

NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"


def _series(
    start: datetime,
    end: datetime,
    resolution: str,
    points: dict[int, Any],
    *,
    curve: str = "A03",
    sequence: int | None = None,
    currency: str = "EUR",
    contract: str = "A01",
) -> str:
    pts = "".join(
        f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>"
        for p, v in points.items()
    )
    seq = (
        f"<classificationSequence_AttributeInstanceComponent.position>{sequence}"
        "</classificationSequence_AttributeInstanceComponent.position>"
        if sequence is not None
        else ""
    )
    fmt = "%Y-%m-%dT%H:%MZ"
    return (
        "<TimeSeries><mRID>1</mRID><auction.type>A01</auction.type><businessType>A62</businessType>"
        '<in_Domain.mRID codingScheme="A01">10Y1001A1001A82H</in_Domain.mRID>'
        '<out_Domain.mRID codingScheme="A01">10Y1001A1001A82H</out_Domain.mRID>'
        f"<contract_MarketAgreement.type>{contract}</contract_MarketAgreement.type>"
        f"<currency_Unit.name>{currency}</currency_Unit.name>"
        f"<price_Measure_Unit.name>MWH</price_Measure_Unit.name>{seq}"
        f"<curveType>{curve}</curveType><Period><timeInterval><start>{start.strftime(fmt)}</start>"
        f"<end>{end.strftime(fmt)}</end></timeInterval><resolution>{resolution}</resolution>"
        f"{pts}</Period></TimeSeries>"
    )


def _doc(*series: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Publication_MarketDocument xmlns="{NS}">'
        "<mRID>x</mRID><revisionNumber>1</revisionNumber><type>A44</type>"
        f"{''.join(series)}</Publication_MarketDocument>"
    )


def test_entsoe_a03_left_out_positions_repeat_the_price_before() -> None:
    start = _utc(2026, 2, 16, 23)
    xml = _doc(_series(start, start + 2 * H, "PT15M", {1: 73.24, 3: 65.84, 6: "-1.5"}))

    slots = parse_entsoe(xml)

    assert [round(s.price_per_kwh * 1000, 2) for s in slots] == [
        73.24, 73.24, 65.84, 65.84, 65.84, -1.5, -1.5, -1.5,
    ]  # fmt: skip
    assert all(s.duration == Q for s in slots)
    assert slots.skipped == []
    assert slots[-1].end == start + 2 * H


def test_entsoe_a01_missing_position_is_a_gap() -> None:
    start = _utc(2026, 2, 16, 23)
    xml = _doc(_series(start, start + 4 * H, "PT60M", {1: 10, 2: 20, 4: 40}, curve="A01"))

    slots = parse_entsoe(xml)

    assert [s.start for s in slots] == [start, start + H, start + 3 * H]
    assert any("no Point for position 3" in m for m in slots.skipped)


def test_entsoe_prefers_lowest_sequence_and_finest_resolution() -> None:
    start = _utc(2026, 2, 16, 23)
    hourly = _series(start, start + H, "PT60M", {1: 99.0})
    exaa = _series(start, start + H, "PT15M", {1: 50.0}, sequence=2)
    sdac = _series(start, start + H, "PT15M", {1: 60.0, 2: 61.0, 3: 62.0, 4: 63.0}, sequence=1)

    slots = parse_entsoe(_doc(hourly, exaa, sdac))
    assert [s.price_per_kwh for s in slots] == pytest.approx([0.060, 0.061, 0.062, 0.063])

    only_exaa = parse_entsoe(_doc(hourly, exaa, sdac), sequence=2)
    assert [s.price_per_kwh for s in only_exaa] == pytest.approx([0.050] * 4)


def test_entsoe_two_days_across_autumn_dst() -> None:
    # 25 Oct 2026 is 25 h long in CET: 100 quarter-hours
    d1 = _utc(2026, 10, 23, 22)
    d2 = _utc(2026, 10, 24, 22)
    d3 = _utc(2026, 10, 25, 23)
    xml = _doc(
        _series(d1, d2, "PT15M", {1: 10.0}),
        _series(d2, d3, "PT15M", {1: 20.0, 100: 30.0}),
    )
    slots = parse_entsoe(xml)
    assert len(slots) == 96 + 100
    assert slots[-1].end == d3 and slots[-1].price_per_kwh == pytest.approx(0.030)
    assert _contiguous(slots)


def test_entsoe_acknowledgement_is_a_source_error() -> None:
    ack = (
        '<?xml version="1.0" encoding="UTF-8"?><Acknowledgement_MarketDocument '
        'xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"><mRID>a</mRID>'
        "<Reason><code>999</code><text>No matching data found for Data item Day-ahead Prices"
        "</text></Reason></Acknowledgement_MarketDocument>"
    )
    with pytest.raises(TariffSourceError, match="999 No matching data found"):
        parse_entsoe(ack)


_PT = r"TimeSeries\[0\]\.Period\[0\]"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("73.24", "7,3", _PT + r"\.Point\[0\]\.price\.amount: not a number \('7,3'\)"),
        ("PT15M", "quarter", _PT + r"\.resolution: not an ISO 8601 duration"),
        ("<position>3</", "<position>three</", r"Point\[1\]\.position: not an integer"),
        (">EUR<", ">SEK<", r"TimeSeries\[0\]\.currency_Unit\.name: SEK, not EUR"),
        ("</Publication_MarketDocument>", "", r"entsoe: body: not XML"),
        ("Publication_MarketDocument", "GL_MarketDocument", "root is GL_MarketDocument"),
        ("2026-02-16T23:00Z", "yesterday", r"timeInterval\.start: not an ISO 8601 time"),
    ],
)
def test_entsoe_malformed_is_located(old: str, new: str, message: str) -> None:
    start = _utc(2026, 2, 16, 23)
    xml = _doc(_series(start, start + H, "PT15M", {1: 73.24, 3: 65.84}))
    with pytest.raises(TariffFormatError, match=message):
        parse_entsoe(xml.replace(old, new))


def test_entsoe_position_outside_the_interval_and_intraday_series_are_left_out() -> None:
    start = _utc(2026, 2, 16, 23)
    xml = _doc(
        _series(start, start + H, "PT15M", {1: 1.0, 9: 9.0}),
        _series(start, start + H, "PT15M", {1: 5.0}, contract="A07"),
    )
    slots = parse_entsoe(xml)
    assert len(slots) == 4 and {s.price_per_kwh for s in slots} == {0.001}
    assert any("position: 9 outside 1..4" in m for m in slots.skipped)
    assert any("contract type A07" in m for m in slots.skipped)


def test_tibber_range_connection_is_read_too() -> None:
    day = _utc(2026, 11, 23, 23)
    nodes = [_tibber_entry(day + i * Q, 0.3) for i in range(4)]
    payload = _tibber([], [])
    info = payload["data"]["viewer"]["homes"][0]["currentSubscription"]["priceInfo"]
    info["range"] = {"nodes": nodes}
    assert len(parse_tibber(payload)) == 4
    info["range"] = {"edges": [{"node": n} for n in nodes]}
    assert [s.start for s in parse_tibber(payload)] == [day + i * Q for i in range(4)]


def test_json_parsers_take_the_body_text_too() -> None:
    raw = (DATA / "awattar_de_marketdata_2023-10-26_openwb.json").read_bytes()
    assert parse_awattar(raw) == parse_awattar(json.loads(raw))
    assert len(parse_tibber((DATA / "tibber_priceInfo_2023-10-27_openwb.json").read_text())) == 30
    text = json.dumps(_ec([_utc(2026, 1, 1)], [1.0]))
    assert parse_energy_charts(text)[0].price_per_kwh == 0.001
    with pytest.raises(TariffFormatError, match=r"energy-charts: body: not JSON \(line 1 column"):
        parse_energy_charts('{"unix_seconds": [1,')
