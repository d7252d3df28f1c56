"""The checked-in NodeSet2 XML is exactly what the generator writes, and its NodeIds are stable."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ampacity.assets import HEALTH_POINTS, IDENTIFICATION_POINTS, SPECS, AssetKind
from ampacity.nodesets import NODESET_PATH, TYPES_NAMESPACE_URI, generate
from ampacity.nodesets.nodeids import KIND_BLOCKS, POINT_SLOTS, member_id, owner_id

NS = {"ua": "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"}


def test_checked_in_nodeset_is_up_to_date(tmp_path: Path) -> None:
    fresh = tmp_path / "Ampacity.NodeSet2.xml"
    assert generate.main(["--output", str(fresh)]) == 0
    assert fresh.read_bytes() == NODESET_PATH.read_bytes(), (
        "nodesets/Ampacity.NodeSet2.xml is stale: run `python -m ampacity.nodesets.generate` "
        "and commit the result"
    )


def test_generation_is_byte_identical() -> None:
    assert generate.build() == generate.build()


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "stale.xml"
    stale.write_bytes(NODESET_PATH.read_bytes().replace(b"watt", b"Watt"))
    assert generate.main(["--check", "--output", str(stale)]) == 1
    assert generate.main(["--check", "--output", str(NODESET_PATH)]) == 0


def test_module_runs_as_a_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ampacity.nodesets.generate", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_kind_and_point_has_a_number() -> None:
    assert set(KIND_BLOCKS) == set(AssetKind)
    names = {p.name for p in (*IDENTIFICATION_POINTS, *HEALTH_POINTS)}
    names |= {p.name for spec in SPECS.values() for p in spec.points}
    assert names <= set(POINT_SLOTS), f"no slot for {sorted(names - set(POINT_SLOTS))}"
    assert len(set(POINT_SLOTS.values())) == len(POINT_SLOTS), "a slot is used twice"
    assert len(set(KIND_BLOCKS.values())) == len(KIND_BLOCKS), "a block is used twice"


def test_published_node_ids_do_not_move() -> None:
    """A few NodeIds clients may have stored: changing them breaks SCADA tag lists."""
    assert owner_id(KIND_BLOCKS[AssetKind.PV_INVERTER]) == 100000
    assert owner_id(KIND_BLOCKS[AssetKind.SITE]) == 230000
    assert member_id(KIND_BLOCKS[AssetKind.PV_INVERTER], "ActivePower") == 100110
    assert member_id(KIND_BLOCKS[AssetKind.BATTERY], "BatteryPowerSetpoint") == 110340


def parse() -> ET.Element:
    return ET.parse(NODESET_PATH).getroot()


def test_node_ids_are_unique_and_in_the_types_namespace() -> None:
    root = parse()
    assert [u.text for u in root.iterfind("ua:NamespaceUris/ua:Uri", NS)] == [TYPES_NAMESPACE_URI]
    ids = [node.get("NodeId") for node in root if node.get("NodeId")]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"ns=1;i=\d+", i or "") for i in ids)


def test_every_kind_has_its_type_with_all_points() -> None:
    root = parse()
    types = {
        node.get("BrowseName"): node.get("NodeId") for node in root.iterfind("ua:UAObjectType", NS)
    }
    for kind in AssetKind:
        type_id = types[f"1:{kind.type_name}"]
        children = {
            node.get("BrowseName")
            for node in root.iterfind("ua:UAVariable", NS)
            if node.get("ParentNodeId") == type_id
        }
        assert children == {f"1:{p.name}" for p in SPECS[kind].points}, kind


@pytest.mark.parametrize("kind", list(AssetKind), ids=lambda k: k.value)
def test_descriptions_carry_the_points_text(kind: AssetKind) -> None:
    root = parse()
    block = KIND_BLOCKS[kind]
    by_id = {node.get("NodeId"): node for node in root.iterfind("ua:UAVariable", NS)}
    for point in SPECS[kind].points:
        node = by_id[f"ns=1;i={member_id(block, point.name)}"]
        assert node.findtext("ua:Description", namespaces=NS) == point.description
