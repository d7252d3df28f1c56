"""Model definitions from pysunspec2, decoding with scale factors, sentinels and signs."""

from __future__ import annotations

import math

import pytest
from ampacity.assets import Quality
from ampacity.drivers.codec import WireType, encode
from ampacity.drivers.sunspec.decode import ModelBlock
from ampacity.drivers.sunspec.mapping import meter_values, pv_values
from ampacity.drivers.sunspec.models import layout_of, model_def
from test_sunspec_support import Chain


@pytest.mark.parametrize(
    ("model_id", "point", "offset"),
    [
        # Offsets from the ID register, as in the fact sheet's §0 table (SunSpec model JSON).
        (1, "Mn", 2), (1, "Md", 18), (1, "SN", 50), (1, "DA", 66),
        (103, "W", 14), (103, "W_SF", 15), (103, "WH", 24), (103, "WH_SF", 26),
        (103, "DCW", 31), (103, "St", 38), (113, "W", 22), (113, "WH", 32), (113, "DCW", 38),
        (113, "St", 48), (120, "WRtg", 3), (120, "WRtg_SF", 4), (123, "WMaxLimPct", 5),
        (123, "WMaxLimPct_RvrtTms", 7), (123, "WMaxLim_Ena", 9), (123, "WMaxLimPct_SF", 23),
        (124, "StorCtl_Mod", 5), (124, "ChaState", 8), (124, "OutWRte", 12), (124, "InWRte", 13),
        (124, "InOutWRte_RvrtTms", 15), (124, "InOutWRte_SF", 25), (203, "W", 18),
        (203, "W_SF", 22), (203, "TotWhExp", 38), (203, "TotWhImp", 46), (203, "TotWh_SF", 54),
        (213, "W", 28), (213, "TotWhExp", 60), (213, "TotWhImp", 68), (802, "SoC", 11),
    ],
)  # fmt: skip
def test_point_offsets_come_from_pysunspec2(model_id: int, point: str, offset: int) -> None:
    definition = model_def(model_id)
    assert layout_of(model_id, definition.default_length)[point].offset == offset


def test_model_lengths_and_repeating_groups() -> None:
    assert model_def(103).default_length == 50
    assert model_def(113).default_length == 60
    assert model_def(203).default_length == 105
    assert model_def(213).default_length == 124
    mppt = model_def(160)
    assert mppt.repeat_count(48) == 2
    layout = mppt.layout(68)  # three modules
    assert layout["module[1].DCW"].offset == 21  # 10 + 20·0 + 11
    assert layout["module[3].DCW"].offset == 61
    # A shorter, older revision of a model: points past L are left out.
    assert "Pad" not in layout_of(1, 65) and "DA" in layout_of(1, 65)


def _block(chain: Chain, model_id: int) -> ModelBlock:
    start, length = chain.where[model_id]
    words = [chain.regs[start + i] for i in range(length + 2)]
    return ModelBlock(layout_of(model_id, length), words)


def test_scale_factors_and_signed_values() -> None:
    chain = Chain([103])
    chain.put(103, "W", -1234)  # int16: a negative AC power (consumption at night)
    chain.put(103, "W_SF", -1)
    chain.put(103, "WH", 123456)
    chain.put(103, "WH_SF", 3)
    chain.put(103, "Hz", 4998)
    chain.put(103, "Hz_SF", -2)
    values = pv_values({"inverter": _block(chain, 103)}, 3)
    assert values["ActivePower"].value == -123.4
    assert values["EnergyProduced"].value == 123456000.0
    assert values["Frequency"].value == 49.98


@pytest.mark.parametrize(
    ("model_id", "point", "words"),
    [
        (103, "W", [0x8000]),  # int16
        (103, "A", [0xFFFF]),  # uint16
        (103, "WH", [0, 0]),  # acc32 0: not accumulated
        (103, "St", [0xFFFF]),  # enum16
        (113, "W", encode(math.nan, WireType.F32)),  # float32 NaN
        (203, "TotWhImp", [0, 0]),
    ],
)
def test_not_implemented_patterns_are_bad_out_of_range(
    model_id: int, point: str, words: list[int]
) -> None:
    chain = Chain([model_id])
    for name in ("A_SF", "W_SF", "WH_SF", "TotWh_SF"):
        if name in layout_of(model_id, model_def(model_id).default_length):
            chain.put(model_id, name, 0)
    chain.put(model_id, point, words)
    block = _block(chain, model_id)
    assert block.get(point).quality is Quality.BAD_OUT_OF_RANGE
    assert block.get(point).value is None


def test_a_not_implemented_scale_factor_makes_its_values_bad() -> None:
    chain = Chain([103])
    chain.put(103, "W", 1000)
    chain.put(103, "W_SF", [0x8000])
    assert _block(chain, 103).get("W").quality is Quality.BAD_OUT_OF_RANGE


@pytest.mark.parametrize(("sign", "expected"), [(1, 2500.0), (-1, -2500.0)])
def test_meter_power_is_normalised_to_import_positive(sign: int, expected: float) -> None:
    chain = Chain([203])
    chain.put(203, "W", 2500)
    chain.put(203, "WphA", 2500)
    chain.put(203, "W_SF", 0)
    chain.put(203, "TotWhImp", 1000)
    chain.put(203, "TotWhExp", 2000)
    chain.put(203, "TotWh_SF", 0)
    values = meter_values(_block(chain, 203), 3, sign, 0)
    assert values["ActivePower"].value == expected
    assert values["ActivePowerL1"].value == expected
    assert values["EnergyImported"].value == 1000.0  # counters keep their direction
    assert values["EnergyExported"].value == 2000.0
    assert values["ActivePowerL2"].quality is Quality.BAD_OUT_OF_RANGE
