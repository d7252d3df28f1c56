"""Simulated devices that speak their real protocols on loopback, and the site physics behind them.

Starting the demo site (what ``ampacity run`` does without a config)::

    from ampacity.sim import DemoSite

    site = DemoSite()                      # SystemClock; DemoSite(clock=ScaledClock(start, 60))
    endpoints = await site.start()         # {profile id: Endpoint}
    ...
    await site.stop()                      # or: async with DemoSite() as site: ...

``DemoSite(clock=..., config=SiteConfig(...), host="127.0.0.1", ports={profile_id: port},
refresh_s=0.5)``. ``start()`` returns one ``Endpoint`` per device, keyed by profile id:

* ``siemens_sentron_pac2200`` - TCP ``host:port``, unit 1 (grid meter, + = import);
* ``sma_sunny_tripower`` - TCP, unit 3 (PV inverter);
* ``sma_sunny_boy_storage`` - TCP, unit 3 (battery);
* ``alfen_eve_double`` - TCP, units 1 and 2 (charge points ``socket1``/``socket2``), 200 (station);
* ``heidelberg_energy_control`` - RTU on ``Endpoint.device`` (a pty), unit 1;
* ``janitza_umg604`` - RTU on the same device path, unit 2 (sub-meter of the household load).

TCP ports are free ports unless given in ``ports``. The RS485 pair shares one virtual line at
19200 baud 8N1 (``Endpoint.baudrate/parity/stopbits/bytesize``; ptys refuse parity, see
``sim.demo``). Site config for the server: each device's profile id, the endpoint, and the unit
id (``Endpoint.unit_ids``; the Janitza needs unit id 2 configured, its profile default is 1).

Run time control: ``site.devices[profile_id].faults.set(Fault.SILENT)`` (also ``EXCEPTION``,
``GARBAGE``, ``DISCONNECT``; ``Fault.NONE`` heals); ``site.physics`` is the ``SitePhysics``
(power flows, battery, charge points); ``site.tick()`` advances it to the clock and refreshes the
registers (the demo does this every ``refresh_s``).

``python -m ampacity.sim [--speed 60]`` runs the demo devices on their own and prints the
endpoints (useful to point another Modbus tool at them).

``AMPACITY_DEMO_START`` (``HH:MM``, today at that local time of the site, or an ISO datetime)
starts the demo's simulated day there, for ``ampacity run`` and ``python -m ampacity.sim``:
``demo_clock(zone)`` is then a ``ScaledClock`` from that time (at real speed unless ``--speed``).

Writes behave like the devices: only ``write:`` registers (and their ``before`` steps) are
writable (else exception 2), values outside the profile's ``min``/``max`` are refused (exception
3), and a setpoint takes effect only while its ``before`` registers hold their values (SMA 40151 =
802, 40210 = 1079; Heidelberg 258 = 4), as a driver writes them before the first setpoint.

Building blocks (each module has one job):

* ``sim.registers`` - ``RegisterImage``: a profile's registers encoded from a ``DeviceModel``,
  client writes decoded back into it;
* ``sim.server`` - ``SimulatedDevice`` (profile + model + ``FaultSwitch``) and ``SimServer``
  (pymodbus TCP or RTU server for one or more devices, several unit ids);
* ``sim.faults`` - ``Fault``, ``FaultSwitch``;
* ``sim.pty`` - ``VirtualSerialLine``, a pty pair joined like a null-modem cable;
* ``sim.solar``, ``sim.load``, ``sim.battery``, ``sim.ev`` - the physics parts;
* ``sim.site`` - ``SitePhysics`` (one household) and its device models;
* ``sim.clock`` - ``SystemClock``, ``FakeClock``, ``ScaledClock``, ``demo_clock``.
"""

from .clock import DEMO_START_ENV, Clock, FakeClock, ScaledClock, SystemClock, demo_clock
from .demo import DemoSite, Endpoint
from .faults import Fault, FaultSwitch
from .registers import DeviceModel, RegisterImage, StaticModel, WriteOutcome
from .server import SimServer, SimulatedDevice
from .site import SiteConfig, SitePhysics

__all__ = [
    "DEMO_START_ENV",
    "Clock",
    "DemoSite",
    "DeviceModel",
    "Endpoint",
    "FakeClock",
    "Fault",
    "FaultSwitch",
    "RegisterImage",
    "ScaledClock",
    "SimServer",
    "SimulatedDevice",
    "SiteConfig",
    "SitePhysics",
    "StaticModel",
    "SystemClock",
    "WriteOutcome",
    "demo_clock",
]
