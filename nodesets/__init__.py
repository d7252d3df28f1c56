"""The OPC UA types of the information model as a NodeSet2 XML file, its generator and its loader.

``Ampacity.NodeSet2.xml`` is generated from :mod:`ampacity.assets` by
``python -m ampacity.nodesets.generate``; never edit it by hand.
"""

from pathlib import Path

TYPES_NAMESPACE_URI = "http://ampacity.dev/UA/Energy/"
"""The namespace of the ObjectTypes (instances live in the server's site namespace)."""

NODESET_PATH = Path(__file__).with_name("Ampacity.NodeSet2.xml")
"""The generated NodeSet2 XML, shipped as package data."""

__all__ = ["NODESET_PATH", "TYPES_NAMESPACE_URI"]
