"""The demo site: eight simulated devices on loopback sharing one ``SitePhysics``.

* the grid meter - an SML meter (a real Iskra MT175 frame with the house's values) on a pty, as an
  optical head delivers it (``DemoSite.grid_meter``, ``grid_meter_path``);
* the PV meter - an SMA Energy Meter on Speedwire, unicast to ``127.0.0.1:<port>``
  (``DemoSite.pv_meter``, ``pv_meter_bind``), measuring the SMA inverter's output;
* ``siemens_sentron_pac2200`` - Modbus TCP ``127.0.0.1:<port>``, unit 1: the same grid values on a
  Modbus meter (the demo site reads the SML meter; tests and ``ampacity read`` use this one);
* ``sma_sunny_tripower`` - Modbus TCP, unit 3 (PV inverter);
* ``sma_sunny_boy_storage`` - Modbus TCP, unit 3 (battery);
* ``alfen_eve_double`` - Modbus TCP, units 1 and 2 (sockets) and 200 (station);
* ``heidelberg_energy_control`` - Modbus RTU on a pty, unit 1;
* ``janitza_umg604`` - Modbus RTU on the same pty, unit 2 (sub-meter of the household load).

Each TCP device has its own port (a free one unless ``ports`` names it), as real devices have
their own address. The RS485 pair shares one ``VirtualSerialLine``; ``Endpoint.device`` is the
client side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Literal

from ampacity.drivers.profile import all_profiles

from .clock import Clock, SystemClock
from .pty import VirtualSerialLine
from .server import SimServer, SimulatedDevice
from .site import SiteConfig, SitePhysics
from .sml import DemoGridMeter
from .speedwire import SmaEnergyMeterSim, free_udp_port

PV_METER_SERIAL = 1901403938
"""The demo PV meter's serial number (the real EM 1.0 datagram's)."""

log = logging.getLogger(__name__)

TCP_DEVICES = (
    "siemens_sentron_pac2200",
    "sma_sunny_tripower",
    "sma_sunny_boy_storage",
    "alfen_eve_double",
)
RS485_DEVICES = {"heidelberg_energy_control": 1, "janitza_umg604": 2}
"""Profile id -> unit id on the shared RS485 line."""
RS485_SETTINGS = {"baudrate": 19200, "parity": "N", "stopbits": 1, "bytesize": 8}
"""Line settings of the demo bus: 19200 baud 8N1. A real Heidelberg bus runs 8E1, but Linux
pseudo-terminals refuse parity settings (``tcsetattr`` fails with EINVAL) and pass bytes unchanged
anyway, so both ends of the virtual line must open it without parity."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a simulated device answers.

    Attributes:
        profile: the profile id (also the device name).
        transport: ``tcp`` or ``rtu``.
        unit_ids: the unit ids it answers on.
        host / port: TCP endpoint (``None`` for RTU).
        device: client-side serial device path (``None`` for TCP).
        baudrate / parity / stopbits / bytesize: RTU line settings.
    """

    profile: str
    transport: Literal["tcp", "rtu"]
    unit_ids: tuple[int, ...]
    host: str | None = None
    port: int | None = None
    device: str | None = None
    baudrate: int = 19200
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


@dataclass
class DemoSite:
    """Start and stop the demo devices.

    Args:
        clock: time source of the physics (``SystemClock`` by default; a ``ScaledClock`` runs the
            day faster, a ``FakeClock`` lets tests drive it).
        config: the household; the default site otherwise.
        host: address to listen on.
        ports: profile id -> TCP port; missing or 0 = a free port.
        refresh_s: real seconds between physics updates and register refreshes.
    """

    clock: Clock = field(default_factory=SystemClock)
    config: SiteConfig | None = None
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    refresh_s: float = 0.5
    physics: SitePhysics | None = field(default=None, init=False)
    """The shared physics (after ``start``)."""
    devices: dict[str, SimulatedDevice] = field(default_factory=dict, init=False)
    """The simulated devices by profile id (fault switches: ``devices[id].faults``)."""
    endpoints: dict[str, Endpoint] = field(default_factory=dict, init=False)
    grid_meter: DemoGridMeter | None = field(default=None, init=False)
    """The SML grid meter (fault switch: ``grid_meter.faults``)."""
    grid_meter_path: str = field(default="", init=False)
    """The serial device the grid meter's "optical head" is on."""
    pv_meter: SmaEnergyMeterSim | None = field(default=None, init=False)
    """The SMA Energy Meter on the PV feed."""
    pv_meter_bind: str = field(default="", init=False)
    """``host:port`` its datagrams go to (unicast)."""
    _servers: list[SimServer] = field(default_factory=list, init=False)
    _line: VirtualSerialLine | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def start(self) -> dict[str, Endpoint]:
        """Start every device; returns the endpoints by profile id."""
        self.physics = physics = SitePhysics(self.clock, self.config)
        models = physics.models()
        profiles = all_profiles()
        try:
            self.grid_meter = DemoGridMeter(
                lambda: physics.grid_w,
                lambda: (physics.grid_import_wh, physics.grid_export_wh),
            )
            self.grid_meter_path = self.grid_meter.start()
            port = free_udp_port(self.host)
            self.pv_meter_bind = f"{self.host}:{port}"
            self.pv_meter = SmaEnergyMeterSim(
                lambda: physics.pv_w,
                lambda: physics.pv_energy_wh,
                (self.host, port),
                serial=PV_METER_SERIAL,
                period_s=0.5,  # the EM 2.0 sends up to 5 times a second; twice keeps start-up short
            )
            self.pv_meter.start()
            for pid in TCP_DEVICES:
                device = SimulatedDevice(profiles[pid], models[pid])
                server = SimServer([device])
                self._servers.append(server)
                host, port = await server.start_tcp(self.host, self.ports.get(pid, 0))
                self.devices[pid] = device
                self.endpoints[pid] = Endpoint(
                    pid, "tcp", tuple(sorted(device.unit_ids)), host=host, port=port
                )
            bus = [
                SimulatedDevice(profiles[pid], models[pid], unit_id=unit)
                for pid, unit in RS485_DEVICES.items()
            ]
            self._line = line = VirtualSerialLine()
            line.open()
            server = SimServer(bus)
            self._servers.append(server)
            await server.start_rtu(line.server_path, **RS485_SETTINGS)  # type: ignore[arg-type]
            for device in bus:
                self.devices[device.name] = device
                self.endpoints[device.name] = Endpoint(
                    device.name, "rtu", tuple(sorted(device.unit_ids)), device=line.client_path
                )
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._run(), name="ampacity-demo-physics")
        return dict(self.endpoints)

    def tick(self) -> None:
        """Advance the physics to the clock's time and refresh every device's registers."""
        if self.physics is not None:
            self.physics.update()
        for server in self._servers:
            server.refresh()

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a physics bug must not stop the devices from answering
                log.exception("demo site: refreshing the simulated devices failed")
            await asyncio.sleep(self.refresh_s)

    async def stop(self) -> None:
        """Stop the refresh task, the servers and the serial line."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self._servers:
            await server.stop()
        self._servers.clear()
        meter, self.grid_meter = self.grid_meter, None
        if meter is not None:
            await meter.stop()
        pv_meter, self.pv_meter = self.pv_meter, None
        if pv_meter is not None:
            await pv_meter.stop()
        if self._line is not None:
            self._line.close()
            self._line = None

    async def __aenter__(self) -> DemoSite:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
