"""Evidence checks shared by the meter profiles: serve a fixture's independent register facts
from the plain server, read them through the shipped profile, list every point that differs,
and prove that the check can fail by breaking the profile in memory.

``break_profile`` makes the mistakes that the evidence has to catch - an address one value off,
a scale ten times off, the other word order, the other sign - on a copy of the profile; the test
files assert that each broken copy shows a mismatch at the broken point.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ampacity.assets import Quality, Reading
from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
from ampacity.drivers.profile import PROFILE_DIR, Profile
from ampacity.drivers.registry import load_profile_file
from evidence_kit import units_from_facts
from plain_modbus import Collector, PlainModbusServer, running


def shipped(profile_id: str) -> Profile:
    """The shipped Modbus profile ``profile_id``, read from its own file (so that another
    driver's profile being edited elsewhere cannot stop these tests)."""
    profile = load_profile_file(PROFILE_DIR / f"{profile_id}.yaml")
    assert isinstance(profile, Profile)
    return profile


async def read_facts(
    profile: Profile,
    facts: Sequence[Mapping[str, Any]],
    *,
    asset_id: str,
    unit_id: int = 1,
    table: str = "holding",
    fill: int | None = 0,
    within_s: float = 5.0,
) -> dict[str, Reading]:
    """Serve the facts' test values and read them through ``profile`` until every point was read
    (Good or not) or ``within_s`` passed; the newest reading per ``asset.point``."""
    server = PlainModbusServer(units_from_facts(facts, unit_id=unit_id, table=table, fill=fill))
    keys = {f"{asset_id}.{fact['point']}" for fact in facts}
    async with server:
        config = ModbusDeviceConfig(asset_id, tcp=TcpEndpoint("127.0.0.1", server.port))
        async with running(ModbusDriver(profile, config)) as sink:
            await _until_read(sink, keys, within_s)
            return {k: v for k, v in sink.latest.items() if k in keys}


async def _until_read(sink: Collector, keys: set[str], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all((r := sink.latest.get(k)) is not None and r.quality is Quality.GOOD for k in keys):
            return
        await asyncio.sleep(0.02)


def mismatches(
    readings: Mapping[str, Reading], facts: Sequence[Mapping[str, Any]], asset_id: str
) -> dict[str, str]:
    """``point -> what was read`` for every fact whose model value was not read with Good."""
    out: dict[str, str] = {}
    for fact in facts:
        key = f"{asset_id}.{fact['point']}"
        reading = readings.get(key)
        want = fact["model_value"]
        tolerance = float(fact.get("tolerance", 1e-9))
        if reading is None:
            out[fact["point"]] = "no reading"
        elif reading.quality is not Quality.GOOD:
            out[fact["point"]] = f"quality {reading.quality.name}"
        elif not (
            isinstance(reading.value, int | float)
            and not isinstance(reading.value, bool)
            and math.isclose(reading.value, want, rel_tol=1e-9, abs_tol=tolerance)
        ):
            out[fact["point"]] = f"{reading.value!r}, expected {want!r}"
    return out


def break_profile(profile: Profile, point: str, mistake: str) -> Profile:
    """A copy of ``profile`` with one mistake at ``point`` (of its first asset that has it):
    ``address`` (one value further), ``scale`` (x10), ``word_order`` (the other one), ``sign``,
    ``function`` (holding <-> input)."""
    data = profile.model_dump(mode="python", exclude_unset=True)
    for asset in data["assets"]:
        pmap = asset.get("points", {}).get(point)
        if pmap is None:
            continue
        if mistake == "address":
            width = {"u16": 1, "s16": 1, "u64": 4, "s64": 4, "f64": 4}.get(pmap.get("type"), 2)
            pmap["address"] = int(pmap["address"]) + width
        elif mistake == "scale":
            pmap["scale"] = float(pmap.get("scale", 1.0)) * 10
        elif mistake == "word_order":
            current = pmap.get("word_order") or profile.transport.word_order
            pmap["word_order"] = "little" if getattr(current, "value", current) == "big" else "big"
        elif mistake == "sign":
            pmap["sign"] = -int(pmap.get("sign", 1))
        elif mistake == "function":
            current = pmap.get("function") or profile.transport.default_function
            was_input = getattr(current, "value", current) == "input"
            pmap["function"] = "holding" if was_input else "input"
        else:
            raise ValueError(mistake)
        return Profile.model_validate(data)
    raise KeyError(f"{profile.id} has no point {point}")


async def check_register_table(
    profile_id: str,
    fixture: Mapping[str, Any],
    *,
    asset_id: str,
    table: str,
    fill: int | None = 0,
    section: str = "register_table",
) -> None:
    """Every fact of the fixture's ``section`` reads as its model value through the profile."""
    facts = fixture[section]["facts"]
    readings = await read_facts(
        shipped(profile_id), facts, asset_id=asset_id, table=table, fill=fill
    )
    assert mismatches(readings, facts, asset_id) == {}


async def check_mistake_is_caught(
    profile_id: str,
    fixture: Mapping[str, Any],
    point: str,
    mistake: str,
    *,
    asset_id: str,
    table: str,
) -> None:
    """The same check fails at ``point`` when the profile has ``mistake`` there."""
    facts = fixture["register_table"]["facts"]
    broken = break_profile(shipped(profile_id), point, mistake)
    readings = await read_facts(broken, facts, asset_id=asset_id, table=table, within_s=1.0)
    assert point in mismatches(readings, facts, asset_id), f"{mistake} at {point} not caught"
