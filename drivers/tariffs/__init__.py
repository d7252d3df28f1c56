"""Dynamic tariffs: price sources (Tibber, aWATTar, Energy-Charts, ENTSO-E) as a driver."""

from .awattar import parse_awattar
from .config import ENTSOE_AREAS, Provider, TariffConfig
from .driver import TariffDriver
from .energy_charts import parse_energy_charts
from .entsoe import parse_entsoe
from .model import (
    EndCustomerPrice,
    ParsedSlots,
    PriceComponents,
    PriceSlot,
    TariffError,
    TariffFormatError,
    TariffSourceError,
    per_mwh_to_per_kwh,
)
from .tibber import parse_tibber, tibber_current_price

__all__ = [
    "ENTSOE_AREAS",
    "EndCustomerPrice",
    "ParsedSlots",
    "PriceComponents",
    "PriceSlot",
    "Provider",
    "TariffConfig",
    "TariffDriver",
    "TariffError",
    "TariffFormatError",
    "TariffSourceError",
    "parse_awattar",
    "parse_energy_charts",
    "parse_entsoe",
    "parse_tibber",
    "per_mwh_to_per_kwh",
    "tibber_current_price",
]
