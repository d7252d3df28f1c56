"""The nodeset loads in node-opcua, an OPC UA stack independent of asyncua (tests/nodeopcua)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ampacity.assets import SPECS, AssetKind
from ampacity.assets.units import UNECE_NAMESPACE_URI
from ampacity.nodesets import NODESET_PATH, TYPES_NAMESPACE_URI

pytestmark = pytest.mark.nodeopcua

PROJECT = Path(__file__).resolve().parents[1] / "nodeopcua"
NPM_CI_TIMEOUT_S = 300
LOAD_TIMEOUT_S = 90


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: the node-opcua test needs Node.js (>= 18) and npm; "
            f"install them (e.g. `apt-get install nodejs npm`) and rerun",
            pytrace=False,
        )
    return path


def install_node_opcua() -> None:
    """``npm ci`` from the committed lock file, once per checkout (scripts/test.sh does it too)."""
    if (PROJECT / "node_modules" / "node-opcua-address-space").is_dir():
        return
    result = subprocess.run(
        [tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_S,
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci in {PROJECT} failed:\n{result.stderr}", pytrace=False)


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    node = tool("node")
    install_node_opcua()
    result = subprocess.run(
        [node, "load_nodeset.js", str(NODESET_PATH), TYPES_NAMESPACE_URI],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=LOAD_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_loads_without_errors_or_warnings(summary: dict[str, Any]) -> None:
    assert summary["errors"] == []
    assert summary["messages"] == []
    assert summary["namespaceIndex"] >= 1


def test_every_kind_type_is_an_energy_asset(summary: dict[str, Any]) -> None:
    types = summary["types"]
    assert types["EnergyAssetType"]["isAbstract"] is True
    assert types["EnergyAssetType"]["supertype"] == "BaseObjectType"
    assert set(types["EnergyAssetType"]["objects"]) == {"Identification", "Health"}
    for kind in AssetKind:
        found = types[kind.type_name]
        assert found["supertype"] == "EnergyAssetType", kind
        assert found["isEnergyAsset"] is True, kind
        assert found["variableCount"] == len(SPECS[kind].points), kind


@pytest.mark.parametrize("kind", list(AssetKind), ids=lambda k: k.value)
def test_variables_are_typed_as_the_model_says(summary: dict[str, Any], kind: AssetKind) -> None:
    variables = summary["types"][kind.type_name]["variables"]
    for spec in SPECS[kind].points:
        found = variables[spec.name]
        assert found["modellingRule"] == "Optional"
        assert found["writable"] is spec.writable, spec.name
        assert found["description"] == spec.description
        if spec.is_analog:
            assert spec.unit is not None and spec.value_range is not None
            assert found["typeDefinition"] == "AnalogItemType"
            unit = found["engineeringUnits"]
            if spec.unit.unece_code:
                assert unit["namespaceUri"] == UNECE_NAMESPACE_URI
                assert unit["unitId"] == spec.unit.unit_id
            assert (found["euRange"]["low"], found["euRange"]["high"]) == spec.value_range
        elif spec.enum_values:
            assert found["typeDefinition"] == "MultiStateValueDiscreteType"
            assert found["enumValues"] == len(spec.enum_values)


def test_node_opcua_instantiates_every_kind_with_all_optionals(summary: dict[str, Any]) -> None:
    for kind in AssetKind:
        instance = summary["instances"][kind.type_name]
        expected = {"Identification", "Health", *SPECS[kind].point_names}
        assert set(instance["components"]) == expected, kind
        assert instance["identification"] == [
            "Manufacturer",
            "Model",
            "SerialNumber",
            "FirmwareVersion",
            "DeviceProfile",
        ]
        assert instance["health"] == [
            "Connected",
            "LastGood",
            "ErrorCount",
            "LastError",
            "PollDuration",
        ]
