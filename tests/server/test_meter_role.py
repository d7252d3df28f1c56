"""A meter's Role comes from the site file (`role:`), whatever meter it is: a Janitza UMG 604
configured as the grid meter shows Role 0 (grid) and feeds GridPower's source, not the profile's
sub-meter constant."""

from __future__ import annotations

import socket
from pathlib import Path

from ampacity.server.app import start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import SecurityConfig
from asyncua import Client, ua


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_site_file_sets_a_meters_role(tmp_path: Path) -> None:
    nobody = free_port()  # no device answers: Role is the server's, not the device's
    config = SiteConfig.model_validate(
        {
            "server": {"port": free_port(), "data_dir": str(tmp_path)},
            "devices": [
                {"id": "main", "profile": "janitza_umg604", "host": "127.0.0.1", "port": nobody,
                 "role": "grid"},
                {"id": "pac", "profile": "siemens_sentron_pac2200", "host": "127.0.0.1",
                 "port": nobody, "role": "production"},
                {"id": "sub", "profile": "siemens_sentron_pac2200", "host": "127.0.0.1",
                 "port": nobody},
            ],
            "security": SecurityConfig.demo().model_dump(),
        }
    )  # fmt: skip
    context = build_context(config)
    site = await start_site(config, await build_drivers(config, context))
    try:
        async with Client(config.server.endpoint, timeout=10) as client:
            ns = await client.get_namespace_index(config.site.namespace_uri)

            async def role(asset: str) -> int:
                value = await client.get_node(ua.NodeId(f"{asset}.Role", ns)).read_value()
                return int(value)

            assert await role("main") == 0  # grid
            assert await role("pac") == 1  # production
            assert await role("sub") == 3  # sub-meter, the default
    finally:
        await site.stop()
        await context.aclose()
