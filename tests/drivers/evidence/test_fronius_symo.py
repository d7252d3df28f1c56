"""Fronius Symo through the Datamanager, SunSpec (``fronius_symo``) against real read-outs.

Three public ``evcc sunspec`` dumps - a Symo 8.2-3-M, a Symo Hybrid 5.0 (float model 113) and a
Fronius Smart Meter TS (float model 213) - are laid out as SunSpec register maps ('SunS', model
chain, end marker; point offsets from the SunSpec Alliance model definitions, not from the
project's model tables) and served from a plain Modbus server; the SunSpec driver, built from the
``fronius_symo`` profile, discovers and reads them, and the values the dumps state are asserted.
The meter dump ends before ``W``: the meter's sign (+ = import) is checked with values encoded per
model 213 and evcc's SunSpec grid-meter template. See fixtures/fronius_symo.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ampacity.drivers.modbus import Backoff, TcpLink
from ampacity.drivers.profile import all_profiles
from ampacity.drivers.sunspec.driver import SunSpecDriver
from evidence_kit import FIXTURES, load, verify
from plain_modbus import PlainModbusServer, PlainUnit, running, text_words, words

PROFILE = "fronius_symo"
FIXTURE = load(PROFILE)
LAYOUTS: dict[str, dict[str, Any]] = FIXTURE["layouts"]
NAN = [0x7FC0, 0x0000]  # float32 "not implemented"


def evcc_dump(path: Path) -> dict[str, dict[str, str]]:
    """``evcc sunspec`` text output: model id -> point name -> value as printed."""
    models: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("--------- Model"):
            current = models.setdefault(line.split()[2], {})
        elif current is not None and not line.startswith("[") and len(line.split()) >= 3:
            name, *value, _type = line.split()
            current[name] = " ".join(value)
    return models


def point_words(value: str, size: int, wire: str) -> list[int]:
    if wire == "string":
        return text_words(value, size)
    if wire == "float32":
        return NAN if value == "n/a" else words(float(value), "f32")
    if wire == "bitfield32":
        return words(int(value, 16), "u32")
    return words(int(float(value)), "u16")


def sunspec_image(models: dict[str, dict[str, str]], base: int = 40000) -> dict[int, int]:
    """Registers of a SunSpec device: 'SunS', each model (id, length, points), end marker."""
    regs = {base: 0x5375, base + 1: 0x6E53}
    at = base + 2
    for model_id, values in models.items():
        layout = LAYOUTS[model_id]
        regs[at], regs[at + 1] = int(model_id), layout["length"]
        start = at + 2
        for name, (offset, size, wire) in layout["points"].items():
            if name in values:
                data = point_words(values[name], size, wire)
            elif wire == "float32":
                data = NAN  # a point the dump does not give: "not implemented"
            else:
                data = [0] * size
            for i, word in enumerate(data):
                regs[start + offset + i] = word
        at = start + layout["length"]
    regs[at], regs[at + 1] = 0xFFFF, 0
    return regs


def readout_models(readout: dict[str, Any]) -> dict[str, dict[str, str]]:
    if "dump_file" in readout:
        dump = evcc_dump(FIXTURES / readout["dump_file"])
        return {m: dump[m] for m in ("1", "113")}
    models: dict[str, dict[str, str]] = readout["models"]
    return models


def driver_for(server: PlainModbusServer) -> SunSpecDriver:
    link = TcpLink(
        "127.0.0.1", server.port, timeout_s=0.3, backoff=Backoff(initial_s=0.05, cap_s=0.2)
    )
    return SunSpecDriver(
        "fr", link, profile=all_profiles()[PROFILE], poll_s=0.2, request_timeout_s=0.3
    )


def datamanager(units: dict[int, dict[str, dict[str, str]]]) -> PlainModbusServer:
    """A Datamanager serving these model chains; the inverter (unit 1) is always there, so a
    meter read-out is served beside the Symo 8.2-3-M dump."""
    if 1 not in units:
        units[1] = readout_models(FIXTURE["readouts"][0])
    return PlainModbusServer(
        {uid: PlainUnit(holding=sunspec_image(models)) for uid, models in units.items()}
    )


@pytest.mark.parametrize("readout", FIXTURE["readouts"], ids=lambda r: r["source"])
async def test_real_readout_decodes_as_the_source_states(readout: dict[str, Any]) -> None:
    server = datamanager({readout["unit_id"]: readout_models(readout)})
    async with server, running(driver_for(server)) as sink:
        asset = f"fr-{readout['asset']}"
        expected = {f"{asset}.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])


async def test_meter_power_is_positive_for_import() -> None:
    case = FIXTURE["meter_sign"]
    readout = next(r for r in FIXTURE["readouts"] if r["unit_id"] == case["unit_id"])
    models = readout_models(readout)
    meter = {**models["213"], **{k: repr(v) for k, v in case["values"].items()}}
    server = datamanager({case["unit_id"]: {**models, "213": meter}})
    async with server, running(driver_for(server)) as sink:
        expected = {f"fr-meter.{p}": e for p, e in case["expect"].items()}
        await verify(sink, expected, "meter sign")
