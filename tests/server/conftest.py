"""A running demo site for the server's end-to-end tests (one per test module).

The demo's end-to-end files (``DEMO_E2E``) also run with the demo's simulated day starting at
fixed local times, each such run a test module of its own (``--demo-starts 03:00,12:00,20:00``,
as ``scripts/test.sh`` runs the suite): its node id is the file's with ``@HH:MM``
(``tests/server/test_demo_e2e.py@03:00::test_...``), so ``--dist loadfile`` spreads the runs over
the workers like any other file, and each builds its own demo site starting then.
"""

from __future__ import annotations

import contextlib
import socket
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from ampacity.server.app import RunningSite, start_site
from ampacity.server.demo import Demo, demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.sim.clock import DEMO_START_ENV
from asyncua import Client

HERE = Path(__file__).parent
DEMO_E2E = ("test_demo_e2e.py", "test_control_e2e.py", "test_marketer_e2e.py")
"""The end-to-end files on the demo whose results may depend on the demo's time of day."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "demo_start(hhmm): the module's demo starts its simulated day at HH:MM"
    )
    option = str(config.getoption("demo_starts", default="") or "")
    for start in dict.fromkeys(s.strip() for s in option.split(",") if s.strip()):
        config.pluginmanager.register(DemoStartModules(start), f"demo-start-{start}")


@dataclass(frozen=True)
class DemoStartModules:
    """A plugin that collects each file of ``DEMO_E2E`` once more as a module whose demo starts
    at ``start`` (``HH:MM``); the file's own module (the demo on the wall clock) is collected
    as usual besides. One plugin per start: a hook returns one collector per file."""

    start: str

    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> pytest.Module | None:
        if file_path.parent != HERE or file_path.name not in DEMO_E2E:
            return None
        base = pytest.Module.from_parent(parent, path=file_path).nodeid
        module = OwnNamespaceModule.from_parent(
            parent,
            path=file_path,
            name=f"{file_path.name}@{self.start}",
            nodeid=f"{base}@{self.start}",
        )
        module.add_marker(pytest.mark.demo_start(self.start))
        return module


class OwnNamespaceModule(pytest.Module):
    """A second collection of a test file under a node id of its own, holding its own module
    namespace (a copy of the file's imported module).

    pytest parses a module's fixtures once per module object and binds them to the node that
    parsed them first; two collectors of one imported module would leave one of them without
    the file's own fixtures (which one depends on the pytest version and the collection order).
    A namespace of its own gives this node its own fixture definitions."""

    def _getobj(self) -> types.ModuleType:
        shared = super()._getobj()
        own = types.ModuleType(f"{shared.__name__}@{self.name.rpartition('@')[2]}")
        own.__dict__.update({k: v for k, v in vars(shared).items() if k != "__name__"})
        return own


@contextlib.contextmanager
def demo_start_of(node: pytest.Item | pytest.Collector) -> Iterator[str | None]:
    """``AMPACITY_DEMO_START`` as ``node``'s module asks (its ``demo_start`` mark) for the block
    (a module-scoped demo: the whole module, as if the run had the variable set); without the
    mark the environment is left as it is. Yields the start time, ``None`` when unmarked."""
    mark = node.get_closest_marker("demo_start")
    if mark is None:
        yield None
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DEMO_START_ENV, str(mark.args[0]))
        yield str(mark.args[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_demo_started(demo: Demo, start: str | None) -> None:
    """The demo's simulated day began at ``start`` (``HH:MM`` site time; ``None``: no check):
    its clock reads at most 5 minutes past it."""
    if start is None:
        return
    physics = demo.sims.physics
    assert physics is not None
    local = physics.clock.now().astimezone(physics.zone)
    hour, minute = (int(part) for part in start.split(":"))
    began = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    assert began <= local < began + timedelta(minutes=5), f"demo at {local}, asked for {start}"


@dataclass
class DemoUnderTest:
    demo: Demo
    site: RunningSite
    client: Client
    ns: int
    """Index of the site namespace, resolved from its URI as a client should."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def running_demo(request, tmp_path_factory) -> AsyncIterator[DemoUnderTest]:  # type: ignore[no-untyped-def]
    data_dir: Path = tmp_path_factory.mktemp("demo-data")
    with demo_start_of(request.node) as start:
        async with demo_site(data_dir=data_dir, port=free_port()) as demo:
            assert_demo_started(demo, start)
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
