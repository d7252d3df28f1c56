"""KOSTAL PLENTICORE plus / PIKO IQ through SunSpec (``kostal_plenticore``) against a real dump.

* A PLENTICORE plus 7's ``evcc sunspec`` dump (evcc issue #10912; model 1 and model 103) is laid
  out as a SunSpec map with the SunSpec Alliance's point offsets and scale factors and served from
  a plain Modbus server; the SunSpec driver, built from the shipped profile, discovers and reads it
  and the values the dump prints are checked.
* The limit: model 123 WMaxLimPct written with FC06 on a server that, like the Plenticore (evcc
  pull request #31487), answers FC16 on model 123 with exception 2; no revert timer is written.

See fixtures/kostal_plenticore.json.
"""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.modbus import Backoff, TcpLink
from ampacity.drivers.profile import Profile, all_profiles
from ampacity.drivers.sunspec.driver import SunSpecDriver
from evidence_kit import FIXTURES, load, verify
from plain_modbus import PlainModbusServer, PlainUnit, _PlainContext, running, text_words, words
from pymodbus.constants import ExcCodes

PROFILE = "kostal_plenticore"
FIXTURE = load(PROFILE)
LAYOUTS: dict[str, Any] = FIXTURE["layouts"]
SF_OF: dict[str, str] = FIXTURE["scale_factors"]
UNIT = 71
BASE = 40000
_WIRE = {
    "pad": "u16",
    "uint16": "u16",
    "enum16": "u16",
    "int16": "s16",
    "sunssf": "s16",
    "acc32": "u32",
}
_NA = {"uint16": 0xFFFF, "enum16": 0xFFFF, "int16": 0x8000, "sunssf": 0x8000}


def dump_models(text: str) -> dict[str, dict[str, str]]:
    """``evcc sunspec`` output: model id -> point -> value as printed."""
    models: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("--------- Model"):
            current = models.setdefault(line.split()[2], {})
        elif len(line.split()) >= 3:
            name, *value, _wire = line.split()
            current[name] = " ".join(value)
    return models


def raw_of(model: dict[str, str], name: str, printed: str, wire: str) -> int | str:
    """The register value behind a printed value: printed / 10^SF, or the n/a pattern."""
    if wire == "string":
        return printed
    if wire == "pad":
        return int(printed, 16)
    if printed == "n/a":
        return _NA[wire]
    sf_name = SF_OF.get(name)
    sf = int(model[sf_name]) if sf_name else 0
    return round(float(printed) / 10**sf)


def chain(models: list[tuple[str, dict[str, Any]]]) -> dict[int, int]:
    regs = {BASE: 0x5375, BASE + 1: 0x6E53}
    at = BASE + 2
    for model_id, values in models:
        layout = LAYOUTS[model_id]
        regs[at], regs[at + 1] = int(model_id), layout["length"]
        for i in range(layout["length"]):
            regs[at + 2 + i] = 0
        for name, value in values.items():
            offset, size, wire = layout["points"][name]
            if wire == "string":
                data = text_words(str(value), size)
            elif isinstance(value, int) and value in (0xFFFF, 0x8000) and wire in _NA:
                data = [value]
            else:
                data = words(int(value), _WIRE[wire])
            for i, word in enumerate(data):
                regs[at + 2 + offset + i] = word
        at += 2 + layout["length"]
    regs[at], regs[at + 1] = 0xFFFF, 0
    return regs


def readout_models(index: int = 0) -> list[tuple[str, dict[str, Any]]]:
    readout = FIXTURE["readouts"][index]
    models = dump_models((FIXTURES / readout["file"]).read_text(encoding="utf-8"))
    out: list[tuple[str, dict[str, Any]]] = []
    for model_id in ("1", "103"):
        model = models[model_id]
        points = LAYOUTS[model_id]["points"]
        out.append(
            (
                model_id,
                {
                    n: raw_of(model, n, v, points[n][2])
                    for n, v in model.items()
                    if n in points and SF_OF.get(n, n) in model  # the excerpt ends before Tmp_SF
                },
            )
        )
    return out


class Fc16Refused(_PlainContext):
    """Answers FC16 inside ``refused`` with exception 2, as the Plenticore does on model 123."""

    refused: range = range(0)

    async def async_setValues(self, device_id: Any, func_code: Any, address: Any, values: Any):
        if func_code == 16 and address in self.refused:
            return ExcCodes.ILLEGAL_ADDRESS
        return await super().async_setValues(device_id, func_code, address, values)


def driver_for(server: PlainModbusServer, profile: Profile | None = None) -> SunSpecDriver:
    link = TcpLink(
        "127.0.0.1", server.port, timeout_s=0.3, backoff=Backoff(initial_s=0.05, cap_s=0.2)
    )
    return SunSpecDriver(
        "ko",
        link,
        profile=profile or all_profiles()[PROFILE],
        poll_s=0.2,
        request_timeout_s=0.3,
    )


@pytest.mark.parametrize("index", [0, 1], ids=["plus7", "plus8"])
async def test_plenticore_dumps(index: int) -> None:
    readout = FIXTURE["readouts"][index]
    server = PlainModbusServer({UNIT: PlainUnit(holding=chain(readout_models(index)), fill=None)})
    async with server, running(driver_for(server)) as sink:
        expected = {f"ko-inverter.{p}": e for p, e in readout["expect"].items()}
        await verify(sink, expected, readout["source"])


async def test_the_limit_is_written_with_fc06_and_no_revert_timer(monkeypatch: Any) -> None:
    case = FIXTURE["limit"]
    models = [
        *readout_models(),
        ("120", {"WRtg": case["wrtg_w"], "WRtg_SF": 0}),
        ("123", {"WMaxLimPct": 100, "WMaxLim_Ena": 1, "WMaxLimPct_SF": case["wmaxlimpct_sf"]}),
    ]
    regs = chain(models)
    controls = next(a for a, w in regs.items() if w == 123 and regs.get(a + 1) == 24)
    pct_at = controls + 2 + LAYOUTS["123"]["points"]["WMaxLimPct"][0]
    ena_at = controls + 2 + LAYOUTS["123"]["points"]["WMaxLim_Ena"][0]
    Fc16Refused.refused = range(controls, controls + 26)
    monkeypatch.setattr("plain_modbus._PlainContext", Fc16Refused)
    server = PlainModbusServer({UNIT: PlainUnit(holding=regs, fill=None)})
    async with server:
        driver = driver_for(server)
        await driver.discover(timeout_s=5)
        async with running(driver) as sink:
            await verify(sink, {"ko-inverter.NominalPower": {"value": case["wrtg_w"]}}, "WRtg")
            result = await driver.write("ko-inverter", "ActivePowerLimit", case["write_w"])
            assert result.read_back == case["write_w"]
        sent = [(w.function, w.address, w.values) for w in server.writes]
        assert sent == [(6, pct_at, (case["expect_pct_raw"],)), (6, ena_at, (1,))]
