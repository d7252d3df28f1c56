"""The SML driver: an optical head on a serial port, or a network IR reader's TCP stream.

A meter pushes a frame every one to four seconds; ``SmlLink.read`` waits for the next complete,
CRC-checked frame and returns its points (the runtime does quality, ``Health``, backoff and
logging). Frames with a bad CRC are counted in ``Health.ErrorCount`` (``Health.LastError`` says
so) and never published. What the user sees for each fault:

* no bytes at all for ``frame_timeout_s``: "no data from /dev/ttyUSB0 for 10 s (...)";
* bytes but no SML frame (noise, a wrong baud rate, a head on the wrong side of the meter):
  "4096 bytes from ... in 10 s but no SML frame: wrong baud rate (this line: 9600 8N1) ...";
* only CRC-broken frames: "3 SML frames from ... failed the CRC check in 10 s";
* the device is unplugged: "no such serial device /dev/ttyUSB0"; a network reader down:
  "connection refused 192.0.2.7:8888".

Every one of these keeps the last values as ``UncertainLastUsableValue`` (the runtime) and the
meter's ``Health.Connected`` false; none raises out of the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ampacity.assets import SPECS, AssetKind, PointValue
from ampacity.drivers.base import Driver
from ampacity.drivers.profile import ProfileHeader
from ampacity.drivers.registry import BuildContext, DeviceEntry
from ampacity.drivers.runtime import (
    AssetPlan,
    DeviceError,
    PointKey,
    PolledDriver,
    Sample,
    describe,
)
from ampacity.drivers.runtime.health import REMINDER_S
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .decode import decode_entries
from .frames import FrameReader, RawFrame
from .meter import DEFAULT_POINTS, ObisPoint, SmlMeter, manufacturer_flag

log = logging.getLogger("ampacity.drivers.sml")

PROFILES = Path(__file__).parent / "profiles"
HOLLEY = "HLY"
READ_LIMIT = 65536
"""Bytes taken from the stream per read: all a stream buffers (asyncio's default limit), so a
backlog (after a stall or at start) is decoded at once and only its newest frame is published."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmlPoint(_Strict):
    """A model point and the OBIS codes it is read from (the first one the frame has)."""

    obis: tuple[str, ...] = Field(min_length=1)
    unit: int | None = Field(None, description="DLMS unit code the value must have (27 = W ...).")

    @field_validator("obis")
    @classmethod
    def _obis_form(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        for code in codes:
            if "-" not in code or ":" not in code or "*" not in code:
                raise ValueError(f"{code!r} is not an OBIS code like '1-0:1.8.0*255'")
        return codes


class SmlAsset(_Strict):
    key: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    kind: AssetKind = AssetKind.ELECTRICITY_METER
    points: dict[str, SmlPoint]

    @model_validator(mode="after")
    def _points_exist(self) -> SmlAsset:
        if self.kind is not AssetKind.ELECTRICITY_METER:
            raise ValueError("an SML meter is an ElectricityMeter")
        known = set(SPECS[self.kind].point_names)
        for name in self.points:
            if name not in known or name == "ActivePower":
                raise ValueError(
                    f"{name!r}: not a point of ElectricityMeter read from one OBIS code "
                    "(ActivePower follows the driver's sign rule)"
                )
        return self


class SerialSettings(_Strict):
    """The optical head's line: SML meters send 9600 baud 8N1."""

    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1


class SmlProfile(ProfileHeader):
    """A ``driver: sml`` profile: the OBIS codes of the points, the serial defaults."""

    driver: Literal["sml"] = "sml"
    assets: tuple[SmlAsset, ...] = Field(min_length=1, max_length=1)
    serial: SerialSettings = SerialSettings()
    frame_timeout_s: float = Field(
        10.0, gt=0, le=120, description="No complete frame for this long is a failure."
    )
    discover_s: float = Field(
        5.0, ge=0, le=60, description="How long the start waits for a first frame (points)."
    )


class SmlConnection(BaseModel):
    """Where the meter's stream comes from: ``serial`` (an optical head) or ``host``/``port``
    (a network IR reader that passes the serial stream through a TCP port)."""

    model_config = ConfigDict(extra="forbid")

    serial: str | None = Field(None, description="The head's serial device, e.g. /dev/ttyUSB0.")
    baudrate: int | None = Field(None, gt=0, description="Defaults to the profile's (9600).")
    parity: Literal["N", "E", "O"] | None = None
    bytesize: Literal[7, 8] | None = None
    stopbits: Literal[1, 2] | None = None
    host: str | None = Field(None, description="A network IR reader's address.")
    port: int | None = Field(None, ge=1, le=65535)
    dzg_unsigned_power: Literal["auto", "on", "off"] = Field(
        "auto", description="The DZG DVS-7412 power encoding quirk (see drivers/sml/meter.py)."
    )

    @model_validator(mode="after")
    def _one_transport(self) -> SmlConnection:
        if (self.serial is None) == (self.host is None):
            raise ValueError("give either 'serial' (an optical head) or 'host' and 'port'")
        if self.host is not None and self.port is None:
            raise ValueError("'port' is needed with 'host' (the reader's TCP port)")
        return self


class _Stream:
    """One open byte stream (serial port or TCP)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)


class SmlLink:
    """How to read one SML meter: the next complete frame's points."""

    def __init__(
        self,
        connection: SmlConnection,
        serial: SerialSettings,
        meter: SmlMeter,
        *,
        asset_key: str = "meter",
        frame_timeout_s: float = 10.0,
    ) -> None:
        self.connection = connection
        self.serial = SerialSettings(
            baudrate=connection.baudrate or serial.baudrate,
            parity=connection.parity or serial.parity,
            bytesize=connection.bytesize or serial.bytesize,
            stopbits=connection.stopbits or serial.stopbits,
        )
        self.meter = meter
        self.asset_key = asset_key
        self.frame_timeout_s = frame_timeout_s
        self.frames = FrameReader()
        self.bad_frames = 0
        self._reported = 0
        self._warned_at: float | None = None
        self.on_bad_frame: Any = None
        """Called with a cause in words for each bad frame (the driver counts it in Health)."""
        self._stream: _Stream | None = None
        self._pending: dict[str, PointValue | Sample] | None = None

    @property
    def endpoint(self) -> str:
        if self.connection.serial is not None:
            return self.connection.serial
        return f"{self.connection.host}:{self.connection.port}"

    @property
    def line(self) -> str:
        s = self.serial
        return f"{s.baudrate} {s.bytesize}{s.parity}{s.stopbits}"

    async def _open(self) -> _Stream:
        if self._stream is not None:
            return self._stream
        if self.connection.serial is not None:
            import serial
            import serial_asyncio

            try:
                reader, writer = await serial_asyncio.open_serial_connection(
                    url=self.connection.serial,
                    baudrate=self.serial.baudrate,
                    parity=self.serial.parity,
                    bytesize=self.serial.bytesize,
                    stopbits=self.serial.stopbits,
                )
            except serial.SerialException as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, OSError):
                    raise cause from exc
                if exc.errno is not None:
                    raise OSError(exc.errno, exc.strerror or str(exc), self.endpoint) from exc
                raise OSError(f"cannot open {self.endpoint}: {exc}") from exc
        else:
            assert self.connection.host is not None and self.connection.port is not None
            reader, writer = await asyncio.open_connection(
                self.connection.host, self.connection.port
            )
        self._stream = _Stream(reader, writer)
        self.frames = FrameReader()  # a new stream starts anywhere in a frame
        self._reported = 0
        return self._stream

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        """The points of the next complete, CRC-checked frame.

        Raises:
            DeviceError: no usable frame within ``frame_timeout_s`` (the message says what came).
            OSError: the port or connection cannot be opened, or was closed.
        """
        if self._pending is not None:
            values, self._pending = self._pending, None
            return {(self.asset_key, k): v for k, v in values.items()}
        values = await self.next_values()
        return {(self.asset_key, k): v for k, v in values.items()}

    async def next_values(self) -> dict[str, PointValue | Sample]:
        """The model points of the next good frame (see ``read``)."""
        stream = await self._open()
        started_bytes = self.frames.stats.bytes_in
        started_bad = self.bad_frames
        deadline = asyncio.get_running_loop().time() + self.frame_timeout_s
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    # everything buffered at once: after a stall only the newest frame counts
                    chunk = await stream.reader.read(READ_LIMIT)
                if not chunk:
                    raise ConnectionResetError(f"{self.endpoint} closed the stream")
                newest: dict[str, PointValue | Sample] | None = None
                for frame in self.frames.feed(chunk):
                    values = self._decode(frame)
                    if values is not None:
                        newest = values
                self._report_stream_problems()
                if newest is not None:
                    return newest
        except TimeoutError:
            raise DeviceError(
                self._silence(
                    self.frames.stats.bytes_in - started_bytes, self.bad_frames - started_bad
                )
            ) from None
        except (OSError, ConnectionError):
            await self.close()
            raise

    def _decode(self, frame: RawFrame) -> dict[str, PointValue | Sample] | None:
        decoded = decode_entries(frame.payload)
        if frame.kermit and manufacturer_flag(decoded) != HOLLEY:
            self._bad(
                "SML frame failed the CRC-16/X-25 check (it verifies only as KERMIT, "
                "which only Holley meters send)"
            )
            return None
        if not decoded.entries:
            self._bad("SML frame without any OBIS value")
            return None
        for problem in decoded.rejected:
            log.debug("%s: SML entry skipped: %s", self.endpoint, problem)
        return self.meter.values(decoded, time.monotonic())

    def _report_stream_problems(self) -> None:
        stats = self.frames.stats
        seen = stats.crc_errors + stats.malformed
        while self._reported < seen:
            self._reported += 1
            self._bad(self.frames.last_problem)

    def _bad(self, cause: str) -> None:
        self.bad_frames += 1
        text = f"{cause} from {self.endpoint} ({self.bad_frames} bad frames since start)"
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= REMINDER_S:
            # one line, then a reminder at most every 10 min; each is in Health.ErrorCount
            self._warned_at = now
            log.warning("%s (further bad frames are counted in Health.ErrorCount)", text)
        else:
            log.debug("%s", text)
        if self.on_bad_frame is not None:
            self.on_bad_frame(text)

    def _silence(self, received: int, bad: int) -> str:
        t = f"{self.frame_timeout_s:g} s"
        if received == 0:
            where = (
                "is the head on the meter's optical INFO interface and the meter's output on?"
                if self.connection.serial is not None
                else "does the reader forward the meter's stream on this port?"
            )
            return f"no data from {self.endpoint} for {t} ({where})"
        if bad:
            return f"{bad} SML frames from {self.endpoint} failed the CRC check in {t}, none good"
        line = f" (this line: {self.line})" if self.connection.serial is not None else ""
        return (
            f"{received} bytes from {self.endpoint} in {t} but no SML frame: wrong baud rate"
            f"{line}, noise, or not an SML meter"
        )

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        raise DeviceError("an SML meter has no setpoints")

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()

    async def discover(self, wait_s: float) -> dict[str, PointValue | Sample] | None:
        """The first frame's points (kept for the first ``read``), or ``None`` in time."""
        if wait_s <= 0:
            return None
        saved = self.frame_timeout_s
        self.frame_timeout_s = wait_s
        try:
            values = await self.next_values()
        except (DeviceError, OSError) as exc:
            log.warning(
                "%s: no SML frame at start (%s); serving every point of the profile",
                self.endpoint,
                describe(exc, self.endpoint),
            )
            return None
        finally:
            self.frame_timeout_s = saved
        self._pending = values
        return values


async def create(entry: DeviceEntry, context: BuildContext) -> Driver:
    profile = entry.profile
    assert isinstance(profile, SmlProfile)
    connection = entry.connection
    assert isinstance(connection, SmlConnection)
    asset = profile.assets[0]
    points = {name: ObisPoint(p.obis, p.unit) for name, p in asset.points.items()}
    meter = SmlMeter(points or dict(DEFAULT_POINTS), connection.dzg_unsigned_power)
    link = SmlLink(
        connection,
        profile.serial,
        meter,
        asset_key=asset.key,
        frame_timeout_s=profile.frame_timeout_s,
    )
    first = await link.discover(profile.discover_s)
    if first is not None:
        names = ["ActivePower", *(n for n in points if n in first)]
    else:
        names = ["ActivePower", *points]
    plan = AssetPlan(
        asset.key,
        entry.asset_ids[asset.key],
        asset.kind,
        tuple(names),
        identification={"Model": "SML meter", "DeviceProfile": profile.id},
    )
    driver = PolledDriver(
        entry.device_id,
        [plan],
        link,
        poll_s=entry.poll_s or profile.poll_s,
        streaming=True,
        timeout_s=profile.frame_timeout_s + 2.0,
        backoff_max_s=30.0,
    )
    health = driver.runtime.health

    def bad_frame(cause: str) -> None:
        health.failed(cause, disconnected=False)

    link.on_bad_frame = bad_frame
    return driver
