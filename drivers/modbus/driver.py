"""``ModbusDriver``: the generic engine that serves one device from its declarative profile.

Quality of published values (architecture §3):

* ``Good`` - decoded from the last answer;
* ``BadOutOfRange`` / ``BadSensorFailure`` - the device sent a "not available" sentinel;
* ``UncertainLastUsableValue`` - the device stopped answering after a good read: the last good
  value with its old source time. It is published on the first failed poll, and by a watchdog
  when a poll hangs, always within three poll intervals of the last good read;
* ``BadCommunicationError`` - no answer for the point since start (also for a register the device
  refuses with "illegal data address").

Health (per asset): ``Health.Connected`` (bool), ``Health.LastGood`` (datetime, UTC),
``Health.ErrorCount`` (int, failed requests since start), ``Health.LastError`` (str, located),
``Health.PollDuration`` (float, ms) - published after every poll.

A point with ``add_addresses`` is read as one item per register (coalesced like any other) and
published once all its parts of a poll are in: the sum of the parts, a "not available" part
counting as 0 (``decode.decode_parts``). A part the device refuses makes the whole point Bad.

Setpoints: ``before`` steps marked ``once`` (mode registers the device persists) go out with the
first write of the point on each connection - a new TCP connection, or the device answering again
after an outage - and not with later writes or refreshes; the driver remembers per point on which
connection it sent them, and forgets it when a write fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ampacity.assets import (
    IDENTIFICATION_POINTS,
    SPECS,
    PointSpec,
    PointValue,
    Quality,
    Reading,
    ReadingSink,
    WriteError,
    WriteResult,
)
from ampacity.drivers.base import AssetInfo
from ampacity.drivers.codec import CodecError, WireType
from ampacity.drivers.profile import AssetMap, Function, PointMap, Profile, all_profiles
from ampacity.drivers.runtime import (
    SYSTEM_CLOCK,
    Backoff,
    Clock,
    DeviceRuntime,
    PointCache,
    SetpointMemory,
)

from .config import ModbusDeviceConfig
from .decode import Decoded, FastDecoder, compile_decoder, decode_parts, decode_point
from .link import QueuedLink
from .plan import BreakKey, PointRef, ReadBlock, ReadItem, plan_blocks, split_point
from .registry import DEFAULT_REGISTRY, LinkRegistry
from .rtu import SerialSettings
from .transport import ModbusExceptionResponse, ModbusIOError, ModbusLink
from .write import (
    PreparedWrite,
    accepted_range,
    model_from_write_register,
    prepare_write,
)

log = logging.getLogger(__name__)

ILLEGAL_DATA_ADDRESS = 2
GATEWAY_NO_ANSWER = (10, 11)
"""Exception codes a gateway sends for a unit behind it that does not answer."""
BACKOFF_MAX_S = 30.0
"""The longest pause between attempts while the device does not answer, s."""
BAD_ADDRESS_RETRY_S = 300.0
"""A register the device refused is tried again, alone, after this many seconds."""

_IDENT_SPECS = {spec.name: spec for spec in IDENTIFICATION_POINTS}


@dataclass(slots=True)
class _Point:
    """Runtime state of one mapped point."""

    ref: PointRef
    asset_id: str
    path: str
    """Point path below the asset: ``ActivePower`` or ``Identification.Model``."""
    mapping: PointMap
    spec: PointSpec
    item: ReadItem | None
    """The register(s) at ``address``; ``None`` for a constant or write-only point."""
    parts: tuple[ReadItem, ...]
    """Every item of the point: ``item`` and one per ``add_addresses`` entry."""
    interval: float | None
    """Poll interval in s; ``None`` = read once per connection (identification)."""
    cache: PointCache
    """The last good value and the quality transitions (the runtime's)."""
    next_due: float = 0.0
    pending_once: bool = True
    bad_address_until: float | None = None
    fast: FastDecoder | None = None
    """The point's compiled decoder (plain numeric register points), else ``None``."""


Slot = tuple[_Point, int, int, ReadItem]
"""One item of a read block: its point, where its registers start and stop in the block's answer
(indexes), and the item."""
PlannedRead = tuple[ReadBlock, tuple[Slot, ...]]
"""A read block with its slots, worked out once per plan."""


@dataclass(slots=True)
class _Asset:
    asset_id: str
    map: AssetMap
    info: AssetInfo
    points: dict[str, _Point] = field(default_factory=dict)


class ModbusDriver:
    """Serves the assets of one Modbus device described by a ``Profile``.

    Args:
        profile: the device profile.
        config: the configured device (endpoint or bus, ids, overrides).
        registry: where shared links come from (the server's; default ``DEFAULT_REGISTRY``).
        link: a ready link to use instead of the registry (tests, SunSpec discovery).
        clock: time source.

    Example::

        driver = ModbusDriver.from_profile_id(
            "alfen_eve_double", ModbusDeviceConfig("wallbox", tcp=TcpEndpoint("192.0.2.10"))
        )
        await driver.run(sink)   # until cancelled
    """

    def __init__(
        self,
        profile: Profile,
        config: ModbusDeviceConfig,
        *,
        registry: LinkRegistry | None = None,
        link: ModbusLink | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.profile = profile
        self.config = config
        self.device_id = config.device_id
        self.clock = clock
        self._registry = registry or DEFAULT_REGISTRY
        self._given_link = link
        self._link: ModbusLink | None = None
        self._transport = profile.transport
        self._timeout_s = config.timeout_s or profile.transport.timeout_s
        self._default_poll = config.poll_s or profile.poll_s
        self._assets: dict[str, _Asset] = {}
        self._points: dict[PointRef, _Point] = {}
        self._refs: dict[tuple[str, str], PointRef] = {}
        self._breaks: dict[BreakKey, set[int]] = {}
        self._plans: dict[tuple[int, ...], list[PlannedRead]] = {}
        """Read plans by the points due (``id``s); a poll of the same points reuses its plan.
        Emptied when a break is learnt."""
        self._readable: list[_Point] = []
        """The points that are read from registers (``item`` set), in the profile's order."""
        self._by_cache: dict[int, _Point] = {}
        """Point by its cache's ``id`` (the watchdog asks about caches several times a second)."""
        self._setpoints: SetpointMemory[PreparedWrite] = SetpointMemory(clock)
        self._once_sent: dict[PointRef, tuple[int, int]] = {}
        """Per point: the connection key on which its ``once`` steps were written."""
        self._write_lock = asyncio.Lock()
        self.runtime = DeviceRuntime(self.device_id, clock=clock)
        self._generation = -1
        """The link generation of the last good poll (a change means "reconnected")."""
        self._connected_after_poll = False
        cap = config.backoff_max_s if config.backoff_max_s is not None else BACKOFF_MAX_S
        self._backoff = Backoff(self._default_poll, max(self._default_poll, cap))
        self._retry_at: float | None = None
        """While the device does not answer: when it gets its next request (monotonic, s)."""
        self._build()
        self.runtime.asset_ids = list(self._assets)

    @classmethod
    def from_profile_id(
        cls,
        profile_id: str,
        config: ModbusDeviceConfig,
        *,
        registry: LinkRegistry | None = None,
        link: ModbusLink | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> ModbusDriver:
        """Build from a shipped profile (``drivers/profiles/<id>.yaml``).

        Raises:
            KeyError: no shipped profile has that id.
        """
        profiles = all_profiles()
        if profile_id not in profiles:
            raise KeyError(
                f"no Modbus profile {profile_id!r}; known: {', '.join(sorted(profiles))}"
            )
        return cls(profiles[profile_id], config, registry=registry, link=link, clock=clock)

    # --- Driver --------------------------------------------------------------------------------

    @property
    def assets(self) -> tuple[AssetInfo, ...]:
        return tuple(a.info for a in self._assets.values())

    @property
    def health_connected(self) -> bool:
        """The device answered the last poll."""
        return self.runtime.health.connected

    async def run(self, sink: ReadingSink) -> None:
        """Poll and publish until cancelled; never raises for device faults."""
        self.runtime.sink = sink
        link = self._acquire()
        self._link = link
        self.runtime.started_mono = self.clock.monotonic()
        try:
            self._publish(self._constant_readings())
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._poll_loop(link), name=f"poll {self.device_id}")
                tasks.create_task(self._refresh_loop(link), name=f"refresh {self.device_id}")
                tasks.create_task(
                    self.runtime.watchdog(self._watched_interval, skip=self._not_watched),
                    name=f"watchdog {self.device_id}",
                )
        finally:
            self._link = None
            await self._release(link)

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Check, convert, write, read back; remember the setpoint for refresh and reconnect.

        Raises:
            OutOfRangeError: outside the device's (else the model's) range; nothing written.
            WriteError: not writable here, no reading for ``percent_of``, or the device refused
                or did not answer.
        """
        asset = self._assets.get(asset_id)
        if asset is None:
            raise WriteError(f"{self.device_id}: no asset {asset_id!r}")
        state = asset.points.get(point)
        where = f"{asset_id}.{point}"
        if state is None or state.mapping.write is None or not state.spec.writable:
            raise WriteError(f"{where}: not writable on this device")
        write = state.mapping.write
        reference = None
        if write.percent_of is not None:
            ref_state = asset.points.get(write.percent_of)
            reference = self._usable_value(ref_state)
        unit_id = self._unit_for(asset.map, state.mapping)
        prepared = prepare_write(
            state.mapping,
            state.spec,
            value,
            self._transport,
            unit_id,
            reference=reference,
            where=where,
        )
        link = self._link
        temporary = link is None
        if link is None:
            link = self._acquire()
        try:
            async with self._write_lock:
                try:
                    await self._send(link, state.ref, prepared)
                except ModbusExceptionResponse as exc:  # an answer: the device refused it
                    self.runtime.health.failed(f"{where} refused: {exc}", disconnected=False)
                    self._publish(self.runtime.health_readings())
                    raise WriteError(f"{where}: refused: {exc}") from exc
                except ModbusIOError as exc:
                    self._failed(exc)
                    self._publish(self.runtime.health_readings())
                    raise WriteError(f"{where}: {exc}") from exc
                # remembered under the lock: a refresh waiting for it re-sends this value
                self._setpoints.remember(state.ref, prepared, write.refresh_s)
                read_back = await self._read_back(link, asset, state, reference)
        finally:
            if temporary:
                await self._release(link)
        shown = read_back if read_back is not None else prepared.written
        if state.item is None or read_back is not None:
            self._publish([self._accept(state, shown, Quality.GOOD, self.clock.now())])
        requested = value if isinstance(value, bool | int | float) else prepared.requested
        return WriteResult(requested, prepared.written, read_back, prepared.clamped)

    # --- construction --------------------------------------------------------------------------

    def _build(self) -> None:
        single = len(self.profile.assets) == 1
        for amap in self.profile.assets:
            asset_id = self.config.asset_ids.get(amap.key) or (
                self.device_id if single else f"{self.device_id}-{amap.key}"
            )
            spec = SPECS[amap.kind]
            asset = _Asset(asset_id, amap, AssetInfo(asset_id, amap.kind, ()))
            ranges: dict[str, tuple[float, float]] = {}
            for name, pmap in amap.points.items():
                pspec = spec.point(name)
                self._add_point(asset, name, pmap, pspec)
                if pmap.write is not None and (limits := accepted_range(pmap, pspec)) is not None:
                    ranges[name] = limits
            identification = {"Manufacturer": self.profile.manufacturer}
            for name, pmap in amap.identification.items():
                self._add_point(asset, f"Identification.{name}", pmap, _IDENT_SPECS[name])
                if pmap.address is None and pmap.const is not None:
                    identification[name] = str(pmap.const)
            identification["DeviceProfile"] = self.profile.id
            write_only = tuple(
                name
                for name, pmap in amap.points.items()
                if pmap.address is None and pmap.const is None
            )
            asset.info = AssetInfo(
                asset_id, amap.kind, tuple(amap.points), ranges, identification, write_only
            )
            if asset_id in self._assets:
                raise ValueError(f"device {self.device_id}: asset id {asset_id!r} twice")
            self._assets[asset_id] = asset

    def _add_point(self, asset: _Asset, path: str, pmap: PointMap, spec: PointSpec) -> None:
        ref = PointRef(asset.map.key, path)
        item = None
        parts: tuple[ReadItem, ...] = ()
        interval: float | None = None
        if pmap.address is not None:
            function = pmap.function or self._transport.default_function
            count = 1 if function.is_bit else pmap.word_count
            unit = self._unit_for(asset.map, pmap)
            parts = tuple(ReadItem(ref, unit, function, a, count) for a in pmap.addresses)
            item = parts[0]
            if path.startswith("Identification.") and pmap.poll_s is None:
                interval = None
            else:
                interval = pmap.poll_s or self._default_poll
                if self.config.poll_s is not None:
                    interval = max(interval, self.config.poll_s)
        state = _Point(
            ref,
            asset.asset_id,
            path,
            pmap,
            spec,
            item,
            parts,
            interval,
            PointCache(asset.asset_id, path),
        )
        if item is not None and not item.function.is_bit and len(parts) == 1:
            state.fast = compile_decoder(pmap, spec, self._transport)
        self.runtime.points[(asset.asset_id, path)] = state.cache
        self._by_cache[id(state.cache)] = state
        if item is not None:
            self._readable.append(state)
        asset.points[path] = state
        self._points[ref] = state
        self._refs[(asset.asset_id, path)] = ref

    def _unit_for(self, amap: AssetMap, pmap: PointMap) -> int:
        """Unit id of a point (reads and writes): point, else asset, else config, else profile."""
        if pmap.unit_id is not None:
            return pmap.unit_id
        if amap.unit_id is not None:
            return amap.unit_id
        if self.config.unit_id is not None:
            return self.config.unit_id
        return self._transport.unit_id

    # --- links ---------------------------------------------------------------------------------

    def _acquire(self) -> ModbusLink:
        if self._given_link is not None:
            return self._given_link
        t = self._transport
        if self.config.tcp is not None:
            port = self.config.tcp.port or t.port
            return self._registry.tcp(
                self.config.tcp.host,
                port,
                timeout_s=self._timeout_s,
                request_gap_s=t.request_gap_ms / 1000.0,
                connect_delay_s=t.connect_delay_s,
            )
        bus = self.config.serial
        assert bus is not None
        settings = SerialSettings(
            baudrate=bus.baudrate or t.serial.baudrate,
            parity=bus.parity or t.serial.parity,
            stopbits=bus.stopbits or t.serial.stopbits,
            bytesize=bus.bytesize or t.serial.bytesize,
        )
        gap_ms = (
            bus.inter_frame_gap_ms if bus.inter_frame_gap_ms is not None else t.inter_frame_gap_ms
        )
        return self._registry.rtu(
            bus.device, settings, inter_frame_gap_s=gap_ms / 1000.0, timeout_s=self._timeout_s
        )

    async def _release(self, link: ModbusLink) -> None:
        if link is not self._given_link and isinstance(link, QueuedLink):
            await self._registry.release(link)

    # --- polling -------------------------------------------------------------------------------

    async def _poll_loop(self, link: ModbusLink) -> None:
        while True:
            now = self.clock.monotonic()
            if self._retry_at is not None and now < self._retry_at:
                # not answering: no requests until the retry is due, so a silent device on a
                # shared bus leaves the line to its neighbours
                await self.clock.sleep(self._retry_at - now)
                continue
            due = [p for p in self._readable if self._is_due(p, now)]
            if due:
                try:
                    await self._poll(link, due)
                    await self._after_poll(link)
                except Exception as exc:  # a bug must not end the driver; it is counted
                    log.exception("%s: poll failed", self.device_id)
                    self._failed(exc)
            await self.clock.sleep(self._next_wake() - self.clock.monotonic())

    def _watched_interval(self, cache: PointCache) -> float | None:
        p = self._by_cache[id(cache)]
        return p.interval if p.item is not None else None

    def _not_watched(self, cache: PointCache) -> bool:
        return self._by_cache[id(cache)].bad_address_until is not None

    def _is_due(self, p: _Point, now: float) -> bool:
        if p.item is None:
            return False
        if p.bad_address_until is not None:
            return now >= p.bad_address_until
        if p.interval is None:
            return p.pending_once
        return now >= p.next_due

    def _next_wake(self) -> float:
        now = self.clock.monotonic()
        if self._retry_at is not None:
            return max(now, self._retry_at)
        wakes = [now + self._default_poll]
        for p in self._readable:
            if p.bad_address_until is not None:
                wakes.append(p.bad_address_until)
            elif p.interval is None:
                if p.pending_once:
                    wakes.append(now + min(self._default_poll, 1.0))
            else:
                wakes.append(p.next_due)
        return min(wakes)

    async def _poll(self, link: ModbusLink, due: list[_Point]) -> None:
        started = self.clock.monotonic()
        for p in due:
            if p.bad_address_until is not None:  # a probe; a failure defers the next one
                p.bad_address_until = started + BAD_ADDRESS_RETRY_S
            elif p.interval is not None:
                following = p.next_due + p.interval
                p.next_due = following if following > started else started + p.interval
        probes = [p for p in due if p.bad_address_until is not None]
        regular = [p for p in due if p.bad_address_until is None]
        key = tuple(id(p) for p in regular)
        plan = self._plans.get(key)
        if plan is None:
            blocks = plan_blocks(
                [item for p in regular for item in p.parts],
                max_registers=self._transport.max_registers_per_read,
                max_gap=self._transport.max_gap,
                breaks=self._breaks,
            )
            plan = self._plans[key] = [self._planned(block) for block in blocks]
        queue = list(plan)
        queue += [
            self._planned(ReadBlock(item.unit_id, item.function, item.address, item.count, (item,)))
            for p in probes
            for item in p.parts
        ]
        readings: list[Reading] = []
        summed: dict[PointRef, dict[int, list[int]]] = {}  # add_addresses parts read, by address
        lost = False
        while queue:
            block, slots = queue.pop(0)
            try:
                data = await self._read_block(link, block)
            except ModbusExceptionResponse as exc:
                if exc.code in GATEWAY_NO_ANSWER:
                    self._failed(exc)
                    lost = True
                    break
                self.runtime.health.failed(str(exc), disconnected=False)  # an answer: counted
                self._answered()
                queue[0:0] = map(self._planned, self._on_refused(block, exc, readings))
                continue
            except ModbusIOError as exc:
                self._failed(exc)
                lost = True
                break
            self._answered()
            self._take(slots, data, block.function, readings, summed)
        if not lost:
            for ref, got in summed.items():
                p = self._points[ref]
                if len(got) == len(p.parts):  # else a part was refused: the point is Bad already
                    words = [got[part.address] for part in p.parts]
                    readings.extend(self._decode(p, words, p.parts[0].function, self.clock.now()))
        if lost:
            self.runtime.health.connected = False
            readings.extend(self._failure_readings(self._points.values()))
            self._retry_at = self.clock.monotonic() + self._backoff.next_delay()
        else:
            self._retry_at = None
            self._backoff.reset()
        self.runtime.health.poll_ms = round((self.clock.monotonic() - started) * 1000.0, 3)
        readings.extend(self.runtime.health_readings())
        self._publish(readings)

    def _planned(self, block: ReadBlock) -> PlannedRead:
        """A block with its slots: which point each item feeds, and from which registers."""
        return block, tuple(
            (self._points[item.ref], item.address - block.address, item.end - block.address, item)
            for item in block.items
        )

    def _take(
        self,
        slots: tuple[Slot, ...],
        data: Sequence[int] | Sequence[bool],
        function: Function,
        readings: list[Reading],
        summed: dict[PointRef, dict[int, list[int]]],
    ) -> None:
        """Decode the points of one answered block into ``readings`` (a point with
        ``add_addresses`` collects its part in ``summed`` instead)."""
        when = self.clock.now()
        mono = self.clock.monotonic()
        for p, start, stop, item in slots:
            fast = p.fast
            if fast is not None:  # one plain numeric part, the most common point
                try:
                    decoded = fast(data[start:stop])  # type: ignore[arg-type]  # registers
                except CodecError:
                    pass  # _decode says what is wrong with it
                else:
                    p.bad_address_until = None
                    p.pending_once = False
                    readings.append(p.cache.accept(decoded.value, decoded.quality, when, mono))
                    continue
            elif len(p.parts) > 1:
                summed.setdefault(item.ref, {})[item.address] = [int(w) for w in data[start:stop]]
                continue
            readings.extend(self._decode(p, [data[start:stop]], function, when))

    async def _read_block(
        self, link: ModbusLink, block: ReadBlock
    ) -> Sequence[int] | Sequence[bool]:
        fn = block.function
        if fn is Function.HOLDING:
            return await link.read_holding_registers(block.unit_id, block.address, block.count)
        if fn is Function.INPUT:
            return await link.read_input_registers(block.unit_id, block.address, block.count)
        if fn is Function.COIL:
            return await link.read_coils(block.unit_id, block.address, block.count)
        return await link.read_discrete_inputs(block.unit_id, block.address, block.count)

    def _on_refused(
        self, block: ReadBlock, exc: ModbusExceptionResponse, readings: list[Reading]
    ) -> list[ReadBlock]:
        """A block the device answered with an exception: split it, or give its points up."""
        if exc.code == ILLEGAL_DATA_ADDRESS and len(block.items) > 1:
            at = split_point(block)
            if at is not None:
                self._breaks.setdefault((block.unit_id, block.function), set()).add(at)
                self._plans.clear()
                log.info("%s: not reading across address %d (%s)", self.device_id, at, exc)
                return plan_blocks(
                    block.items,
                    max_registers=self._transport.max_registers_per_read,
                    max_gap=self._transport.max_gap,
                    breaks=self._breaks,
                )
        now_dt = self.clock.now()
        for ref in dict.fromkeys(item.ref for item in block.items):  # a point's parts: once
            p = self._points[ref]
            if exc.code == ILLEGAL_DATA_ADDRESS:
                p.bad_address_until = self.clock.monotonic() + BAD_ADDRESS_RETRY_S
                p.pending_once = False
                readings.append(p.cache.fail(Quality.BAD_COMMUNICATION_ERROR, now_dt))
            else:
                readings.extend(self._failure_readings([p]))
        return []

    def _decode(
        self,
        p: _Point,
        raw: Sequence[Sequence[int]] | Sequence[Sequence[bool]],
        function: Function,
        when: datetime,
    ) -> list[Reading]:
        """Decode the point from its registers (one list per part) and remember the reading."""
        p.bad_address_until = None
        p.pending_once = False
        try:
            decoded = self._decode_raw(p, raw, function)
        except CodecError as exc:
            at = "+".join(str(a) for a in p.mapping.addresses)
            cause = f"{self.device_id} {p.ref} at {at}: {exc}"
            self.runtime.health.failed(cause, disconnected=False)
            log.debug("%s", cause)
            return [p.cache.fail(Quality.BAD_OUT_OF_RANGE, when)]
        return [self._accept(p, decoded.value, decoded.quality, when)]

    def _decode_raw(
        self,
        p: _Point,
        raw: Sequence[Sequence[int]] | Sequence[Sequence[bool]],
        function: Function,
    ) -> Decoded:
        if p.fast is not None and len(raw) == 1:
            return p.fast(raw[0])  # type: ignore[arg-type]  # registers, not bits
        if len(raw) > 1:
            words = [[int(w) for w in part] for part in raw]
            return decode_parts(p.mapping, p.spec, words, self._transport)
        return decode_point(
            p.mapping, p.spec, raw[0], self._transport, bit_function=function.is_bit
        )

    def _accept(self, p: _Point, value: PointValue, quality: Quality, when: datetime) -> Reading:
        return p.cache.accept(value, quality, when, self.clock.monotonic())

    def _failure_readings(self, points: Iterable[_Point]) -> list[Reading]:
        """What the points show while their device does not answer."""
        return self.runtime.stale_readings(
            p.cache for p in points if p.item is not None and p.bad_address_until is None
        )

    def _answered(self) -> None:
        if self.runtime.answered():  # came back: read identification again, new connection key
            for p in self._points.values():
                if p.interval is None:
                    p.pending_once = True

    async def _after_poll(self, link: ModbusLink) -> None:
        """After a reconnect (new TCP connection, or the device answering again) re-send every
        active setpoint: devices like the Heidelberg wallbox forget them on power-on."""
        connected = self.runtime.health.connected
        generation = link.generation if isinstance(link, QueuedLink) else 0
        back = connected and (not self._connected_after_poll or generation != self._generation)
        self._connected_after_poll = connected
        if connected:
            self._generation = generation
        if back and self._setpoints.active:
            await self._resend_all(link)

    def _failed(self, exc: Exception) -> None:
        """The device did not answer (or a bug): counted, logged once per state change."""
        self.runtime.failed(str(exc) or type(exc).__name__)

    # --- setpoints -----------------------------------------------------------------------------

    def _connection_key(self, link: ModbusLink) -> tuple[int, int]:
        """Identifies the current connection: the link's connect count and the device's returns
        after outages. A new key means the device may have forgotten what the last one set."""
        generation = link.generation if isinstance(link, QueuedLink) else 0
        return (generation, self.runtime.health.returns)

    async def _send(self, link: ModbusLink, ref: PointRef, prepared: PreparedWrite) -> None:
        """Write a prepared setpoint; its ``once`` steps only if not yet sent on this connection.

        Raises:
            ModbusIOError: the device refused or did not answer (the ``once`` steps then go out
                again with the next write).
        """
        first = prepared.has_once_steps and self._once_sent.get(ref) != self._connection_key(link)
        segments = prepared.segments if first else prepared.repeat_segments
        unit = prepared.unit_id
        try:
            for address, words in segments:
                if prepared.single_register and len(words) == 1:
                    await link.write_register(unit, address, words[0])
                else:
                    await link.write_registers(unit, address, list(words))
            if prepared.coil is not None:
                await link.write_coil(unit, prepared.coil[0], prepared.coil[1])
        except ModbusIOError:
            self._once_sent.pop(ref, None)
            raise
        if first:
            # the key after the write: a write that (re)connected the link counts for that link
            self._once_sent[ref] = self._connection_key(link)

    async def _read_back(
        self, link: ModbusLink, asset: _Asset, p: _Point, reference: PointValue
    ) -> PointValue:
        write = p.mapping.write
        assert write is not None
        if not write.read_back:
            return None
        try:
            if p.item is not None:
                raw = []
                for item in p.parts:
                    block = ReadBlock(
                        item.unit_id, item.function, item.address, item.count, (item,)
                    )
                    raw.append(list(await self._read_block(link, block)))
                return self._decode_raw(p, raw, p.item.function).value
            unit = self._unit_for(asset.map, p.mapping)
            if write.function == "coil":
                return (await link.read_coils(unit, write.address, 1))[0]
            count = write.type.word_count if write.type is not WireType.STRING else 1
            words = await link.read_holding_registers(unit, write.address, count)
            return model_from_write_register(p.mapping, words, self._transport, reference)
        except (ModbusIOError, CodecError) as exc:
            self.runtime.health.failed(str(exc), disconnected=False)
            log.debug("%s: read-back failed: %s", self.device_id, exc)
            return None

    async def _refresh_loop(self, link: ModbusLink) -> None:
        """Re-send setpoints before the device's own fallback timer expires (not while the
        device is known not to answer: the re-send after it answers again covers that)."""
        while True:
            for ref, sp in self._setpoints.due():
                if self._retry_at is None:
                    assert isinstance(ref, PointRef)
                    await self._resend(link, ref, sp.payload)
            await self._setpoints.wait_due()

    async def _resend_all(self, link: ModbusLink) -> None:
        for ref, sp in list(self._setpoints.active.items()):
            assert isinstance(ref, PointRef)
            await self._resend(link, ref, sp.payload)
        self._setpoints.restart_timers()

    async def _resend(self, link: ModbusLink, ref: PointRef, prepared: PreparedWrite) -> None:
        async with self._write_lock:
            current = self._setpoints.active.get(ref)
            if current is None or current.payload is not prepared:
                return  # a newer write replaced it while this refresh waited for the lock
            try:
                await self._send(link, ref, prepared)
            except ModbusIOError as exc:
                self._failed(exc)

    # --- readings ------------------------------------------------------------------------------

    def _usable_value(self, p: _Point | None) -> PointValue:
        if p is None:
            return None
        if p.item is None and p.mapping.const is not None:
            return p.mapping.const
        return p.cache.usable_value

    def _constant_readings(self) -> list[Reading]:
        now_dt = self.clock.now()
        out: list[Reading] = []
        for asset in self._assets.values():
            for name, value in asset.info.identification.items():
                out.append(
                    Reading(asset.asset_id, f"Identification.{name}", value, Quality.GOOD, now_dt)
                )
            for p in asset.points.values():
                if (
                    p.item is None
                    and p.mapping.const is not None
                    and not p.path.startswith("Identification.")
                ):
                    out.append(self._accept(p, p.mapping.const, Quality.GOOD, now_dt))
        return out

    def _publish(self, readings: list[Reading]) -> None:
        self.runtime.publish(readings)
