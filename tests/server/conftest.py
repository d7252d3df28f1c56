"""A running demo site for the server's end-to-end tests (one per test module)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from ampacity.server.app import RunningSite, start_site
from ampacity.server.demo import Demo, demo_site
from ampacity.server.factory import build_context, build_drivers
from asyncua import Client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoUnderTest:
    demo: Demo
    site: RunningSite
    client: Client
    ns: int
    """Index of the site namespace, resolved from its URI as a client should."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running_demo(tmp_path_factory) -> AsyncIterator[DemoUnderTest]:  # type: ignore[no-untyped-def]
    data_dir: Path = tmp_path_factory.mktemp("demo-data")
    async with demo_site(data_dir=data_dir, port=free_port()) as demo:
        context = build_context(demo.config)
        drivers = await build_drivers(demo.config, context)
        site = await start_site(demo.config, drivers)
        client = Client(demo.config.server.endpoint, timeout=10)
        try:
            await client.connect()
            ns = await client.get_namespace_index(demo.config.site.namespace_uri)
            yield DemoUnderTest(demo, site, client, ns)
        finally:
            await client.disconnect()
            await site.stop()
            await context.aclose()
