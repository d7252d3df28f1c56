"""The composition root: one running site (OPC UA server, address space, drivers, aggregates).

``run_site`` is what ``ampacity run`` calls; tests and benchmarks use ``start_site`` to get a
running site they can stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ampacity import __version__
from ampacity.assets import IDENTIFICATION_POINTS, SPECS, AssetKind, Quality, Reading
from ampacity.assets.kinds import MAX_POWER_W
from ampacity.control import ControlCycle
from ampacity.drivers.base import AssetInfo, Driver
from ampacity.drivers.runtime import Backoff
from ampacity.nodesets.loader import load_types
from ampacity.storage import EventKind, Historian
from ampacity.storage.events import SEVERITY_AUDIT
from asyncua import Server, ua

from .addressspace import AddressSpaceBuilder, AssetNodes
from .aggregates import SiteAggregator
from .alarms import AlarmService, install_alarms
from .config import SiteConfig
from .control import ControlRuntime
from .folders import device_folders
from .history import HistorianHealthNodes, enable_history, install_audit
from .loopwatch import (
    GcPauses,
    LoopStalls,
    collect_young_less_often,
    collector_paused,
    freeze_long_lived,
)
from .marketer import ExternalInterfaces
from .planning import PlanningRuntime
from .security import audit_to_historian, configure_security
from .security.transport import AmpacityServer
from .setpoints import RatingFromDevice, SetpointAttributeService, SetpointTarget
from .subscriptions import install_fast_subscriptions
from .writer import NodeWriter

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
"""How long shutdown waits for drivers and the writer to end."""

METER_ROLE_VALUES = {"grid": 0, "production": 1, "consumption": 2, "sub": 3}
DEFAULT_CHARGE_MODE = 1
"""``Fast``: what a charger does without an energy manager (the control config's ``mode`` of a
charge point overrides it)."""

SERVER_SIDE_POINTS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.CHARGE_POINT: ("ChargeMode",),
    AssetKind.ELECTRICITY_METER: ("Role",),
}
"""Points the server owns for every asset of a kind (configuration or control state)."""


class StartupError(Exception):
    """The site cannot start (the message says why and what to do); nothing keeps running."""


def check_port_free(host: str, port: int) -> None:
    """Fail early, before devices are touched, when the endpoint's port is taken.

    Raises:
        StartupError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(another server on that port? set server.port or --port)"
            ) from exc


@dataclass
class RunningSite:
    """A started site; ``stop()`` ends it."""

    config: SiteConfig
    server: Server
    writer: NodeWriter
    drivers: Sequence[Driver]
    site_ns: int
    types_ns: int
    historian: Historian
    control: ControlRuntime | None = None
    planning: PlanningRuntime | None = None
    alarms: AlarmService | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    gc_pauses: GcPauses = field(default_factory=GcPauses)
    """Garbage-collection pauses since start (s)."""
    loop_stalls: LoopStalls = field(default_factory=LoopStalls)
    """Event-loop stalls over 100 ms since start."""

    @property
    def endpoint(self) -> str:
        return self.config.server.endpoint

    def node_id(self, key: str) -> ua.NodeId:
        return ua.NodeId(key, self.site_ns)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        _, stuck = (
            await asyncio.wait(self.tasks, timeout=STOP_TIMEOUT_S) if self.tasks else (set(), set())
        )
        for task in stuck:  # never let one driver hold up the shutdown
            log.error("%s did not stop within %g s", task.get_name(), STOP_TIMEOUT_S)
        await self.server.stop()
        await self.historian.stop()
        self.gc_pauses.uninstall()
        gc.unfreeze()  # what this site froze may be collected again (tests start many sites)


async def _make_server(config: SiteConfig) -> Server:
    server = AmpacityServer()
    await server.init()
    server.set_endpoint(config.server.endpoint)
    server.set_server_name(f"{config.server.name} — {config.site.name}")
    await server.set_application_uri(f"urn:ampacity:server:{config.site.id}")
    await configure_security(server, config)
    return server


async def start_site(config: SiteConfig, drivers: Sequence[Driver]) -> RunningSite:
    """Build the address space for ``drivers``, start the OPC UA server and the drivers.

    The collector's automatic runs are held meanwhile; what start-up built is frozen at its end,
    uncollected (``freeze_long_lived``: start-up leaves a few dozen dead objects, a collection
    of the 1.26 million alive at 10,000 points took 0.8 s of CPU).
    """
    with collector_paused():
        return await _start_site(config, drivers)


async def _start_site(config: SiteConfig, drivers: Sequence[Driver]) -> RunningSite:
    config.server.data_dir.mkdir(parents=True, exist_ok=True)
    server = await _make_server(config)
    types_ns = await load_types(server)
    site_ns = await server.register_namespace(config.site.namespace_uri)
    writer = NodeWriter(server.iserver.aspace)
    install_fast_subscriptions(server, {site_ns})  # the writer's DataValues are never mutated
    builder = AddressSpaceBuilder(server, types_ns, site_ns, writer)
    site_id = config.site.id
    await builder.add_site(site_id, config.site.name)

    device_roles = {d.id: d.role for d in config.devices}
    aggregator = SiteAggregator(site_id, writer)
    targets: dict[str, SetpointTarget] = {}
    initial: list[Reading] = []
    now = datetime.now(UTC)
    configured_modes = {
        cp.id: int(cp.mode) for cp in (config.control.charge_points if config.control else ())
    }

    groups = device_folders(
        config.site.device_folders,
        [(d.device_id, d.assets[0].kind) for d in drivers if d.assets],
        {d.id: d.group for d in config.devices if d.group},
    )
    for driver in drivers:
        infos = driver.assets
        folder = driver.device_id if len(infos) > 1 else None
        group = groups.get(driver.device_id)
        if folder:
            await builder.add_device_folder(site_id, folder, folder, group)
        for info in infos:
            extra = SERVER_SIDE_POINTS.get(info.kind, ())
            points = tuple(dict.fromkeys((*info.points, *extra)))
            ranges = _rated_ranges(info, config)
            await builder.add_asset(
                site_id,
                AssetNodes(
                    info.asset_id, info.kind, points, ranges, device_folder=folder, group=group
                ),
            )
            spec = SPECS[info.kind]
            role = device_roles.get(driver.device_id)
            aggregator.add_asset(info.asset_id, info.kind, role)
            for name in points:
                point = spec.point(name)
                if point.writable:
                    targets[f"{info.asset_id}.{name}"] = SetpointTarget(
                        info.asset_id,
                        name,
                        point,
                        ranges.get(name, point.value_range),
                        driver.write if name in info.points else None,
                    )
            if info.kind is AssetKind.ELECTRICITY_METER:
                initial.append(
                    Reading(
                        info.asset_id, "Role", METER_ROLE_VALUES[role or "sub"], Quality.GOOD, now
                    )
                )
            if info.kind is AssetKind.CHARGE_POINT:
                mode = configured_modes.get(info.asset_id, DEFAULT_CHARGE_MODE)
                initial.append(Reading(info.asset_id, "ChargeMode", mode, Quality.GOOD, now))
            # Identification the device does not report stays an empty string (Good), so an HMI
            # shows "unknown" rather than an error; the driver overwrites what it reads.
            initial += [
                Reading(
                    info.asset_id,
                    f"Identification.{p.name}",
                    info.identification.get(p.name, ""),
                    Quality.GOOD,
                    now,
                )
                for p in IDENTIFICATION_POINTS
            ]

    site_spec = SPECS[AssetKind.SITE]
    for name in ("FeedInLimit", "GridImportLimit"):
        point = site_spec.point(name)
        targets[f"{site_id}.{name}"] = SetpointTarget(
            site_id, name, point, point.value_range, None, nullable=True
        )
    initial += [
        Reading(site_id, f"Identification.{k}", v, Quality.GOOD, now)
        for k, v in {
            "Manufacturer": "Ampacity",
            "Model": "Site",
            "SerialNumber": site_id,
            "FirmwareVersion": __version__,
            "DeviceProfile": "site",
        }.items()
    ]
    initial += [
        Reading(site_id, "Health.Connected", True, Quality.GOOD, now),
        Reading(site_id, "Health.ErrorCount", 0, Quality.GOOD, now),
        Reading(site_id, "Health.LastError", "", Quality.GOOD, now),
        Reading(site_id, "Health.PollDuration", 0.0, Quality.GOOD, now),
        # no limit configured: a Null value (Good), not a number
        Reading(site_id, "FeedInLimit", config.site.feed_in_limit_w, Quality.GOOD, now),
        Reading(site_id, "GridImportLimit", config.site.grid_import_limit_w, Quality.GOOD, now),
    ]
    control: ControlRuntime | None = None
    interfaces: ExternalInterfaces | None = None
    planning: PlanningRuntime | None = None
    if config.control is not None:
        cycle = ControlCycle(config.control.model_copy(update={"site": site_id}))
        control = ControlRuntime(cycle, writer, targets, site_id)
        control.declare_nodes(builder)
        initial += control.initial_readings(now)
        interfaces = ExternalInterfaces(control, site_id)
        interfaces.declare_nodes(builder)
        initial += interfaces.initial_readings(now)
        if config.control.planner is not None:
            planning = PlanningRuntime(
                control,
                None,
                site_id,
                config.site.latitude,
                config.site.longitude,
                config.control.tariff,
            )
            planning.declare_nodes(builder)
    await builder.commit()

    service = SetpointAttributeService(server.iserver.aspace, writer)
    for key, target in targets.items():
        service.add_target(builder.node_id(key), target)
    _allow_null(server, {builder.node_id(k) for k, t in targets.items() if t.nullable})
    server.iserver.attribute_service = service
    writer.add_listener(aggregator.on_change)
    writer.add_listener(RatingFromDevice(targets, _range_writer(server, builder), MAX_POWER_W))
    if control is not None and interfaces is not None:
        event_kinds = (AssetKind.TARIFF, AssetKind.RIPPLE_CONTROL_RECEIVER)
        control.watch(
            writer.keys,
            [i.asset_id for d in drivers for i in d.assets if i.kind in event_kinds],
        )
        service.observers.append(control.on_operator_write)
        writer.add_listener(control.on_change)
        await interfaces.add_methods(server, site_ns)
        writer.add_listener(interfaces.on_change)

    historian, health, historian_starting = await _start_historian(
        config, server, writer, site_ns, [d.assets for d in drivers]
    )
    try:
        audit_to_historian(server, historian, config.site.id)
        alarms = None
        if config.alarms.enabled:
            alarms = await install_alarms(
                server,
                site_ns,
                config.alarms,
                site_id,
                [(d.device_id, d.assets) for d in drivers],
                control=control is not None,
                historian=historian,
                health=historian.health,
            )
            writer.add_listener(alarms.on_reading)
        if planning is not None:
            planning.historian = historian
            writer.add_listener(planning.on_change)
        if interfaces is not None:
            interfaces.on_event = lambda source, text: historian.record_event(
                EventKind.SYSTEM, source, text, severity=SEVERITY_AUDIT, extra={"audit": "dimming"}
            )
        await historian_starting
    except BaseException:
        await _stop_historian(historian, historian_starting)
        raise
    health_task = asyncio.create_task(health.run(historian), name="historian-health")
    try:
        await server.start()
    except OSError as exc:
        await historian.stop()
        raise StartupError(
            f"cannot listen on {config.server.host}:{config.server.port}: {exc.strerror or exc}"
        ) from exc
    site = RunningSite(config, server, writer, drivers, site_ns, types_ns, historian, control)
    site.tasks.append(health_task)
    if alarms is not None:
        site.alarms = alarms
        site.tasks.append(asyncio.create_task(alarms.run(), name="alarms"))
    writer.publish(initial)
    site.tasks.append(asyncio.create_task(writer.run(), name="node-writer"))
    for driver in drivers:
        site.tasks.append(
            asyncio.create_task(_supervise(driver, writer), name=f"driver:{driver.device_id}")
        )
    if control is not None:
        site.tasks.append(asyncio.create_task(control.run(), name="control"))
    if planning is not None:
        site.tasks.append(asyncio.create_task(planning.run(), name="planning"))
    site.planning = planning
    site.gc_pauses.install()
    site.tasks.append(asyncio.create_task(site.loop_stalls.run(), name="loop-stalls"))
    # the address space and the configuration live as long as the site: keep the collector's
    # full runs from walking them again and again (they stopped the server for seconds); the
    # collection before it would walk them all once more to find a few dozen dead objects
    freeze_long_lived(collect=False)
    collect_young_less_often()
    log.info("serving %s with %d devices", config.server.endpoint, len(drivers))
    return site


HISTORIZED_HEALTH = ("Health.Connected",)
"""Health points recorded besides the asset points (connection history)."""


async def _start_historian(
    config: SiteConfig,
    server: Server,
    writer: NodeWriter,
    site_ns: int,
    assets: Sequence[Sequence[AssetInfo]],
) -> tuple[Historian, HistorianHealthNodes, asyncio.Task[None]]:
    """Open the historian, record every point, serve HistoryRead and the audit trail.

    The historian starts (disk buffer, database: 0.33 s, 0.14 s of it CPU, at 10,000 points)
    while the rest of start-up goes on: the returned task is to be awaited before serving, and
    the health nodes run from then on.
    """
    historian = Historian.open(config.storage, config.server.data_dir)
    nodes = {}
    for key in writer.keys:
        point = key.split(".", 1)[1]
        if point.startswith(("Identification.", "Health.")) and point not in HISTORIZED_HEALTH:
            continue
        historian.register_series(key, writer.slot(key).spec)
        nodes[key] = server.get_node(ua.NodeId(key, site_ns))
    starting = asyncio.create_task(historian.start(background=True), name="historian-start")
    try:
        writer.add_batch_listener(historian.on_readings)
        site_id = config.site.id
        sources = {site_id: server.get_node(ua.NodeId(site_id, site_ns))}
        for infos in assets:
            for info in infos:
                sources[info.asset_id] = server.get_node(ua.NodeId(info.asset_id, site_ns))
        await enable_history(
            server,
            historian,
            nodes,
            site_ns,
            event_sources=sources,
            max_message_size=config.security.connections.max_message_size,
        )
        install_audit(server, historian, site_ns)
        site_node = server.get_node(ua.NodeId(site_id, site_ns))
        folder = await site_node.add_object(
            ua.NodeId(f"{site_id}.Historian", site_ns), ua.QualifiedName("Historian", site_ns)
        )
        health = await HistorianHealthNodes.create(
            folder, site_ns, prefix=f"{site_id}.Historian.Health"
        )
        historian.record_event(
            EventKind.CONFIG_LOADED,
            site_id,
            f"site {site_id!r} loaded: {len(config.devices)} devices, {len(nodes)} recorded points",
        )
    except BaseException:
        await _stop_historian(historian, starting)
        raise
    return historian, health, starting


async def _stop_historian(historian: Historian, starting: asyncio.Task[None]) -> None:
    """Stop a historian whose start (``starting``) may still be under way or have failed."""
    with contextlib.suppress(Exception):
        await asyncio.shield(starting)  # its own error, if any, is the caller's to raise
    await historian.stop()


def _rated_ranges(info: AssetInfo, config: SiteConfig) -> dict[str, tuple[float, float]]:
    """The driver's setpoint ranges, a battery's narrowed to the control configuration's
    ``max_charge_w`` / ``max_discharge_w`` (W; the setpoint is + discharge)."""
    ranges = dict(info.ranges)
    name = "BatteryPowerSetpoint"
    if info.kind is not AssetKind.BATTERY or name not in info.points or config.control is None:
        return ranges
    battery = next((b for b in config.control.batteries if b.id == info.asset_id), None)
    model = SPECS[AssetKind.BATTERY].point(name).value_range
    if battery is None or model is None:
        return ranges
    low, high = ranges.get(name, model)
    if battery.max_charge_w is not None:
        low = max(low, -battery.max_charge_w)
    if battery.max_discharge_w is not None:
        high = min(high, battery.max_discharge_w)
    ranges[name] = (low, high)
    return ranges


def _allow_null(server: Server, node_ids: set[ua.NodeId]) -> None:
    """Let ``node_ids`` hold a Null value with a Good status (the site limits' "no limit").

    asyncua's address space refuses a Null Variant on a Double node unless the status is Bad;
    its type check is widened for these nodes only (a test reads the Null back).
    """
    aspace = server.iserver.aspace
    check = aspace._is_expected_variant_type

    def expected(value: ua.DataValue, attval: Any, node: Any) -> bool:
        variant = value.Value
        null = variant is not None and variant.VariantType == ua.VariantType.Null
        if null and node.nodeid in node_ids:
            return True
        return bool(check(value, attval, node))

    aspace._is_expected_variant_type = expected  # type: ignore[method-assign]


def _range_writer(
    server: Server, builder: AddressSpaceBuilder
) -> Callable[[str, tuple[float, float]], None]:
    """Writes a setpoint's EURange (for ``RatingFromDevice``; the writer task's loop)."""
    pending: set[asyncio.Task[None]] = set()

    async def write(key: str, value_range: tuple[float, float]) -> None:
        value = ua.DataValue(
            Value=ua.Variant(
                ua.Range(Low=value_range[0], High=value_range[1]), ua.VariantType.ExtensionObject
            )
        )
        status = await server.iserver.aspace.write_attribute_value(
            builder.node_id(f"{key}.EURange"), ua.AttributeIds.Value, value
        )
        if status.is_good():
            log.info("%s: range %.0f .. %.0f W from the device's maxima", key, *value_range)

    def schedule(key: str, value_range: tuple[float, float]) -> None:
        task = asyncio.get_running_loop().create_task(write(key, value_range))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return schedule


async def _supervise(driver: Driver, writer: NodeWriter) -> None:
    """Run a driver forever; a driver bug is logged and the driver restarted with backoff."""
    backoff = Backoff(initial_s=1.0, cap_s=60.0)
    while True:
        started = asyncio.get_running_loop().time()
        try:
            await driver.run(writer)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("driver %s crashed; restarting", driver.device_id)
            now = datetime.now(UTC)
            writer.publish(
                [
                    Reading(
                        info.asset_id,
                        "Health.LastError",
                        f"driver crashed: {exc!r}",
                        Quality.GOOD,
                        now,
                    )
                    for info in driver.assets
                ]
            )
        if asyncio.get_running_loop().time() - started > 60:
            backoff.reset()
        await asyncio.sleep(backoff.next_delay())


@contextlib.asynccontextmanager
async def running_site(config: SiteConfig, drivers: Sequence[Driver]) -> AsyncIterator[RunningSite]:
    site = await start_site(config, drivers)
    try:
        yield site
    finally:
        await site.stop()
