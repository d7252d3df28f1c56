"""The device catalogue: every profile, its products and the compatibility-list rows it serves.

``compatibility.yaml`` is the vendor's compatibility list (154 rows) that is Ampacity's device
scope; ``catalogue()`` joins it with the shipped profiles so the product itself lists what it
supports and what is still open.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from ampacity.drivers.profile import Profile, all_profiles

COMPATIBILITY_FILE = Path(__file__).parent / "compatibility.yaml"


@dataclass(frozen=True, slots=True)
class CompatibilityRow:
    id: str
    section: str
    manufacturer: str
    models: tuple[str, ...]
    protocols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    profile: Profile
    rows: tuple[CompatibilityRow, ...]


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


def catalogue() -> list[CatalogueEntry]:
    """Every profile with the compatibility rows it serves.

    Raises:
        ValueError: a profile names a row that is not in the list.
    """
    rows = compatibility_rows()
    entries = []
    for profile in all_profiles().values():
        unknown = [r for r in profile.compatibility if r not in rows]
        if unknown:
            raise ValueError(f"profile {profile.id}: unknown compatibility ids {unknown}")
        entries.append(CatalogueEntry(profile, tuple(rows[r] for r in profile.compatibility)))
    return entries


def uncovered_rows() -> list[CompatibilityRow]:
    """Rows no profile serves yet."""
    served = {r for e in catalogue() for r in e.profile.compatibility}
    return [row for row_id, row in compatibility_rows().items() if row_id not in served]
