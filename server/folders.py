"""Which folder under the Site object each device's assets hang in.

A large site would otherwise put hundreds of assets directly under the Site object (834 for
10,000 meter points): slow to browse for a SCADA tag browser, and asyncua inserts a child in time
linear in its parent's number of children. Folders change browse paths only; NodeIds stay
``<asset-id>.<Point>``.

* A device with ``group: <name>`` in the site file sits in the folder ``<name>`` (NodeId
  ``s=<name>``, a FolderType organised by the Site).
* ``site.device_folders`` decides for the devices without a group:

  - ``auto`` (default): directly under the Site, as before, while the Site has at most
    ``MAX_SITE_CHILDREN`` children; a larger site groups them by asset kind
    (``ElectricityMeters``, ``PvInverters`` ...);
  - ``flat``: always directly under the Site (the layout of earlier versions);
  - ``kind``: always by asset kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ampacity.assets import AssetKind

MAX_SITE_CHILDREN = 200
"""Above this many devices (and groups) directly under the Site, ``auto`` groups by kind."""

KIND_FOLDERS: dict[AssetKind, str] = {
    AssetKind.PV_INVERTER: "PvInverters",
    AssetKind.BATTERY: "Batteries",
    AssetKind.CHARGE_POINT: "ChargePoints",
    AssetKind.ELECTRICITY_METER: "ElectricityMeters",
    AssetKind.HEAT_METER: "HeatMeters",
    AssetKind.GAS_METER: "GasMeters",
    AssetKind.HEAT_PUMP: "HeatPumps",
    AssetKind.HEATING_ROD: "HeatingRods",
    AssetKind.FUEL_CELL: "FuelCells",
    AssetKind.CHP: "Chps",
    AssetKind.ELECTROLYSER: "Electrolysers",
    AssetKind.RIPPLE_CONTROL_RECEIVER: "RippleControlReceivers",
    AssetKind.TARIFF: "Tariffs",
    AssetKind.SITE: "Sites",
}
"""Folder name (BrowseName and NodeId ``s=<name>``) per asset kind, for grouping by kind."""


def device_folders(
    mode: str,
    devices: Iterable[tuple[str, AssetKind]],
    groups: Mapping[str, str],
) -> dict[str, str]:
    """The folder of each device that has one.

    Args:
        mode: ``auto``, ``flat`` or ``kind`` (``site.device_folders``).
        devices: (device id, kind of its first asset) of every device, in site-file order.
        groups: device id -> its ``group:`` from the site file.

    Returns:
        device id -> folder name; devices directly under the Site are absent.
    """
    devices = list(devices)
    folders = {device: groups[device] for device, _ in devices if device in groups}
    ungrouped = [(device, kind) for device, kind in devices if device not in groups]
    by_kind = mode == "kind" or (
        mode == "auto" and len(ungrouped) + len(set(folders.values())) > MAX_SITE_CHILDREN
    )
    if by_kind:
        folders.update({device: KIND_FOLDERS[kind] for device, kind in ungrouped})
    return folders
