"""A local price server that answers in the shapes of Energy-Charts, aWATTar, Tibber and ENTSO-E.

``TariffSimServer`` serves one wholesale price series (EUR/MWh per slot start) on 127.0.0.1 at the
providers' own paths, so the tariff driver talks to it exactly as to the real APIs (its
``base_url`` set to ``server.url``):

* ``GET /price?bzn=..&start=YYYY-MM-DD&end=YYYY-MM-DD`` - Energy-Charts: ``unix_seconds``,
  ``price`` (EUR/MWh), ``unit`` ``"EUR / MWh"``, ``license_info``, ``deprecated``; days local.
* ``GET /v1/marketdata?start=<ms>&end=<ms>`` - aWATTar: ``{"object": "list", "data": [...]}``.
* ``POST /v1-beta/gql`` - Tibber ``priceInfo`` (``current``/``today``/``tomorrow``; ``total`` =
  wholesale * 1.19 + ``tibber_fees_per_kwh``), needs ``Authorization: Bearer <any>``.
* ``GET /api?securityToken=..&documentType=A44&periodStart=..&periodEnd=..`` - ENTSO-E XML, one
  ``TimeSeries`` per local day, curve type A03 (a point equal to the one before is left out).

The default series is the real DE-LU day-ahead price of 2024 (``data/energy_charts_DE-LU_
dayahead_2024.csv``, see the ``.md`` beside it) moved to the requested date: a day takes the
prices of the same calendar day and UTC hour of 2024; 15-minute slots repeat the hour's price
(the hourly auction's price held for each quarter, no interpolation).

Fault switches (attributes, change them at any time): ``fail_status`` (answer every request
with this HTTP status), ``malformed`` (a truncated body), ``drop_tomorrow`` (no slots of the local
tomorrow, as before the day-ahead results are out), ``tomorrow_from`` (local time of day from
which tomorrow is served, e.g. ``time(13)``), ``null_price_at`` (slot starts whose price is
null/empty). Every request is recorded in ``requests``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

PriceFn = Callable[[datetime], float]
"""Wholesale price in EUR/MWh of the slot that starts at the given UTC time."""

BERLIN = ZoneInfo("Europe/Berlin")
DATA_FILE = "energy_charts_DE-LU_dayahead_2024.csv"


def load_2024_prices() -> dict[tuple[int, int, int], float]:
    """The 2024 hourly prices keyed by (month, day, UTC hour), EUR/MWh."""
    text = resources.files("ampacity.sim").joinpath("data", DATA_FILE).read_text("utf-8")
    prices: dict[tuple[int, int, int], float] = {}
    for row in csv.DictReader(text.splitlines()):
        when = datetime.fromtimestamp(int(row["timestamp_unix"]), UTC)
        prices[(when.month, when.day, when.hour)] = float(row["day_ahead_price_eur_mwh"])
    return prices


def prices_2024() -> PriceFn:
    """The 2024 DE-LU day-ahead series moved to any date (same month, day and UTC hour)."""
    table = load_2024_prices()

    def price(start: datetime) -> float:
        t = start.astimezone(UTC)
        key = (t.month, t.day, t.hour)
        if key not in table:  # 29 Feb of a leap year other than 2024 cannot happen; be safe
            key = (t.month, min(t.day, 28), t.hour)
        return table[key]

    return price


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


@dataclass
class TariffSimServer:
    """Provider-shaped price server on loopback.

    Args:
        price: wholesale price per slot start, EUR/MWh (default: 2024 DE-LU moved to the date).
        slot_minutes: slot length, 15 (the day-ahead market since Oct 2025) or 60.
        now: the server's clock (Tibber's ``current``, ``tomorrow_from``).
        zone: the local zone of "today" and "tomorrow".
        host / port: where to listen (port 0 = a free port).
        tibber_fees_per_kwh: what the Tibber shape adds to ``energy`` as ``tax``, EUR/kWh.

    Use ``async with TariffSimServer() as server:`` or ``await start()`` / ``await stop()``;
    ``server.url`` is the base URL for the driver's ``base_url``.
    """

    price: PriceFn | None = None
    slot_minutes: int = 15
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    zone: ZoneInfo = BERLIN
    host: str = "127.0.0.1"
    port: int = 0
    tibber_fees_per_kwh: float = 0.20
    fail_status: int | None = None
    malformed: bool = False
    drop_tomorrow: bool = False
    tomorrow_from: time | None = None
    null_price_at: set[datetime] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _price: PriceFn | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.slot_minutes not in (15, 30, 60):
            raise ValueError("slot_minutes must be 15, 30 or 60")

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        """Listen; returns ``url``."""
        self._price = self.price or prices_2024()
        app = web.Application()
        app.router.add_get("/price", self._energy_charts)
        app.router.add_get("/v1/marketdata", self._awattar)
        app.router.add_post("/v1-beta/gql", self._tibber)
        app.router.add_get("/api", self._entsoe)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TariffSimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- the series ----------------------------------------------------------------------------

    def slots(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, float | None]]:
        """Served slots ``(start, end, EUR/MWh or None)`` that overlap ``[start, end)``."""
        assert self._price is not None, "start the server first"
        step = timedelta(minutes=self.slot_minutes)
        at = _floor(start.astimezone(UTC), step)  # the slot that holds ``start`` too
        tomorrow_start = self._tomorrow_start()
        out: list[tuple[datetime, datetime, float | None]] = []
        while at < end:
            if tomorrow_start is not None and at >= tomorrow_start:
                break
            value = None if at in self.null_price_at else round(self._price(at), 2)
            out.append((at, at + step, value))
            at += step
        return out

    def _tomorrow_start(self) -> datetime | None:
        """Where the served series stops (start of local tomorrow) while tomorrow is held back."""
        local_now = self.now().astimezone(self.zone)
        held = self.drop_tomorrow or (
            self.tomorrow_from is not None and local_now.time() < self.tomorrow_from
        )
        if not held:
            return None
        return _local_midnight(local_now.date() + timedelta(days=1), self.zone)

    def _day_window(self, first: date, last: date) -> tuple[datetime, datetime]:
        return _local_midnight(first, self.zone), _local_midnight(
            last + timedelta(days=1), self.zone
        )

    # --- handlers ------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> web.Response | None:
        body = await request.text() if request.can_read_body else ""
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        if self.fail_status is not None:
            return web.Response(status=self.fail_status, text="simulated failure")
        return None

    def _json(self, payload: Any) -> web.Response:
        text = json.dumps(payload)
        if self.malformed:
            text = text[: max(1, len(text) // 2)]
        return web.Response(text=text, content_type="application/json")

    async def _energy_charts(self, request: web.Request) -> web.Response:
        if (failed := await self._record(request)) is not None:
            return failed
        today = self.now().astimezone(self.zone).date()
        try:
            first = date.fromisoformat(request.query.get("start", today.isoformat()))
            last = date.fromisoformat(request.query.get("end", first.isoformat()))
        except ValueError:
            return web.json_response({"detail": "start/end must be YYYY-MM-DD"}, status=422)
        slots = self.slots(*self._day_window(first, last))
        if not slots:
            return web.json_response({"detail": "No data for requested period"}, status=404)
        return self._json(
            {
                "license_info": "CC BY 4.0 (creativecommons.org/licenses/by/4.0) from "
                "Bundesnetzagentur | SMARD.de (simulated)",
                "unix_seconds": [int(s.timestamp()) for s, _, _ in slots],
                "price": [p for _, _, p in slots],
                "unit": "EUR / MWh",
                "deprecated": False,
            }
        )

    async def _awattar(self, request: web.Request) -> web.Response:
        if (failed := await self._record(request)) is not None:
            return failed
        now = self.now()
        try:
            start_ms = int(request.query.get("start", int(now.timestamp() * 1000)))
            end_ms = int(request.query.get("end", start_ms + 24 * 3_600_000))
        except ValueError:
            return web.json_response({"error": "start/end must be ms"}, status=400)
        start = datetime.fromtimestamp(start_ms / 1000, UTC)
        end = datetime.fromtimestamp(end_ms / 1000, UTC)
        data = [
            {
                "start_timestamp": int(s.timestamp() * 1000),
                "end_timestamp": int(e.timestamp() * 1000),
                "marketprice": p,
                "unit": "Eur/MWh",
            }
            for s, e, p in self.slots(start, end)
        ]
        return self._json({"object": "list", "data": data, "url": "/de/v1/marketdata"})

    async def _tibber(self, request: web.Request) -> web.Response:
        if (failed := await self._record(request)) is not None:
            return failed
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            return web.json_response(
                {
                    "errors": [
                        {"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}
                    ]
                },
                status=400,
            )
        now = self.now()
        today = now.astimezone(self.zone).date()

        def entries(day: date) -> list[dict[str, Any]]:
            return [self._tibber_price(s, p) for s, _, p in self.slots(*self._day_window(day, day))]

        today_entries = entries(today)
        current = next(
            (
                self._tibber_price(s, p)
                for s, e, p in self.slots(*self._day_window(today, today))
                if s <= now < e
            ),
            None,
        )
        info = {
            "current": current,
            "today": today_entries,
            "tomorrow": entries(today + timedelta(days=1)),
        }
        home = {"id": "sim-home", "currentSubscription": {"status": "running", "priceInfo": info}}
        return self._json({"data": {"viewer": {"homes": [home]}}})

    def _tibber_price(self, start: datetime, per_mwh: float | None) -> dict[str, Any]:
        local = start.astimezone(self.zone).isoformat(timespec="milliseconds")
        if per_mwh is None:
            return {
                "total": None,
                "energy": None,
                "tax": None,
                "startsAt": local,
                "currency": "EUR",
            }
        energy = round(per_mwh / 1000.0 * 1.19, 4)
        tax = round(self.tibber_fees_per_kwh, 4)
        level = "CHEAP" if per_mwh < 60 else "EXPENSIVE" if per_mwh > 120 else "NORMAL"
        return {
            "total": round(energy + tax, 4),
            "energy": energy,
            "tax": tax,
            "startsAt": local,
            "currency": "EUR",
            "level": level,
        }

    async def _entsoe(self, request: web.Request) -> web.Response:
        if (failed := await self._record(request)) is not None:
            return failed
        q = request.query
        if not q.get("securityToken"):
            return web.Response(status=401, text=_ack("999", "Unauthorized: no securityToken"))
        try:
            start = datetime.strptime(q["periodStart"], "%Y%m%d%H%M").replace(tzinfo=UTC)
            end = datetime.strptime(q["periodEnd"], "%Y%m%d%H%M").replace(tzinfo=UTC)
        except (KeyError, ValueError):
            return web.Response(status=400, text=_ack("999", "periodStart/periodEnd missing"))
        series: list[str] = []
        day = start.astimezone(self.zone).date()
        while _local_midnight(day, self.zone) < end:
            slots = self.slots(*self._day_window(day, day))
            if slots:
                series.append(self._entsoe_series(len(series) + 1, day, slots))
            day += timedelta(days=1)
        if not series:
            return web.Response(
                status=200, text=_ack("999", "No matching data found"), content_type="text/xml"
            )
        text = _ENTSOE_DOC.format(
            start=_entsoe_time(start), end=_entsoe_time(end), series="".join(series)
        )
        if self.malformed:
            text = text[: len(text) // 2]
        return web.Response(text=text, content_type="text/xml")

    def _entsoe_series(
        self, n: int, day: date, slots: list[tuple[datetime, datetime, float | None]]
    ) -> str:
        day_start, day_end = self._day_window(day, day)
        step = slots[0][1] - slots[0][0]
        points = []
        previous: float | None = None
        for s, _, p in slots:
            position = int((s - day_start) / step) + 1
            if p is None:
                points.append(
                    f"<Point><position>{position}</position><price.amount></price.amount></Point>"
                )
            elif p != previous or position == 1:
                points.append(
                    f"<Point><position>{position}</position><price.amount>{p}</price.amount></Point>"
                )
            previous = p
        return _ENTSOE_SERIES.format(
            n=n,
            start=_entsoe_time(day_start),
            end=_entsoe_time(day_end),
            resolution=f"PT{self.slot_minutes}M",
            points="".join(points),
        )


def _floor(when: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return epoch + ((when - epoch) // step) * step


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _entsoe_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _ack(code: str, text: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:'
        'acknowledgementdocument:7:0"><mRID>sim</mRID>'
        f"<Reason><code>{code}</code><text>{text}</text></Reason>"
        "</Acknowledgement_MarketDocument>"
    )


_ENTSOE_DOC = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">'
    "<mRID>sim</mRID><revisionNumber>1</revisionNumber><type>A44</type>"
    "<period.timeInterval><start>{start}</start><end>{end}</end></period.timeInterval>"
    "{series}</Publication_MarketDocument>"
)
_ENTSOE_SERIES = (
    "<TimeSeries><mRID>{n}</mRID><auction.type>A01</auction.type>"
    "<businessType>A62</businessType>"
    '<in_Domain.mRID codingScheme="A01">10Y1001A1001A82H</in_Domain.mRID>'
    '<out_Domain.mRID codingScheme="A01">10Y1001A1001A82H</out_Domain.mRID>'
    "<contract_MarketAgreement.type>A01</contract_MarketAgreement.type>"
    "<currency_Unit.name>EUR</currency_Unit.name>"
    "<price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
    "<classificationSequence_AttributeInstanceComponent.position>1"
    "</classificationSequence_AttributeInstanceComponent.position>"
    "<curveType>A03</curveType><Period><timeInterval><start>{start}</start><end>{end}</end>"
    "</timeInterval><resolution>{resolution}</resolution>{points}</Period></TimeSeries>"
)


def data_path() -> Path:
    """Where the 2024 price file lives in the source tree."""
    return Path(__file__).parent / "data" / DATA_FILE
