"""The device catalogue: every profile, its products and the compatibility-list rows it serves.

``compatibility.yaml`` is the vendor's compatibility list (154 rows) that is Ampacity's device
scope; ``catalogue()`` joins it with the shipped profiles so the product itself lists what it
supports and what is still open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from ampacity.drivers.registry import all_profiles, builtin_profiles

COMPATIBILITY_FILE = Path(__file__).parent / "compatibility.yaml"
OPEN_REASONS_FILE = Path(__file__).parent / "open_rows.yaml"
"""Rows that no driver serves for a stated reason (no public protocol, hardware needed ...):
``- {id: ROW-ID, reason: "..."}`` (an empty list when there is none)."""


@dataclass(frozen=True, slots=True)
class CompatibilityRow:
    id: str
    section: str
    manufacturer: str
    models: tuple[str, ...]
    protocols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One way Ampacity serves devices: a profile or a code driver.

    Attributes:
        id: the profile id (``profile:`` in a device entry) or the config section of a code driver.
        manufacturer / products / protocol: what it serves and how.
        kinds: the asset kinds it provides (their ``AssetKind`` values).
        rows: the compatibility rows it serves.
        source: the vendor or provider document its facts come from.
    """

    id: str
    manufacturer: str
    products: tuple[str, ...]
    protocol: str
    kinds: tuple[str, ...]
    rows: tuple[CompatibilityRow, ...]
    source: str = ""
    assets: tuple[tuple[str, str], ...] = ()
    """Profiles: ``(asset key, kind)`` per asset the device serves."""
    origin: str = "shipped"
    """``shipped`` with Ampacity, or ``site``: from the site's ``profiles_dir``."""


CODE_DRIVERS: tuple[dict[str, Any], ...] = (
    {
        "id": "ripple_control",
        "manufacturer": "Generic (grid operator's ripple-control receiver / control box)",
        "products": (
            "Contacts on a Modbus TCP I/O module (discrete inputs, coils, register bits)",
            "Contacts on a KMTronic LAN board's inputs (status.xml)",
        ),
        "protocol": "modbus / http",
        "kinds": ("RippleControlReceiver",),
        "rows": ("EXT-01",),
        "source": "drivers/signals: site-file section ripple_control",
    },
    {
        "id": "marketer",
        "manufacturer": "Generic (direct marketer)",
        "products": ("OPC UA methods on Site.Marketer (power limit, battery setpoint, clear)",),
        "protocol": "opc-ua",
        "kinds": ("Site",),
        "rows": ("EXT-02",),
        "source": "server/marketer.py: on every site with a control section",
    },
    {
        "id": "tariffs:tibber",
        "manufacturer": "Tibber",
        "products": ("Monthly price", "Hourly / quarter-hourly price (GraphQL priceInfo)"),
        "protocol": "http",
        "kinds": ("Tariff",),
        "rows": ("EXT-03", "EXT-04"),
        "source": "drivers/tariffs/tibber.py: Tibber developer API (GraphQL)",
    },
    {
        "id": "tariffs:awattar",
        "manufacturer": "aWATTar",
        "products": ("Hourly price, DE and AT (marketdata API)",),
        "protocol": "http",
        "kinds": ("Tariff",),
        "rows": ("EXT-05",),
        "source": "drivers/tariffs/awattar.py: aWATTar API documentation",
    },
    {
        "id": "tariffs:energy-charts / entsoe",
        "manufacturer": "EPEX SPOT day-ahead DE-LU",
        "products": ("Through Energy-Charts (no token)", "Through the ENTSO-E platform (token)"),
        "protocol": "http",
        "kinds": ("Tariff",),
        "rows": ("EXT-06",),
        "source": "drivers/tariffs/energy_charts.py, entsoe.py: the providers' API documents",
    },
)
"""Compatibility rows served by code drivers and server interfaces rather than a profile."""


@cache
def compatibility_rows() -> dict[str, CompatibilityRow]:
    """The compatibility list by row id, in list order."""
    data: list[dict[str, Any]] = yaml.safe_load(COMPATIBILITY_FILE.read_text(encoding="utf-8"))
    rows: dict[str, CompatibilityRow] = {}
    for row in data:
        rows[row["id"]] = CompatibilityRow(
            id=row["id"],
            section=row["section"],
            manufacturer=row.get("manufacturer") or "",
            models=tuple(str(m) for m in row.get("models") or ()),
            protocols=tuple(row.get("protocols") or ()),
        )
    return rows


def catalogue(site_profiles: Path | None = None) -> list[CatalogueEntry]:
    """Every profile with the compatibility rows it serves (a site's own too, when given its
    ``profiles_dir``).

    Raises:
        ValueError: a profile names a row that is not in the list.
        ProfileError: a site profile does not validate.
    """
    rows = compatibility_rows()
    entries = []
    shipped = builtin_profiles()
    for profile in all_profiles(site_profiles).values():
        kinds = profile.asset_kinds()
        entries.append(
            CatalogueEntry(
                profile.id,
                profile.manufacturer,
                tuple(profile.products),
                profile.driver,
                tuple(sorted({kind.value for _, kind in kinds})),
                _rows(profile.id, profile.compatibility, rows),
                profile.source,
                tuple((key, kind.value) for key, kind in kinds),
                "shipped" if profile.id in shipped else "site",
            )
        )
    for driver in CODE_DRIVERS:
        entries.append(
            CatalogueEntry(
                driver["id"],
                driver["manufacturer"],
                driver["products"],
                driver["protocol"],
                driver["kinds"],
                _rows(driver["id"], driver["rows"], rows),
                driver["source"],
            )
        )
    return entries


def _rows(
    owner: str, ids: Iterable[str], rows: dict[str, CompatibilityRow]
) -> tuple[CompatibilityRow, ...]:
    unknown = [r for r in ids if r not in rows]
    if unknown:
        raise ValueError(f"{owner}: unknown compatibility ids {unknown}")
    return tuple(rows[r] for r in ids)


def uncovered_rows() -> list[CompatibilityRow]:
    """Rows nothing serves yet."""
    served = {r.id for e in catalogue() for r in e.rows}
    return [row for row_id, row in compatibility_rows().items() if row_id not in served]


@cache
def open_reasons() -> dict[str, str]:
    """Why a row is open where that is known (``open_rows.yaml``), by row id.

    Raises:
        ValueError: a row id that is not in the list.
    """
    data = yaml.safe_load(OPEN_REASONS_FILE.read_text(encoding="utf-8")) or []
    rows = compatibility_rows()
    reasons: dict[str, str] = {}
    for entry in data:
        if entry["id"] not in rows:
            raise ValueError(f"open_rows.yaml: unknown compatibility id {entry['id']!r}")
        reasons[entry["id"]] = str(entry["reason"])
    return reasons
