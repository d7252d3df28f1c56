"""The configuration of one tariff (one entry of the site config's ``tariffs:`` list).

Times in s, prices in ``currency`` per kWh, VAT in %.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .model import PriceComponents

Provider = Literal["tibber", "awattar", "energy-charts", "entsoe"]

ENTSOE_AREAS: dict[str, str] = {
    "DE-LU": "10Y1001A1001A82H",
    "AT": "10YAT-APG------L",
    "BE": "10YBE----------2",
    "CH": "10YCH-SWISSGRIDZ",
    "CZ": "10YCZ-CEPS-----N",
    "DK1": "10YDK-1--------W",
    "DK2": "10YDK-2--------M",
    "FR": "10YFR-RTE------C",
    "NL": "10YNL----------L",
    "PL": "10YPL-AREA-----S",
}
"""Bidding zone -> EIC code for ENTSO-E (``in_Domain``/``out_Domain``); an EIC is taken as is."""


class TariffConfig(BaseModel):
    """One tariff: where its prices come from and what is added to them.

    Attributes:
        id: asset id of the ``Tariff`` asset (first part of its NodeIds).
        provider: ``tibber`` (end-customer prices), ``awattar``, ``energy-charts`` or ``entsoe``
            (day-ahead wholesale prices).
        market: aWATTar's market, ``DE`` (api.awattar.de) or ``AT`` (api.awattar.at).
        bidding_zone: Energy-Charts ``bzn`` (``DE-LU``, ``AT``, ...) or, for ENTSO-E, a zone of
            ``ENTSOE_AREAS`` or an EIC code (16 characters).
        entsoe_sequence: ENTSO-E ``classificationSequence`` position to use where a zone
            publishes several day-ahead series (DE-LU: the SDAC auction and EXAA's); ``None``
            prefers the lowest position present, slot by slot.
        token: Tibber personal access token or ENTSO-E security token (required for those).
        home_id: Tibber home id; ``None`` = the first home with a current subscription.
        product: Tibber product: ``quarter-hourly`` or ``hourly`` (dynamic, price per slot), or
            ``monthly`` (one price for the month; see ``monthly_price_per_kwh``).
        monthly_price_per_kwh: the contract's price of Tibber's monthly product, currency/kWh;
            ``None`` = Tibber's current price (``priceInfo.current.total``) held flat.
        base_url: scheme and host (and optional prefix) that replace the provider's, e.g.
            ``http://127.0.0.1:8080``; the provider's path (``/price``, ``/v1/marketdata``,
            ``/v1-beta/gql``, ``/api``) is appended. For tests, simulators and proxies.
        components: grid fee, levies, margin and VAT added to the source's price (none by
            default; Tibber's price already is the end-customer price).
        currency: ISO 4217 code of the prices; the source must deliver this currency.
        timezone: IANA zone whose days the requests cover (today and tomorrow).
        refresh_s: seconds between fetches while the known slots reach far enough, s.
        timeout_s: answer timeout of one request, s.
        retry_initial_s / retry_max_s: first and largest pause after a failed fetch (doubling,
            with jitter), s.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field("tariff", min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    provider: Provider
    market: Literal["DE", "AT"] = "DE"
    bidding_zone: str = Field("DE-LU", min_length=2, max_length=32)
    entsoe_sequence: int | None = Field(None, ge=1, le=9)
    token: SecretStr | None = None
    home_id: str | None = None
    product: Literal["quarter-hourly", "hourly", "monthly"] = "quarter-hourly"
    monthly_price_per_kwh: float | None = Field(None, ge=-10, le=10)
    base_url: str | None = Field(None, pattern=r"^https?://[^\s?#]+$")
    components: PriceComponents = PriceComponents()
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    timezone: str = "Europe/Berlin"
    refresh_s: float = Field(900.0, ge=1.0, le=86_400.0)
    timeout_s: float = Field(20.0, gt=0.0, le=300.0)
    retry_initial_s: float = Field(10.0, gt=0.0, le=3600.0)
    retry_max_s: float = Field(600.0, gt=0.0, le=86_400.0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _fits_provider(self) -> TariffConfig:
        needs_token = self.provider in ("tibber", "entsoe")
        if needs_token and (self.token is None or not self.token.get_secret_value().strip()):
            raise ValueError(f"provider {self.provider!r} needs a 'token'")
        if self.provider != "tibber":
            if self.product != "quarter-hourly" or self.monthly_price_per_kwh is not None:
                raise ValueError("'product' and 'monthly_price_per_kwh' are for provider 'tibber'")
            if self.home_id is not None:
                raise ValueError("'home_id' is for provider 'tibber'")
        if self.monthly_price_per_kwh is not None and self.product != "monthly":
            raise ValueError("'monthly_price_per_kwh' needs product: monthly")
        if self.provider == "entsoe" and self.entsoe_eic is None:
            raise ValueError(
                f"bidding_zone {self.bidding_zone!r}: not a known zone "
                f"({', '.join(ENTSOE_AREAS)}) nor an EIC code"
            )
        if self.entsoe_sequence is not None and self.provider != "entsoe":
            raise ValueError("'entsoe_sequence' is for provider 'entsoe'")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be >= retry_initial_s")
        return self

    @property
    def entsoe_eic(self) -> str | None:
        """The EIC code of ``bidding_zone`` for ENTSO-E, ``None`` if it is not one."""
        if self.bidding_zone in ENTSOE_AREAS:
            return ENTSOE_AREAS[self.bidding_zone]
        if len(self.bidding_zone) == 16 and self.bidding_zone[:2].isdigit():
            return self.bidding_zone
        return None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def secret(self) -> str:
        """The token (empty if none)."""
        return self.token.get_secret_value().strip() if self.token is not None else ""
