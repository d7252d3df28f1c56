"""``SunSpecDriver``: one SunSpec device (one Modbus connection, one or more unit ids).

Life cycle, as the server uses it (for every device whose profile says ``driver: sunspec``)::

    config = ModbusDeviceConfig("pv1", tcp=TcpEndpoint("192.0.2.20"))    # as for the engine
    driver = SunSpecDriver.from_device_config(all_profiles()["fronius_symo"], config,
                                              registry=registry, meter_role="grid")
    assets = await driver.discover(timeout_s=10)   # never raises for device faults
    ...build the address space from ``assets``...
    await driver.run(sink)                          # until cancelled
    await driver.close()                            # gives the shared link back

or with any ``ModbusLink``: ``SunSpecDriver("pv1", link, profile=profile)``.

``discover`` walks the model chain of every unit id the profile names (the inverter's unit, a
Fronius smart meter's 240). If the device does not answer in time, ``assets`` falls back to the
profile's declared assets with the points a typical device of the kind has
(``mapping.DEFAULT_POINTS``), and ``run`` keeps trying to discover. Either way ``assets`` is fixed
once ``discover`` returned: the address space is built once, so a later discovery maps onto these
assets (points the device lacks are never published; extra ones are ignored, with a warning).

Asset ids are ``<device-id>-<key>`` (``pv1-inverter``, ``pv1-meter``) unless ``asset_ids`` renames
a key. Quality: a point the device reports as "not implemented" is ``BAD_OUT_OF_RANGE``; when a
unit stops answering its assets' last values are republished as ``UNCERTAIN_LAST_USABLE`` (the
first failed poll, i.e. within one poll interval plus one request timeout), never-read points as
``BAD_COMMUNICATION_ERROR``; the next good poll makes them ``GOOD`` again. After a failure the
driver waits with exponential backoff and jitter (poll interval doubling up to ``backoff_max_s``),
takes a new link from the factory if it was given one, re-walks the chains and rebuilds the
register layout if a chain changed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from ampacity.assets import (
    SPECS,
    AssetKind,
    OutOfRangeError,
    PointValue,
    Quality,
    Reading,
    ReadingSink,
    WriteError,
    WriteResult,
)
from ampacity.assets.kinds import METER_ROLES
from ampacity.drivers.base import AssetInfo
from ampacity.drivers.modbus.config import ModbusDeviceConfig
from ampacity.drivers.modbus.link import QueuedLink
from ampacity.drivers.modbus.registry import DEFAULT_REGISTRY, LinkRegistry
from ampacity.drivers.modbus.transport import ModbusExceptionResponse, ModbusIOError, ModbusLink
from ampacity.drivers.profile import Profile, SunSpecOptions
from ampacity.drivers.runtime import Backoff, FailureLog

from .chain import Chain, DiscoveryError, ModelInstance, NoSunSpecError, discover_chain
from .decode import ModelBlock, Value
from .links import shared_link
from .mapping import (
    DEFAULT_POINTS,
    AssetPlan,
    assign_keys,
    battery_values,
    charge_base_w,
    identification,
    meter_values,
    plan_assets,
    pv_values,
    wmax,
)
from .reader import read_blocks
from .state import AssetState
from .writes import SetpointWriter

log = logging.getLogger(__name__)

LinkFactory = Callable[[], ModbusLink | Awaitable[ModbusLink]]
"""Makes a link when the driver first needs one. After a failure the driver closes a link of its
own kind and asks for a new one; an engine ``QueuedLink`` (maybe shared) is kept, it reconnects
by itself."""

_IO_ERRORS = (ModbusIOError, TimeoutError, OSError)
PENDING_RETRY_S = 30.0
"""How often a declared unit id that did not answer discovery is tried again, s."""
_ROLE_VALUES = {name: value for value, name in METER_ROLES.items()}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Binding:
    """An asset of the driver and the models it is read from (``plan`` None: not discovered)."""

    key: str
    kind: AssetKind
    unit_id: int
    info: AssetInfo
    state: AssetState
    plan: AssetPlan | None = None


class SunSpecDriver:
    """A SunSpec device, discovered by walking its model chain.

    Args:
        device_id: the configured device id (asset ids are ``<device_id>-<key>``).
        link: a ``ModbusLink``, or a factory making one (sync or async).
        profile: a ``driver: sunspec`` profile: the expected assets and unit ids, the SunSpec
            options; without one, every model on ``unit_id`` becomes an asset.
        unit_id: unit id of the main device (the inverter); default the profile's.
        asset_ids: asset key -> asset id renames.
        poll_s: poll interval, s; default the profile's.
        meter_role: ``grid``, ``production``, ``consumption`` or ``sub`` for the meters' ``Role``.
        request_timeout_s: per request; default the smaller of the profile's timeout and
            ``poll_s``, so a silent device is noticed within one poll interval.
        backoff_max_s: the longest pause between reconnect attempts, s.
        rng: random source of the backoff jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        device_id: str,
        link: ModbusLink | LinkFactory,
        *,
        profile: Profile | None = None,
        unit_id: int | None = None,
        asset_ids: Mapping[str, str] | None = None,
        poll_s: float | None = None,
        meter_role: str = "grid",
        request_timeout_s: float | None = None,
        backoff_max_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.device_id = device_id
        if hasattr(link, "read_holding_registers"):
            self._link: ModbusLink | None = link  # type: ignore[assignment]
            self._factory: LinkFactory | None = None
        else:
            self._link = None
            self._factory = link  # type: ignore[assignment]
        self._profile = profile
        self._options = profile.sunspec if profile and profile.sunspec else SunSpecOptions()
        self._main_unit = (
            unit_id if unit_id is not None else (profile.transport.unit_id if profile else 1)
        )
        self._declared: list[tuple[str, AssetKind, int]] = [
            (a.key, a.kind, a.unit_id if a.unit_id is not None else self._main_unit)
            for a in (profile.assets if profile else ())
        ]
        self._declared_points = {
            a.key: tuple(a.points) for a in (profile.assets if profile else ()) if a.points
        }
        units = [self._main_unit] + [u for _, _, u in self._declared]
        self._units = list(dict.fromkeys(units))
        self._asset_ids = dict(asset_ids or {})
        self._poll_s = poll_s if poll_s is not None else (profile.poll_s if profile else 1.0)
        transport_timeout = profile.transport.timeout_s if profile else 1.0
        self._timeout = request_timeout_s or min(transport_timeout, self._poll_s)
        if meter_role not in _ROLE_VALUES:
            raise ValueError(f"meter_role must be one of {', '.join(_ROLE_VALUES)}")
        self._role = _ROLE_VALUES[meter_role]
        self._backoff = Backoff(
            self._poll_s, max(self._poll_s, backoff_max_s), rng=rng or random.Random()
        )
        self._failures = FailureLog(log, device_id)
        self._bindings: list[_Binding] = []
        self._assets: tuple[AssetInfo, ...] = ()
        self._fixed = False
        self._chains: dict[int, Chain] = {}
        self._pending_units: set[int] = set()
        self._next_pending_check = 0.0
        self._blocks: dict[ModelInstance, ModelBlock] = {}
        self._writer = SetpointWriter(
            self._blocks, self._timeout, single=self._options.single_register_writes
        )
        self._identification: dict[str, dict[str, str]] = {}
        self._check_chains = False
        self._held: dict[tuple[str, str], tuple[float, float]] = {}
        self._sink: ReadingSink | None = None
        self._pending_readings: list[Reading] = []
        self._release_link: Callable[[], Awaitable[None]] | None = None

    @classmethod
    def from_device_config(
        cls,
        profile: Profile,
        config: ModbusDeviceConfig,
        *,
        registry: LinkRegistry | None = None,
        meter_role: str = "grid",
    ) -> SunSpecDriver:
        """A driver on the shared link of ``config``'s TCP endpoint or RS485 bus (the Modbus
        engine's ``LinkRegistry``); ``close`` gives the link back to the registry."""
        registry = registry or DEFAULT_REGISTRY
        link = shared_link(profile, config, registry)
        driver = cls(
            config.device_id,
            link,
            profile=profile,
            unit_id=config.unit_id,
            asset_ids=config.asset_ids,
            poll_s=config.poll_s,
            meter_role=meter_role,
            request_timeout_s=config.timeout_s,
        )
        driver._release_link = partial(registry.release, link)
        return driver

    # --- public interface ------------------------------------------------------------------

    @property
    def assets(self) -> tuple[AssetInfo, ...]:
        """The assets (profile defaults until ``discover`` returned, fixed afterwards)."""
        return self._assets if self._assets else self._fallback_assets()

    @property
    def discovered(self) -> bool:
        """The main unit's model chain is known."""
        return self._main_unit in self._chains

    @property
    def chains(self) -> dict[int, Chain]:
        """The discovered model chain per unit id."""
        return dict(self._chains)

    async def discover(self, timeout_s: float = 10.0) -> tuple[AssetInfo, ...]:
        """Discover the device and fix ``assets``; never raises for device faults.

        Returns the discovered assets, or the profile's declared ones (with default points)
        when the device did not answer within ``timeout_s``.
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._discover()
        except (*_IO_ERRORS, DiscoveryError) as exc:
            message = f"discovery failed: {exc or type(exc).__name__}"
            log.warning("%s: %s", self.device_id, message)
            if not self._bindings:
                self._bind_fallback()
            for binding in self._bindings:
                binding.state.health.error_count += 1
                binding.state.health.last_error = message
        self._fixed = True
        self._assets = tuple(b.info for b in self._bindings)
        return self._assets

    async def run(self, sink: ReadingSink) -> None:
        """Poll and publish until cancelled; reconnects on its own."""
        self._sink = sink
        if not self._fixed:
            await self.discover()
        self._publish_identification()
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            ok = False
            try:
                if not self.discovered:
                    await self._discover()
                    self._publish_identification()
                ok = await self._poll(sink)
            except (*_IO_ERRORS, DiscoveryError) as exc:
                self._fail(self._bindings, f"{self._endpoint()}: {exc or type(exc).__name__}")
                self._flush(sink)
            if ok:
                self._backoff.reset()
                self._failures.recovered(loop.time())
                await self._refresh_setpoints()
                delay = self._poll_s - (loop.time() - started)
            else:
                self._check_chains = True
                await self._drop_link()
                delay = self._backoff.next_delay()
            await asyncio.sleep(max(0.0, delay))

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Write ``ActivePowerLimit`` (W) or ``BatteryPowerSetpoint`` (W, + = discharge).

        Raises:
            OutOfRangeError: not a finite number, or outside the asset's range; nothing written.
            WriteError: unknown asset/point, device not discovered, or the device failed.
        """
        binding = self._binding(asset_id)
        if point not in binding.info.points or not SPECS[binding.kind].point(point).writable:
            raise WriteError(f"{asset_id}.{point} is not a writable point of this device")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OutOfRangeError(f"{asset_id}.{point}: {value!r} is not a number")
        number = float(value)
        low, high = (
            binding.info.ranges.get(point)
            or SPECS[binding.kind].point(point).value_range
            or (-math.inf, math.inf)
        )
        if not math.isfinite(number) or not low <= number <= high:
            raise OutOfRangeError(f"{asset_id}.{point}: {value} outside [{low}, {high}]")
        plan = binding.plan
        if plan is None:
            raise WriteError(f"{asset_id}.{point}: device not discovered yet")
        try:
            link = await self._get_link()
            revert = self._options.revert_s
            if point == "ActivePowerLimit":
                done = await self._writer.active_power_limit(link, plan, number, revert)
            elif point == "BatteryPowerSetpoint":
                done = await self._writer.battery_power(link, plan, number, revert)
            else:
                raise WriteError(f"{asset_id}.{point}: not supported by the SunSpec driver")
        except (*_IO_ERRORS, ValueError) as exc:
            message = f"{self._endpoint()} unit {plan.unit_id}: writing {point}={value}: {exc}"
            binding.state.health.error_count += 1
            binding.state.health.last_error = message
            raise WriteError(message) from exc
        key = (asset_id, point)
        if done.holds:
            self._held[key] = (number, asyncio.get_running_loop().time())
        else:
            self._held.pop(key, None)
        return WriteResult(value, done.written, done.read_back, done.clamped)

    async def release(self, asset_id: str, point: str) -> None:
        """Stop holding a setpoint and hand control back to the device (``WMaxLim_Ena`` = 0 or
        ``StorCtl_Mod`` = 0).

        Raises:
            WriteError: as ``write``.
        """
        binding = self._binding(asset_id)
        self._held.pop((asset_id, point), None)
        role = {"ActivePowerLimit": "controls", "BatteryPowerSetpoint": "storage"}.get(point)
        instance = binding.plan.sources.get(role or "") if binding.plan else None
        if instance is None:
            raise WriteError(f"{asset_id}.{point}: nothing to release")
        try:
            await self._writer.release(await self._get_link(), instance)
        except _IO_ERRORS as exc:
            raise WriteError(f"{self._endpoint()}: releasing {asset_id}.{point}: {exc}") from exc

    async def close(self) -> None:
        """Give a registry's link back (``from_device_config``); close a factory-made link
        that is not the engine's (shared) ``QueuedLink``."""
        await self._drop_link()
        if self._release_link is not None:
            release, self._release_link = self._release_link, None
            await release()

    # --- discovery -------------------------------------------------------------------------

    async def _discover(self) -> None:
        link = await self._get_link()
        chains: dict[int, Chain] = {}
        absent: set[int] = set()
        pending: set[int] = set()
        for unit in self._units:
            try:
                chains[unit] = await self._discover_unit(link, unit)
            except (NoSunSpecError, ModbusExceptionResponse) as exc:
                if unit == self._main_unit:
                    raise DiscoveryError(str(exc)) from exc
                log.info("%s: unit %s has no SunSpec map: %s", self.device_id, unit, exc)
                absent.add(unit)
            except (*_IO_ERRORS, DiscoveryError) as exc:
                if unit == self._main_unit:
                    raise
                log.warning("%s: unit %s did not answer: %s", self.device_id, unit, exc)
                pending.add(unit)
        self._pending_units = pending
        await self._build(link, chains, absent)

    async def _discover_unit(self, link: ModbusLink, unit: int) -> Chain:
        async with asyncio.timeout(self._timeout * 20):
            return await discover_chain(link, unit, self._options.base_addresses)

    async def _build(self, link: ModbusLink, chains: dict[int, Chain], absent: set[int]) -> None:
        """Turn the chains into bindings (new assets before ``discover`` returned; otherwise
        onto the fixed assets by key) and read identification and first values. The chains
        become the driver's only when all of that worked."""
        plans: list[AssetPlan] = []
        for chain in chains.values():
            plans.extend(plan_assets(chain))
        assign_keys(plans, self._declared)
        blocks: dict[ModelInstance, ModelBlock] = {}
        for unit in chains:
            instances = {i for p in plans if p.unit_id == unit for i in p.sources.values()}
            instances |= {p.common for p in plans if p.unit_id == unit and p.common is not None}
            blocks.update(await read_blocks(link, unit, instances, self._timeout))
        self._blocks.update(blocks)
        self._identification = {
            p.key: identification(blocks[p.common]) for p in plans if p.common is not None
        }
        self._chains = dict(chains)
        if self._fixed:
            self._rebind(plans)
            return
        bindings: list[_Binding] = []
        for plan in plans:
            info = self._info(plan.key, plan.kind, plan.points, plan, blocks)
            bindings.append(
                _Binding(
                    plan.key,
                    plan.kind,
                    plan.unit_id,
                    info,
                    AssetState(info.asset_id, info.points),
                    plan,
                )
            )
        found = {b.key for b in bindings}
        for key, kind, unit in self._declared:
            if key not in found and unit in self._pending_units:
                bindings.append(self._fallback_binding(key, kind, unit))
        dropped = [k for k, _, u in self._declared if k not in found and u in absent]
        if dropped:
            log.info("%s: declared assets not present: %s", self.device_id, ", ".join(dropped))
        self._bindings = bindings

    def _rebind(self, plans: list[AssetPlan]) -> None:
        by_key = {b.key: b for b in self._bindings}
        planned = {p.key for p in plans}
        for gone in self._bindings:
            if gone.unit_id in self._chains and gone.key not in planned:
                gone.plan = None  # gone from the chain: reported "not discovered"
        for plan in plans:
            binding = by_key.get(plan.key)
            if binding is None or binding.kind is not plan.kind:
                what = f"{plan.kind.value} {plan.key!r}"
                log.warning("%s: discovered %s is not in the address space", self.device_id, what)
                continue
            binding.plan = plan
            missing = set(binding.info.points) - set(plan.points)
            if missing:
                log.warning(
                    "%s: %s has no %s", self.device_id, binding.info.asset_id, sorted(missing)
                )

    def _info(
        self,
        key: str,
        kind: AssetKind,
        points: tuple[str, ...],
        plan: AssetPlan | None,
        blocks: Mapping[ModelInstance, ModelBlock],
    ) -> AssetInfo:
        ident = {"DeviceProfile": self._profile.id} if self._profile else {}
        if self._profile and plan is None:
            ident["Manufacturer"] = self._profile.manufacturer
        ident.update(self._identification.get(key, {}))
        ranges: dict[str, tuple[float, float]] = {}
        if plan is not None:
            by_role = self._writer.role_blocks(plan, blocks)
            if "ActivePowerLimit" in points and (base := wmax(by_role)) is not None:
                ranges["ActivePowerLimit"] = (0.0, base)
            charge, discharge = charge_base_w(by_role)
            if "BatteryPowerSetpoint" in points and charge and discharge:
                ranges["BatteryPowerSetpoint"] = (-charge, discharge)
        return AssetInfo(self._asset_id(key), kind, points, ranges, ident)

    def _fallback_assets(self) -> tuple[AssetInfo, ...]:
        return tuple(self._fallback_binding(k, kind, u).info for k, kind, u in self._declared)

    def _bind_fallback(self) -> None:
        self._bindings = [self._fallback_binding(k, kind, u) for k, kind, u in self._declared]

    def _fallback_binding(self, key: str, kind: AssetKind, unit: int) -> _Binding:
        points = self._declared_points.get(key) or DEFAULT_POINTS.get(kind, ())
        info = self._info(key, kind, points, None, {})
        return _Binding(key, kind, unit, info, AssetState(info.asset_id, info.points))

    def _asset_id(self, key: str) -> str:
        return self._asset_ids.get(key, f"{self.device_id}-{key}")

    # --- polling ---------------------------------------------------------------------------

    async def _poll(self, sink: ReadingSink) -> bool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        link = await self._get_link()
        if self._pending_units and started >= self._next_pending_check:
            self._next_pending_check = started + PENDING_RETRY_S
            self._check_chains = True
        if self._check_chains:
            await self._recheck(link)
        readings: list[Reading] = []
        any_ok = False
        for unit in dict.fromkeys(b.unit_id for b in self._bindings):
            bindings = [b for b in self._bindings if b.unit_id == unit]
            planned = [b for b in bindings if b.plan is not None]
            if not planned:
                message = f"{self._endpoint()} unit {unit}: not discovered"
                self._fail(bindings, message, request=False)
                continue
            instances = {i for b in planned if b.plan for i in b.plan.sources.values()}
            now = _utcnow()
            try:
                blocks = await read_blocks(link, unit, instances, self._timeout)
            except ModbusExceptionResponse as exc:
                self._check_chains = True
                self._fail(bindings, f"{exc}")
                continue
            except _IO_ERRORS as exc:
                self._fail(bindings, f"{self._endpoint()} unit {unit}: {exc or type(exc).__name__}")
                continue
            any_ok = True
            self._blocks.update(blocks)
            for binding in planned:
                values = self._values(binding, blocks)
                readings.extend(binding.state.good(values, now, loop.time()))
                binding.state.health.answered(now, loop.time())
        duration_ms = (loop.time() - started) * 1000.0
        for binding in self._bindings:
            binding.state.health.poll_ms = round(duration_ms, 3)
        self._flush(sink, readings)
        return any_ok

    async def _recheck(self, link: ModbusLink) -> None:
        """After a reconnect: re-walk the chains, rebuild if one changed, re-read identity."""
        changed = False
        chains = dict(self._chains)
        found: set[int] = set()
        for unit in list(self._chains) + sorted(self._pending_units):
            try:
                chain = await self._discover_unit(link, unit)
            except (NoSunSpecError, ModbusExceptionResponse, DiscoveryError):
                continue
            except _IO_ERRORS:
                if unit == self._main_unit:
                    raise
                continue
            if unit not in chains or chain.signature != chains[unit].signature:
                log.info("%s: unit %s model chain changed: %s", self.device_id, unit, chain.ids())
                changed = True
            chains[unit] = chain
            found.add(unit)
        if changed:
            await self._build(link, chains, set())
            self._pending_units -= found
        else:
            for binding in self._bindings:
                plan = binding.plan
                if plan is not None and plan.common is not None:
                    blocks = await read_blocks(link, plan.unit_id, [plan.common], self._timeout)
                    self._identification[plan.key] = identification(blocks[plan.common])
        self._check_chains = False
        self._publish_identification()

    def _values(
        self, binding: _Binding, blocks: Mapping[ModelInstance, ModelBlock]
    ) -> dict[str, Value]:
        plan = binding.plan
        assert plan is not None
        by_role = self._writer.role_blocks(plan, blocks)
        if plan.kind is AssetKind.PV_INVERTER:
            return pv_values(by_role, plan.phases)
        if plan.kind is AssetKind.BATTERY:
            return battery_values(by_role)
        return meter_values(by_role["meter"], plan.phases, self._options.meter_sign, self._role)

    def _fail(self, bindings: list[_Binding], message: str, *, request: bool = True) -> None:
        """Mark the assets failed (``request``: a request failed, count it)."""
        now = _utcnow()
        pending: list[Reading] = []
        for binding in bindings:
            health = binding.state.health
            health.connected = False
            health.error_count += int(request)
            health.last_error = message
            pending.extend(binding.state.lost(now))
        self._failures.failed(message, asyncio.get_running_loop().time())
        if self._sink is not None and pending:
            self._sink.publish(pending)  # at once, not after the other units' timeouts
        else:
            self._pending_readings.extend(pending)
        log.debug("%s: %s", self.device_id, message)

    def _flush(self, sink: ReadingSink, readings: list[Reading] | None = None) -> None:
        now = _utcnow()
        out = self._pending_readings
        self._pending_readings = []
        out.extend(readings or [])
        for binding in self._bindings:
            out.extend(binding.state.health.readings([binding.info.asset_id], now))
        sink.publish(out)

    def _publish_identification(self) -> None:
        if self._sink is None:
            return
        now = _utcnow()
        readings: list[Reading] = []
        for binding in self._bindings:
            ident = dict(binding.info.identification)
            ident.update(self._identification.get(binding.key, {}))
            for name, text in ident.items():
                readings.append(
                    Reading(
                        binding.info.asset_id, f"Identification.{name}", text, Quality.GOOD, now
                    )
                )
        self._sink.publish(readings)

    # --- writes ----------------------------------------------------------------------------

    async def _refresh_setpoints(self) -> None:
        """Re-send held setpoints after half of the device's revert timeout."""
        if not self._held or self._options.revert_s <= 0:
            return
        now = asyncio.get_running_loop().time()
        for (asset_id, point), (value, sent) in list(self._held.items()):
            if now - sent >= self._options.revert_s / 2:
                try:
                    await self.write(asset_id, point, value)
                except WriteError as exc:
                    log.warning("%s: refreshing %s.%s: %s", self.device_id, asset_id, point, exc)

    # --- link ------------------------------------------------------------------------------

    def _binding(self, asset_id: str) -> _Binding:
        for binding in self._bindings:
            if binding.info.asset_id == asset_id:
                return binding
        raise WriteError(f"{self.device_id}: no asset {asset_id!r}")

    def _endpoint(self) -> str:
        return self._link.endpoint if self._link is not None else self.device_id

    async def _get_link(self) -> ModbusLink:
        if self._link is None:
            assert self._factory is not None
            made = self._factory()
            self._link = await made if inspect.isawaitable(made) else made
        return self._link

    async def _drop_link(self) -> None:
        """After a failure: close a factory-made link so the factory makes a fresh one. The
        engine's ``QueuedLink`` is kept: it reconnects with its own backoff, and it may be
        shared through a ``LinkRegistry`` (closing it would cut off its other users)."""
        if self._factory is None or self._link is None or isinstance(self._link, QueuedLink):
            return
        link, self._link = self._link, None
        close = getattr(link, "close", None)
        if close is not None:
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # a broken link may fail to close; it is dropped anyway
                log.debug("%s: closing link: %s", self.device_id, exc)
