"""Fixture handling shared by the evidence tests: load a fixture, turn its register facts and
read-outs into plain register tables, and compare decoded readings with the expected values.

Fixture layout (``fixtures/<profile>.json``; every file keeps a top-level ``provenance``):

* ``sources``: id -> where a fact comes from (kind ``read-out`` or ``register-table``,
  repository + commit + path, or URL + date).
* ``readouts``: register words a real device answered (hex bytes as logged), per unit id and
  table, with the values the source states (``basis: source_stated``) or that follow from the
  words by the source's own type definition (``basis: decoded_here``).
* ``register_table.facts``: one independent fact per point - address, unit id, table, type,
  word order, scale (value = raw * scale, in the source's unit) - with a ``test_value`` in the
  source's unit and the ``model_value`` the model must show (model unit and sign convention);
  ``also`` names a second register of the same type whose value the point adds (SMA MPPT B).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ampacity.assets import Quality, Reading
from plain_modbus import Collector, PlainUnit, hex_words, text_words, words

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load(name: str) -> dict[str, Any]:
    """The fixture ``fixtures/<name>.json``; fails if it has no provenance."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert data.get("provenance"), f"{name}.json has no provenance"
    for key, source in data.get("sources", {}).items():
        assert source.get("url") or (source.get("repository") and source.get("commit")), key
    return data


def fact_words(fact: Mapping[str, Any], value: Any = None) -> list[int]:
    """The registers that hold ``value`` (default the fact's ``test_value``) as the fact says."""
    value = fact["test_value"] if value is None else value
    if fact["type"] == "string":
        return text_words(str(value), int(fact["length"]))
    raw = value / fact.get("scale", 1)
    if not fact["type"].startswith("f"):
        whole = round(raw)
        assert math.isclose(raw, whole, abs_tol=1e-6), f"{fact['point']}: {raw} is not whole"
        raw = whole
    return words(raw, fact["type"], fact.get("word_order", "big"))


def units_from_facts(
    facts: Iterable[Mapping[str, Any]],
    *,
    unit_id: int,
    table: str = "holding",
    fill: int | None = 0,
    units: dict[int, PlainUnit] | None = None,
) -> dict[int, PlainUnit]:
    """Plain register tables holding every fact's test value (facts may name their own unit id
    and table)."""
    units = {} if units is None else units
    for fact in facts:
        uid = int(fact.get("unit_id", unit_id))
        unit = units.setdefault(uid, PlainUnit(fill=fill))
        unit.put(int(fact["address"]), fact_words(fact), fact.get("table", table))
        if (extra := fact.get("also")) is not None:  # a second register the point adds up
            words_ = fact_words(fact, extra["test_value"])
            unit.put(int(extra["address"]), words_, fact.get("table", table))
    return units


def units_from_readout(
    readout: Mapping[str, Any], *, table: str = "holding", fill: int | None = 0
) -> dict[int, PlainUnit]:
    """Plain register tables holding a read-out's words.

    A key is an address, or ``table:address``; a value is logged hex bytes or a list of words.
    """
    unit = PlainUnit(fill=fill)
    for key, data in readout["registers"].items():
        where, _, address = key.rpartition(":")
        values = hex_words(data) if isinstance(data, str) else [int(w) for w in data]
        unit.put(int(address), values, where or readout.get("table", table))
    return {int(readout["unit_id"]): unit}


def check(reading: Reading, expected: Mapping[str, Any], what: str) -> None:
    """``reading`` shows ``expected``: a quality name, or a value within ``tolerance``."""
    if "quality" in expected:
        assert reading.quality is Quality[expected["quality"]], f"{what}: {reading}"
        return
    assert reading.quality is Quality.GOOD, f"{what}: {reading}"
    want = expected["value"]
    got = reading.value
    if isinstance(want, bool | str):
        assert got == want, f"{what}: {got!r} != {want!r}"
        return
    assert isinstance(got, int | float) and not isinstance(got, bool), f"{what}: {got!r}"
    tolerance = float(expected.get("tolerance", 0.0))
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=tolerance), (
        f"{what}: {got!r} != {want!r} (± {tolerance})"
    )


def expected_of(fact: Mapping[str, Any]) -> dict[str, Any]:
    """The expectation of a register fact (exact for test values the wire type holds exactly)."""
    return {"value": fact["model_value"], "tolerance": fact.get("tolerance", 1e-9)}


async def verify(sink: Collector, expected: Mapping[str, Mapping[str, Any]], label: str) -> None:
    """Wait for each ``asset.point`` in ``expected`` and check it (a value needs quality Good)."""
    for key, want in expected.items():
        reading = await sink.wait_for(key)
        if "value" in want:
            reading = (await sink.wait_good([key]))[key]
        check(reading, want, f"{label} {key}")


def facts_expected(facts: Iterable[Mapping[str, Any]], asset_id: str) -> dict[str, dict[str, Any]]:
    """``asset.point`` -> expectation of every register fact."""
    return {f"{asset_id}.{fact['point']}": expected_of(fact) for fact in facts}
