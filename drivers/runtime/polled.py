"""``PolledDriver``: a whole driver from a protocol's ``read`` and ``write``.

A code driver (SML, Speedwire, KEBA UDP, an HTTP/JSON device, ...) implements ``DeviceLink``:
``read`` returns the point values of one answer (a polled device: one request/response; a
streaming one: the next complete frame or datagram), ``write`` sends one setpoint. Everything
else - poll pacing, the last-good cache and quality transitions, ``Health``, backoff with jitter
while the device fails, the write path (type and range check, clamp, write, read-back, refresh
before the device's fallback timer, re-send after a reconnect) and the log lines - is the
runtime's, the same for every protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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
from ampacity.drivers.base import AssetInfo

from .backoff import SYSTEM_CLOCK, Backoff, Clock
from .device import DeviceRuntime, SetpointMemory
from .errors import describe

log = logging.getLogger("ampacity.drivers")

PointKey = tuple[str, str]
"""``(asset key in the profile, point path)``, e.g. ``("meter", "ActivePower")``."""


class DeviceError(Exception):
    """The device answered, but not usefully (garbage, a refusal, a bad checksum): the message
    says what, in words."""


@dataclass(frozen=True, slots=True)
class Sample:
    """A value with a quality other than Good (e.g. the device's own "not available")."""

    value: PointValue
    quality: Quality = Quality.GOOD


class DeviceLink(Protocol):
    """What a protocol driver implements: how to read and how to write one device."""

    @property
    def endpoint(self) -> str:
        """Where the device is reached, for messages (``host:port``, ``/dev/ttyUSB0``, a URL)."""
        ...

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        """One answer's point values.

        Raises:
            DeviceError, OSError, TimeoutError: no usable answer (the runtime counts and logs).
        """
        ...

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        """Send a setpoint (already checked and clamped); return the read-back or ``None``."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SetpointSpec:
    """How a writable point accepts values.

    Attributes:
        low, high: the device's limits in model units (``None``: the model's EURange).
        zero_means_off: 0 is allowed below ``low`` (a charger paused); values in (0, low) → 0.
        step: the device's resolution (e.g. 1 A); values are rounded to it.
        refresh_s: re-send period, shorter than the device's fallback timer (``None``: only
            after a reconnect).
    """

    low: float | None = None
    high: float | None = None
    zero_means_off: bool = False
    step: float | None = None
    refresh_s: float | None = None


@dataclass(frozen=True, slots=True)
class AssetPlan:
    """One asset of a code driver's device.

    Attributes:
        key: the asset's key in the profile (first part of ``PointKey``).
        asset_id: the configured asset id.
        kind: the asset kind.
        points: the model points the device provides.
        identification: fixed identification values (Manufacturer, Model, DeviceProfile, ...).
        setpoints: the writable points and how they accept values.
    """

    key: str
    asset_id: str
    kind: AssetKind
    points: tuple[str, ...]
    identification: Mapping[str, str] = field(default_factory=dict)
    setpoints: Mapping[str, SetpointSpec] = field(default_factory=dict)

    def range_of(self, point: str) -> tuple[float, float] | None:
        """The values a client may ask for (the device limits, else the model's)."""
        spec = self.setpoints.get(point)
        model = SPECS[self.kind].point(point).value_range
        low = spec.low if spec is not None and spec.low is not None else (model or (None,))[0]
        high = spec.high if spec is not None and spec.high is not None else (model or (0, None))[1]
        if low is None or high is None:
            return None
        if spec is not None and spec.zero_means_off:
            low = min(low, 0.0)
        return (low, high)


class PolledDriver:
    """A driver for one device from its ``DeviceLink``.

    Args:
        device_id: the configured device id.
        assets: the device's assets.
        link: the protocol.
        poll_s: pause between reads; for a streaming link only the pause after a failed read.
        streaming: the link's ``read`` itself waits for the device's next message (an SML frame,
            a Speedwire datagram), so a good read is followed by the next one at once. A pause
            after it would hold back a message that arrives during the pause by up to
            ``poll_s`` (and a backlog would drain one message per ``poll_s``).
        timeout_s: how long one read or write may take.
        backoff_max_s: the longest pause between attempts while the device fails.
        clock: time source.
        rng: random source of the backoff jitter.
    """

    def __init__(
        self,
        device_id: str,
        assets: Sequence[AssetPlan],
        link: DeviceLink,
        *,
        poll_s: float = 1.0,
        timeout_s: float = 5.0,
        backoff_max_s: float = 60.0,
        streaming: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.device_id = device_id
        self.link = link
        self.poll_s = poll_s
        self.streaming = streaming
        self.timeout_s = timeout_s
        self.clock = clock
        self._plans = {a.key: a for a in assets}
        self._by_id = {a.asset_id: a for a in assets}
        if len(self._by_id) != len(assets):
            raise ValueError(f"device {device_id}: an asset id twice")
        self.runtime = DeviceRuntime(device_id, self._by_id, clock=clock)
        self._backoff = Backoff(poll_s, max(poll_s, backoff_max_s), rng=rng)
        self._setpoints: SetpointMemory[float | int | bool] = SetpointMemory(clock)
        self._write_lock = asyncio.Lock()
        for plan in assets:
            for point in plan.points:
                self.runtime.point(plan.asset_id, point)

    @property
    def assets(self) -> tuple[AssetInfo, ...]:
        out = []
        for plan in self._plans.values():
            ranges = {p: r for p in plan.setpoints if (r := plan.range_of(p)) is not None}
            out.append(
                AssetInfo(plan.asset_id, plan.kind, plan.points, ranges, dict(plan.identification))
            )
        return tuple(out)

    @property
    def health_connected(self) -> bool:
        return self.runtime.health.connected

    async def run(self, sink: ReadingSink) -> None:
        """Read and publish until cancelled; never raises for device faults."""
        rt = self.runtime
        rt.sink = sink
        rt.started_mono = self.clock.monotonic()
        rt.publish(
            rt.identification_readings(
                {p.asset_id: dict(p.identification) for p in self._plans.values()}
            )
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._poll_loop(), name=f"poll {self.device_id}")
                tasks.create_task(self._refresh_loop(), name=f"refresh {self.device_id}")
                tasks.create_task(
                    rt.watchdog(lambda cache: self.poll_s + self.timeout_s),
                    name=f"watchdog {self.device_id}",
                )
        finally:
            with contextlib.suppress(Exception):
                await self.link.close()

    async def read_once(self) -> list[Reading]:
        """One read, published nowhere: the readings it gives (for ``ampacity read``).

        Raises:
            DeviceError, OSError, TimeoutError: no usable answer.
        """
        async with asyncio.timeout(self.timeout_s):
            values = await self.link.read()
        return self._accept(values)

    async def write(self, asset_id: str, point: str, value: PointValue) -> WriteResult:
        """Check, clamp, write, read back; remember the setpoint for refresh and reconnect.

        Raises:
            OutOfRangeError: outside the device's (else the model's) range; nothing written.
            WriteError: not writable here, or the device refused or did not answer.
        """
        plan = self._by_id.get(asset_id)
        where = f"{asset_id}.{point}"
        if plan is None or point not in plan.setpoints:
            raise WriteError(f"{where}: not writable on this device")
        target, clamped = _checked(plan, point, value, where)
        spec = plan.setpoints[point]
        async with self._write_lock:
            read_back = await self._send((plan.key, point), target, where)
            # remembered under the lock: a refresh waiting for it re-sends this value
            self._setpoints.remember((plan.key, point), target, spec.refresh_s)
        shown = read_back if read_back is not None else target
        self.runtime.publish([self.runtime.accept(asset_id, point, shown)])
        requested = value if isinstance(value, bool | int | float) else target
        return WriteResult(requested, target, read_back, clamped)

    # --- internals -----------------------------------------------------------------------------

    async def _send(self, key: PointKey, target: float | int | bool, where: str) -> PointValue:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.link.write(key, target)
        except (DeviceError, OSError, TimeoutError) as exc:
            _raise_if_cancelling()
            cause = describe(exc, self.link.endpoint)
            self.runtime.failed(cause)
            raise WriteError(f"{where}: {cause}") from exc

    async def _poll_loop(self) -> None:
        rt = self.runtime
        while True:
            started = self.clock.monotonic()
            try:
                async with asyncio.timeout(self.timeout_s):
                    values = await self.link.read()
            except (DeviceError, OSError, TimeoutError) as exc:
                _raise_if_cancelling()
                self._on_failure(describe(exc, self.link.endpoint), started)
                await self.clock.sleep(max(self.poll_s, self._backoff.next_delay()))
                continue
            except Exception as exc:  # a bug must not end the driver; it is counted and shown
                log.exception("%s: read failed", self.device_id)
                self._on_failure(f"{type(exc).__name__}: {exc}", started)
                await self.clock.sleep(max(self.poll_s, self._backoff.next_delay()))
                continue
            self._backoff.reset()
            came_back = rt.answered()
            rt.health.poll_ms = round((self.clock.monotonic() - started) * 1000.0, 3)
            readings = self._accept(values)
            rt.publish(readings + rt.health_readings())
            if came_back:
                await self._resend_all()
            if self.streaming:
                await self.clock.sleep(0.0)  # lets the loop run while a backlog drains
            else:
                await self.clock.sleep(self.poll_s - (self.clock.monotonic() - started))

    def _accept(self, values: Mapping[PointKey, PointValue | Sample]) -> list[Reading]:
        rt = self.runtime
        now = self.clock.now()
        out: list[Reading] = []
        for (key, path), value in values.items():
            plan = self._plans.get(key)
            if plan is None or (path not in plan.points and not path.startswith("Identification.")):
                continue
            sample = value if isinstance(value, Sample) else Sample(value)
            out.append(rt.accept(plan.asset_id, path, sample.value, sample.quality, now))
        return out

    def _on_failure(self, cause: str, started: float) -> None:
        rt = self.runtime
        first = rt.health.connected or not rt.failures.failing
        rt.failed(cause)
        rt.health.poll_ms = round((self.clock.monotonic() - started) * 1000.0, 3)
        readings = rt.stale_readings() if first else []
        rt.publish(readings + rt.health_readings())

    async def _refresh_loop(self) -> None:
        while True:
            for key, sp in self._setpoints.due():
                await self._resend(key, sp.payload)
            await self._setpoints.wait_due()

    async def _resend_all(self) -> None:
        for key, sp in list(self._setpoints.active.items()):
            await self._resend(key, sp.payload)
        self._setpoints.restart_timers()

    async def _resend(self, key: object, value: float | int | bool) -> None:
        assert isinstance(key, tuple)
        async with self._write_lock:
            current = self._setpoints.active.get(key)
            if current is None or current.payload != value:
                return  # a newer write replaced it while this refresh waited for the lock
            with contextlib.suppress(WriteError):
                await self._send(key, value, f"{self.device_id} {key[0]}.{key[1]}")


def _checked(
    plan: AssetPlan, point: str, value: PointValue, where: str
) -> tuple[float | int | bool, bool]:
    """The value the device gets, and whether it differs from the one asked for.

    Raises:
        OutOfRangeError: not a finite number in range.
    """
    spec = plan.setpoints[point]
    if isinstance(value, bool):
        return value, False
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise OutOfRangeError(f"{where}: {value!r} is not a finite number")
    limits = plan.range_of(point)
    number = float(value)
    if limits is not None:
        low, high = limits
        if not low <= number <= high:
            raise OutOfRangeError(f"{where}: {number:g} outside {low:g}..{high:g}")
    target = number
    device_low = spec.low
    if spec.zero_means_off and device_low is not None and 0 < number < device_low:
        target = 0.0
    if spec.step:
        target = round(target / spec.step) * spec.step
    if isinstance(value, int) and float(target).is_integer():
        return int(target), target != number
    return target, target != number


def _raise_if_cancelling() -> None:
    """Keep a cancel a cancel (Python 3.11: a timeout expiring during a cancel surfaces as
    ``TimeoutError``)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
