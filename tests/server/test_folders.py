"""Device folders under the Site: the site file's `group:`, grouping by kind for large sites;
browse paths change, NodeIds never do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from ampacity.assets import AssetKind
from ampacity.nodesets import TYPES_NAMESPACE_URI
from ampacity.server.app import start_site
from ampacity.server.config import ConfigError, SiteConfig, load_config
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.folders import MAX_SITE_CHILDREN, device_folders
from ampacity.server.security import SecurityConfig
from asyncua import Client, ua

METER = AssetKind.ELECTRICITY_METER
PV = AssetKind.PV_INVERTER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_small_sites_keep_their_devices_under_the_site_unless_grouped() -> None:
    devices = [("grid", METER), ("pv", PV), ("sub1", METER)]
    assert device_folders("auto", devices, {}) == {}
    assert device_folders("auto", devices, {"sub1": "hall1"}) == {"sub1": "hall1"}
    assert device_folders("flat", devices, {"sub1": "hall1"}) == {"sub1": "hall1"}
    assert device_folders("kind", devices, {"sub1": "hall1"}) == {
        "grid": "ElectricityMeters",
        "pv": "PvInverters",
        "sub1": "hall1",
    }


def test_a_large_site_is_grouped_by_kind_unless_flat() -> None:
    devices = [(f"m{i}", METER) for i in range(MAX_SITE_CHILDREN)] + [("pv", PV)]
    small = devices[:MAX_SITE_CHILDREN]
    assert device_folders("auto", small, {}) == {}  # exactly the limit: flat still
    folders = device_folders("auto", devices, {})
    assert folders["m0"] == "ElectricityMeters" and folders["pv"] == "PvInverters"
    assert len(folders) == MAX_SITE_CHILDREN + 1
    assert device_folders("flat", devices, {}) == {}
    # grouped devices count as their folders: 200 meters in groups of 100 leave 3 children
    grouped = device_folders("auto", devices, {f"m{i}": f"g{i // 100}" for i in range(200)})
    assert grouped == {**{f"m{i}": f"g{i // 100}" for i in range(200)}}


def write_site(tmp_path: Path, devices: str, site: str = "") -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(f"site:\n  id: plant\n{site}devices:\n{devices}", encoding="utf-8")
    return path


def test_a_group_named_like_an_asset_is_a_located_error(tmp_path: Path) -> None:
    path = write_site(
        tmp_path,
        "  - {id: grid, profile: janitza_umg604, host: 192.0.2.1}\n"
        "  - {id: sub, profile: janitza_umg604, host: 192.0.2.2, group: grid}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [error] = caught.value.errors
    assert error.startswith("site.yaml:5: devices[1].group:")
    assert "'grid' is the id of an asset or device" in error


def test_a_group_name_must_be_an_id(tmp_path: Path) -> None:
    path = write_site(
        tmp_path, "  - {id: grid, profile: janitza_umg604, host: 192.0.2.1, group: hall 1}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors[0].startswith("site.yaml:4: devices[0].group:")


def test_an_unknown_folder_mode_is_a_located_error(tmp_path: Path) -> None:
    path = write_site(
        tmp_path,
        "  - {id: grid, profile: janitza_umg604, host: 192.0.2.1}\n",
        site="  device_folders: bus\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors[0].startswith("site.yaml:3: site.device_folders:")


def test_kind_folders_must_not_clash_with_an_asset_id(tmp_path: Path) -> None:
    path = write_site(
        tmp_path,
        "  - {id: ElectricityMeters, profile: janitza_umg604, host: 192.0.2.1}\n",
        site="  device_folders: kind\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "folder 'ElectricityMeters' is also an asset or device id" in caught.value.errors[0]
    assert caught.value.errors[0].startswith("site.yaml:5: devices[0].id:")


async def test_grouped_devices_are_browsed_in_their_folder_with_unchanged_node_ids(
    tmp_path: Path,
) -> None:
    nobody = free_port()  # no device answers: the address space is what is tested
    config = SiteConfig.model_validate(
        {
            "site": {"id": "plant"},
            "server": {"port": free_port(), "data_dir": str(tmp_path)},
            "devices": [
                {"id": "grid", "profile": "janitza_umg604", "host": "127.0.0.1", "port": nobody},
                {"id": "sub1", "profile": "janitza_umg604", "host": "127.0.0.1", "port": nobody,
                 "group": "hall1"},
                {"id": "station", "profile": "alfen_eve_double", "host": "127.0.0.1",
                 "port": nobody, "group": "hall1"},
            ],
            "security": SecurityConfig.demo().model_dump(),
        }
    )  # fmt: skip
    context = build_context(config)
    site = await start_site(config, await build_drivers(config, context))
    try:
        async with Client(config.server.endpoint, timeout=10) as client:
            ns = await client.get_namespace_index(config.site.namespace_uri)
            objects = client.nodes.objects

            types = await client.get_namespace_index(TYPES_NAMESPACE_URI)

            async def path(*names: str) -> ua.NodeId:
                """Site-namespace objects, then a point (its BrowseName is the type's)."""
                *objects_on_path, point = names
                steps = [f"{ns}:{n}" for n in objects_on_path]
                steps.append(f"{ns}:{point}" if point[0].islower() else f"{types}:{point}")
                node = await objects.get_child(steps)
                return node.nodeid

            # ungrouped: directly under the Site, as before
            assert await path("plant", "grid", "ActivePower") == ua.NodeId("grid.ActivePower", ns)
            # grouped: one folder more in the browse path, the same NodeId
            assert await path("plant", "hall1") == ua.NodeId("hall1", ns)
            assert await path("plant", "hall1", "sub1", "ActivePower") == ua.NodeId(
                "sub1.ActivePower", ns
            )
            assert await path("plant", "hall1", "station", "station-socket1") == ua.NodeId(
                "station-socket1", ns
            )
            folder = client.get_node(ua.NodeId("hall1", ns))
            type_def = await folder.read_type_definition()
            assert type_def == ua.NodeId(ua.ObjectIds.FolderType)
            children = {
                (await c.read_browse_name()).Name
                for c in await folder.get_children(refs=ua.ObjectIds.Organizes)
            }
            assert children == {"sub1", "station"}
            site_node = client.get_node(ua.NodeId("plant", ns))
            site_children = {  # the organising tree (an event notifier tree spans it too)
                (await c.read_browse_name()).Name
                for refs in (ua.ObjectIds.Organizes, ua.ObjectIds.HasComponent)
                for c in await site_node.get_children(refs=refs)
            }
            assert {"grid", "hall1"} <= site_children
            assert not {"sub1", "station"} & site_children
    finally:
        await site.stop()
        await context.aclose()
