"""Generate ``Ampacity.NodeSet2.xml`` from :mod:`ampacity.assets`.

Run ``python -m ampacity.nodesets.generate`` after changing the asset vocabulary, and commit the
result; ``--check`` only compares and exits 1 when the checked-in file is stale. The output is a
pure function of the assets and of the NodeId tables in :mod:`.nodeids`: byte-identical on every
run.

The types (architecture §3):

* ``EnergyAssetType`` (abstract) with the mandatory objects ``Identification``
  (``IdentificationType``, a FolderType with the DI BrowseNames as String properties) and
  ``Health`` (``HealthType``);
* one subtype of it per asset kind (``PvInverterType`` … ``SiteType``) with every point of the
  kind as an optional variable: AnalogItemType (with EngineeringUnits and EURange),
  TwoStateDiscreteType, MultiStateValueDiscreteType or BaseDataVariableType.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ampacity.assets import (
    HEALTH_POINTS,
    IDENTIFICATION_POINTS,
    SPECS,
    AssetKind,
    PointSpec,
    Unit,
    ValueKind,
)
from ampacity.assets.units import UNECE_NAMESPACE_URI

from . import NODESET_PATH, TYPES_NAMESPACE_URI
from .nodeids import BLOCKS, Member, kind_block, member_id, owner_id

MODEL_VERSION = "0.1.0"
MODEL_PUBLICATION_DATE = "2026-11-23T00:00:00Z"
"""Fixed, not the generation time: the output must not change from run to run."""

UA_NAMESPACE_URI = "http://opcfoundation.org/UA/"
UA_REQUIRED_VERSION = "1.04"
UA_REQUIRED_PUBLICATION_DATE = "2019-05-01T00:00:00Z"
NODESET_XMLNS = "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"
TYPES_XMLNS = "http://opcfoundation.org/UA/2008/02/Types.xsd"
LOCALE = "en"

ALIASES: dict[str, str] = {
    "Boolean": "i=1",
    "Int32": "i=6",
    "UInt32": "i=7",
    "Double": "i=11",
    "String": "i=12",
    "DateTime": "i=13",
    "LocalizedText": "i=21",
    "Range": "i=884",
    "EUInformation": "i=887",
    "EnumValueType": "i=7594",
    "Organizes": "i=35",
    "HasModellingRule": "i=37",
    "HasTypeDefinition": "i=40",
    "HasSubtype": "i=45",
    "HasProperty": "i=46",
    "HasComponent": "i=47",
}

BASE_OBJECT_TYPE = "i=58"
FOLDER_TYPE = "i=61"
BASE_DATA_VARIABLE_TYPE = "i=63"
PROPERTY_TYPE = "i=68"
ANALOG_ITEM_TYPE = "i=2368"
TWO_STATE_DISCRETE_TYPE = "i=2373"
MULTI_STATE_VALUE_DISCRETE_TYPE = "i=11238"
MANDATORY = "i=78"
OPTIONAL = "i=80"
EU_INFORMATION_XML_ENCODING = "i=888"
RANGE_XML_ENCODING = "i=885"
ENUM_VALUE_TYPE_XML_ENCODING = "i=7616"

ACCESS_READ = 1
ACCESS_READ_WRITE = 3


def nid(identifier: int) -> str:
    """A NodeId of the types namespace (index 1 in the file's own NamespaceUris)."""
    return f"ns=1;i={identifier}"


def qname(name: str) -> str:
    """A BrowseName in the types namespace."""
    return f"1:{name}"


# --- small XML builders ---------------------------------------------------------------------------


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def number(value: float) -> str:
    """A Double as ``repr`` writes it: exact, locale-free and stable."""
    return repr(float(value))


def localized(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = sub(parent, tag)
    sub(element, "Locale", LOCALE)
    sub(element, "Text", text)
    return element


def extension_object(parent: ET.Element, encoding: str, body_tag: str) -> ET.Element:
    """An ExtensionObject in the Types namespace; returns the body element to fill."""
    ext = sub(parent, "ExtensionObject", xmlns=TYPES_XMLNS)
    sub(sub(ext, "TypeId"), "Identifier", encoding)
    return sub(sub(ext, "Body"), body_tag)


def references(node: ET.Element, refs: Iterable[tuple[str, str, bool]]) -> None:
    """Add ``(reference type, target, is forward)`` references to a node."""
    container = sub(node, "References")
    for ref_type, target, forward in refs:
        attrs = {"ReferenceType": ref_type}
        if not forward:
            attrs["IsForward"] = "false"
        sub(container, "Reference", target, **attrs)


def names(node: ET.Element, display_name: str, description: str | None) -> None:
    sub(node, "DisplayName", display_name)
    if description:
        sub(node, "Description", description)


# --- the address space model ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Child:
    """Where an instance declaration hangs: its parent, the reference to it, its rule."""

    parent: str
    block: int
    reference: str = "HasComponent"
    modelling_rule: str = OPTIONAL


class NodeSetBuilder:
    """Collects the nodes of the NodeSet in a fixed order."""

    def __init__(self) -> None:
        self.root = ET.Element(
            "UANodeSet",
            {
                "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                "xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
                "xmlns": NODESET_XMLNS,
                "LastModified": MODEL_PUBLICATION_DATE,
            },
        )
        sub(sub(self.root, "NamespaceUris"), "Uri", TYPES_NAMESPACE_URI)
        model = sub(
            sub(self.root, "Models"),
            "Model",
            ModelUri=TYPES_NAMESPACE_URI,
            Version=MODEL_VERSION,
            PublicationDate=MODEL_PUBLICATION_DATE,
        )
        sub(
            model,
            "RequiredModel",
            ModelUri=UA_NAMESPACE_URI,
            Version=UA_REQUIRED_VERSION,
            PublicationDate=UA_REQUIRED_PUBLICATION_DATE,
        )
        aliases = sub(self.root, "Aliases")
        for alias, target in ALIASES.items():
            sub(aliases, "Alias", target, Alias=alias)

    # object types and objects

    def object_type(
        self, block: int, name: str, supertype: str, description: str, abstract: bool = False
    ) -> str:
        node_id = nid(owner_id(block))
        attrs = {"NodeId": node_id, "BrowseName": qname(name)}
        if abstract:
            attrs["IsAbstract"] = "true"
        node = sub(self.root, "UAObjectType", **attrs)
        names(node, name, description)
        references(node, [("HasSubtype", supertype, False)])
        return node_id

    def object_declaration(
        self, block: int, name: str, type_id: str, child: Child, description: str
    ) -> str:
        node_id = nid(owner_id(block))
        node = sub(
            self.root, "UAObject", NodeId=node_id, BrowseName=qname(name), ParentNodeId=child.parent
        )
        names(node, name, description)
        references(
            node,
            [
                ("HasTypeDefinition", type_id, True),
                ("HasModellingRule", child.modelling_rule, True),
                (child.reference, child.parent, False),
            ],
        )
        return node_id

    # variables

    def point(self, spec: PointSpec, child: Child) -> None:
        """A point's variable declaration and the properties its VariableType asks for."""
        node_id = nid(member_id(child.block, spec.name))
        node = sub(
            self.root,
            "UAVariable",
            NodeId=node_id,
            BrowseName=qname(spec.name),
            ParentNodeId=child.parent,
            DataType=spec.data_type.value,
            **access_levels(spec),
        )
        names(node, spec.name, spec.description)
        references(
            node,
            [
                ("HasTypeDefinition", variable_type(spec, child), True),
                ("HasModellingRule", child.modelling_rule, True),
                (child.reference, child.parent, False),
            ],
        )
        for member, data_type, fill in point_properties(spec):
            self.property(child.block, spec.name, member, data_type, node_id, fill)

    def property(
        self,
        block: int,
        point_name: str,
        member: Member,
        data_type: str,
        parent: str,
        fill: ValueWriter | None,
    ) -> None:
        """A mandatory standard property (BrowseName in namespace 0) of a point's variable."""
        name = PROPERTY_NAMES[member]
        attrs = {
            "NodeId": nid(member_id(block, point_name, member)),
            "BrowseName": name,
            "ParentNodeId": parent,
            "DataType": data_type,
        }
        if member is Member.ENUM_VALUES:
            attrs |= {"ValueRank": "1", "ArrayDimensions": "0"}
        node = sub(self.root, "UAVariable", **attrs)
        names(node, name, None)
        references(
            node,
            [
                ("HasTypeDefinition", PROPERTY_TYPE, True),
                ("HasModellingRule", MANDATORY, True),
                ("HasProperty", parent, False),
            ],
        )
        if fill is not None:
            fill(sub(node, "Value"))

    def xml(self) -> bytes:
        tree = ET.ElementTree(self.root)
        ET.indent(tree, space="  ")
        body = ET.tostring(self.root, encoding="unicode", short_empty_elements=True)
        return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'.encode()


# --- per point typing -----------------------------------------------------------------------------

PROPERTY_NAMES: dict[Member, str] = {
    Member.ENGINEERING_UNITS: "EngineeringUnits",
    Member.EU_RANGE: "EURange",
    Member.TRUE_STATE: "TrueState",
    Member.FALSE_STATE: "FalseState",
    Member.ENUM_VALUES: "EnumValues",
    Member.VALUE_AS_TEXT: "ValueAsText",
}


ValueWriter = Callable[[ET.Element], None]
"""Fills a property's ``<Value>`` element."""


@dataclass(frozen=True, slots=True)
class EngineeringUnits:
    unit: Unit

    def __call__(self, value: ET.Element) -> None:
        body = extension_object(value, EU_INFORMATION_XML_ENCODING, "EUInformation")
        if self.unit.unece_code:
            sub(body, "NamespaceUri", UNECE_NAMESPACE_URI)
            sub(body, "UnitId", str(self.unit.unit_id))
        else:  # no UNECE code (a currency per energy): UnitId -1 means "not available"
            sub(body, "UnitId", "-1")
        localized(body, "DisplayName", self.unit.symbol)
        localized(body, "Description", self.unit.description)


@dataclass(frozen=True, slots=True)
class EURange:
    low: float
    high: float

    def __call__(self, value: ET.Element) -> None:
        body = extension_object(value, RANGE_XML_ENCODING, "Range")
        sub(body, "Low", number(self.low))
        sub(body, "High", number(self.high))


@dataclass(frozen=True, slots=True)
class Text:
    text: str

    def __call__(self, value: ET.Element) -> None:
        localized(value, "LocalizedText", self.text)


@dataclass(frozen=True, slots=True)
class EnumValues:
    values: tuple[tuple[int, str], ...]

    def __call__(self, value: ET.Element) -> None:
        array = sub(value, "ListOfExtensionObject", xmlns=TYPES_XMLNS)
        for number_, label in self.values:
            ext = sub(array, "ExtensionObject")
            sub(sub(ext, "TypeId"), "Identifier", ENUM_VALUE_TYPE_XML_ENCODING)
            body = sub(sub(ext, "Body"), "EnumValueType")
            sub(body, "Value", str(number_))
            localized(body, "DisplayName", label)
            localized(body, "Description", label)


PropertySpec = tuple[Member, str, ValueWriter | None]


def access_levels(spec: PointSpec) -> dict[str, str]:
    """AccessLevel, and UserAccessLevel where it differs from the schema's default (read)."""
    if spec.writable:
        level = str(ACCESS_READ_WRITE)
        return {"AccessLevel": level, "UserAccessLevel": level}
    return {"AccessLevel": str(ACCESS_READ)}


def variable_type(spec: PointSpec, child: Child) -> str:
    if child.reference == "HasProperty":
        return PROPERTY_TYPE
    if spec.is_analog:
        return ANALOG_ITEM_TYPE
    if spec.kind is ValueKind.DISCRETE:
        return TWO_STATE_DISCRETE_TYPE
    if spec.kind is ValueKind.ENUM:
        return MULTI_STATE_VALUE_DISCRETE_TYPE
    return BASE_DATA_VARIABLE_TYPE


def point_properties(spec: PointSpec) -> list[PropertySpec]:
    """The properties of a point's variable, in NodeId order."""
    if spec.is_analog:
        assert spec.unit is not None, f"{spec.name}: an analog point needs a unit"
        assert spec.value_range is not None, f"{spec.name}: an analog point needs a range"
        return [
            (Member.ENGINEERING_UNITS, "EUInformation", EngineeringUnits(spec.unit)),
            (Member.EU_RANGE, "Range", EURange(*spec.value_range)),
        ]
    if spec.kind is ValueKind.DISCRETE:
        return [
            (Member.TRUE_STATE, "LocalizedText", Text(spec.true_label)),
            (Member.FALSE_STATE, "LocalizedText", Text(spec.false_label)),
        ]
    if spec.kind is ValueKind.ENUM:
        values = tuple(sorted(spec.enum_values.items()))
        return [
            (Member.ENUM_VALUES, "EnumValueType", EnumValues(values)),
            (Member.VALUE_AS_TEXT, "LocalizedText", None),
        ]
    return []


# --- the types ------------------------------------------------------------------------------------


def add_identification(builder: NodeSetBuilder, block: int, parent: str) -> None:
    for spec in IDENTIFICATION_POINTS:
        builder.point(spec, Child(parent, block, "HasProperty", MANDATORY))


def add_health(builder: NodeSetBuilder, block: int, parent: str) -> None:
    for spec in HEALTH_POINTS:
        builder.point(spec, Child(parent, block, "HasComponent", MANDATORY))


def add_common_types(builder: NodeSetBuilder) -> str:
    """``IdentificationType``, ``HealthType`` and ``EnergyAssetType``; returns the latter's id."""
    block = BLOCKS["IdentificationType"]
    ident_type = builder.object_type(
        block, "IdentificationType", FOLDER_TYPE, "Nameplate of a device (OPC UA DI BrowseNames)."
    )
    add_identification(builder, block, ident_type)

    block = BLOCKS["HealthType"]
    health_type = builder.object_type(
        block, "HealthType", BASE_OBJECT_TYPE, "How well the driver talks to the device."
    )
    add_health(builder, block, health_type)

    asset_type = builder.object_type(
        BLOCKS["EnergyAssetType"],
        "EnergyAssetType",
        BASE_OBJECT_TYPE,
        "An energy asset of the site: a device, an external service or the site itself.",
        abstract=True,
    )
    block = BLOCKS["EnergyAssetType.Identification"]
    ident = builder.object_declaration(
        block,
        "Identification",
        ident_type,
        Child(asset_type, block, modelling_rule=MANDATORY),
        "Nameplate of the device behind the asset.",
    )
    add_identification(builder, block, ident)
    block = BLOCKS["EnergyAssetType.Health"]
    health = builder.object_declaration(
        block,
        "Health",
        health_type,
        Child(asset_type, block, modelling_rule=MANDATORY),
        "Communication health of the asset's driver.",
    )
    add_health(builder, block, health)
    return asset_type


def add_kind_type(builder: NodeSetBuilder, kind: AssetKind, asset_type: str) -> None:
    spec = SPECS[kind]
    block = kind_block(kind)
    type_id = builder.object_type(block, kind.type_name, asset_type, spec.description)
    for point in spec.points:
        builder.point(point, Child(type_id, block))


def build() -> bytes:
    """The complete NodeSet2 XML document."""
    builder = NodeSetBuilder()
    asset_type = add_common_types(builder)
    for kind in AssetKind:
        add_kind_type(builder, kind, asset_type)
    return builder.xml()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ampacity.nodesets.generate")
    parser.add_argument(
        "--check", action="store_true", help="compare with the checked-in file, write nothing"
    )
    parser.add_argument("--output", type=Path, default=NODESET_PATH, help="where to write")
    args = parser.parse_args(argv)
    xml = build()
    if args.check:
        if args.output.exists() and args.output.read_bytes() == xml:
            return 0
        print(
            f"{args.output} is stale: run `python -m ampacity.nodesets.generate`", file=sys.stderr
        )
        return 1
    args.output.write_bytes(xml)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
