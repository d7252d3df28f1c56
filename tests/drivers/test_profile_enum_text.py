"""An ``enum`` may map a code to a text on an identification point (a model name), never on a
measured point, whose enum values are the model's numbers."""

from __future__ import annotations

from typing import Any

import pytest
from ampacity.drivers.profile import AssetMap
from pydantic import ValidationError


def asset(identification: dict[str, Any], points: dict[str, Any]) -> AssetMap:
    return AssetMap.model_validate(
        {"key": "pv", "kind": "PvInverter", "identification": identification, "points": points}
    )


def test_an_identification_code_may_name_a_model() -> None:
    built = asset({"Model": {"address": 4999, "enum": {0x2430: "SG5.0RT"}}}, {})
    assert built.identification["Model"].enum == {0x2430: "SG5.0RT"}


def test_a_measured_point_refuses_a_text_enum() -> None:
    with pytest.raises(ValidationError, match="texts only for identification"):
        asset({}, {"OperatingState": {"address": 5037, "enum": {0: "running"}}})
    assert asset({}, {"OperatingState": {"address": 5037, "enum": {0: 4}}}).points
