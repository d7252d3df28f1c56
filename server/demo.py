"""The demo site: ``ampacity run`` with no configuration.

Starts the simulated devices of ``ampacity.sim`` on loopback (an SML grid meter on a pty, an SMA
Energy Meter on the PV feed over Speedwire, five Modbus devices sharing one site physics, a KEBA
P30 charger on its UDP interface, plus a Fronius Symo found by SunSpec discovery) and yields a
site configuration that points at them, exactly as an installer would write it for real devices.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from pathlib import Path

from ampacity.control import ChargeMode, ControlConfig, StrategyConfig
from ampacity.control.config import BatteryConfig, ChargePointConfig, PvConfig
from ampacity.control.dimming import DimmedConsumer, DimmingConfig
from ampacity.control.schedule import PlannerConfig
from ampacity.drivers.signals import RippleReceiverConfig
from ampacity.drivers.tariffs import PriceComponents, TariffConfig
from ampacity.sim.clock import Clock, demo_clock
from ampacity.sim.demo import PV_METER_SERIAL, DemoSite
from ampacity.sim.ev import ChargePointSim, SessionPlan
from ampacity.sim.keba import KebaSimulator, KebaStation
from ampacity.sim.load import site_zone
from ampacity.sim.signals import ModbusContactSim
from ampacity.sim.site import INVERTER_EFFICIENCY
from ampacity.sim.site import SiteConfig as Household
from ampacity.sim.solar import CloudModel, PvArray
from ampacity.sim.speedwire import free_udp_port
from ampacity.sim.sunspec import SunSpecInputs, SunSpecSimulator
from ampacity.sim.tariff import TariffSimServer

from .config import BusConfig, DeviceConfig, ServerSettings, SiteConfig, SiteInfo
from .security import SecurityConfig

DEFAULT_DATA_DIR = Path("ampacity-data")
DIMMING_HOURS = (17, 19)
"""With ``daily_dimming``, the demo's grid operator closes the § 14a contact from 17:00 to 19:00
site time (the evening peak): the control caps the consumers, the ``DimmingActive`` alarm is
raised and cleared by itself once a day."""
DIMMING_CONTACT = 4
"""The demo keeps its data here, relative to the working directory."""

FRONIUS_PEAK_W = 6_000.0
"""DC peak power of the demo's second (east-facing, Fronius) array, W."""

KEBA_SESSION = SessionPlan(time(11, 0), time(15, 0), 8_000.0, phases=3)
"""The vehicle at the demo's KEBA: a lunchtime visitor that takes what the PV leaves."""

DEVICE_IDS = {
    "sma_sunny_tripower": "pv-sma",
    "sma_sunny_boy_storage": "battery",
    "alfen_eve_double": "wallbox",
    "heidelberg_energy_control": "heidelberg",
    "janitza_umg604": "submeter",
}
"""Profile id -> device id in the demo site."""


def demo_control(battery_charge_w: float, battery_discharge_w: float) -> ControlConfig:
    """The demo's energy management: self-consumption with the battery, the 70 % feed-in rule
    shared by both inverters, three charge points in different modes (Surplus with 1p/3p
    switching, Fast, SurplusPlus), the control box's feed-in stages and its § 14a contact;
    visible under ``demo.Control``. The demo battery does not
    report its power limits, so they are configured (W)."""
    return ControlConfig(
        grid_meter="grid-meter",
        batteries=(
            BatteryConfig(
                id="battery",
                reserve_soc_pct=10.0,
                max_charge_w=battery_charge_w,
                max_discharge_w=battery_discharge_w,
            ),
        ),
        pv=(PvConfig(id="pv-sma"), PvConfig(id="pv-fronius")),
        charge_points=(
            ChargePointConfig(
                id="wallbox-socket1",
                mode=ChargeMode.SURPLUS,
                phase_switching=True,
                max_current_a=16.0,
            ),
            ChargePointConfig(
                id="wallbox-socket2",
                mode=ChargeMode.FAST,
                max_current_a=16.0,
                max_price_per_kwh=0.30,  # CostOptimised: full power at or below 0.30 EUR/kWh
            ),
            ChargePointConfig(id="heidelberg", mode=ChargeMode.SURPLUS_PLUS, max_current_a=16.0),
            # last in line: the KEBA (UDP) takes the surplus the others leave
            ChargePointConfig(
                id="keba", mode=ChargeMode.SURPLUS, max_current_a=16.0, plug_in_check_s=0.0
            ),
        ),
        strategies={"self-consumption": StrategyConfig(grid_target_w=50.0, max_feed_in_pct=70.0)},
        ripple_control=("rcr",),
        tariff="tariff",
        planner=PlannerConfig(export_price_per_kwh=0.08),
        dimming=DimmingConfig(
            signal="rcr.Contact4",
            consumers=(
                DimmedConsumer(id="wallbox-socket1", kind="charge_point"),
                DimmedConsumer(id="wallbox-socket2", kind="charge_point"),
                DimmedConsumer(id="heidelberg", kind="charge_point"),
                DimmedConsumer(id="keba", kind="charge_point"),
                DimmedConsumer(id="battery", kind="battery"),
            ),
        ),
    )


@dataclass
class Demo:
    """The running demo devices and the site configuration that reaches them."""

    config: SiteConfig
    sims: DemoSite
    """The simulated devices and their physics (fault switches, register images; the SML grid
    meter is ``sims.grid_meter``, the PV feed's Energy Meter ``sims.pv_meter``)."""
    fronius: SunSpecSimulator
    ripple: ModbusContactSim
    """The control box: contacts 1..3 are the feed-in stages (100/60/30 %), contact 4 is the
    § 14a dimming signal; ``ripple.set_contact(n, closed)`` flips one."""
    keba: KebaSimulator | None = None
    """The KEBA P30 on UDP; its vehicle is ``keba.station.car`` (a charge point of the
    physics)."""


@contextlib.asynccontextmanager
async def demo_site(
    data_dir: Path | None = None,
    port: int = 4840,
    daily_dimming: bool = False,
    clock: Clock | None = None,
) -> AsyncIterator[Demo]:
    """Start the demo devices; yield them with the site configuration that reaches them.

    The simulated devices run on the wall clock; ``AMPACITY_DEMO_START`` (``HH:MM``, the site's
    local time today, or an ISO datetime) starts their day at that time instead, at real speed.
    ``daily_dimming`` (``ampacity run``'s demo): the control box dims during ``DIMMING_HOURS``.
    ``clock``: the devices' clock instead of either (a test that moves the demo's time on).
    """
    household = Household()
    zone = site_zone(household.time_zone)
    if clock is None:
        clock = demo_clock(zone)
    async with (
        DemoSite(clock=clock, config=household) as sims,
        contextlib.AsyncExitStack() as stack,
    ):
        physics = sims.physics
        assert physics is not None
        fronius_array = PvArray(
            FRONIUS_PEAK_W,
            physics.config.lat_deg,
            physics.config.lon_deg,
            clouds=CloudModel(cloudiness=physics.config.cloudiness, seed=7),
        )

        def fronius_available_w(when: datetime) -> float:
            return max(0.0, INVERTER_EFFICIENCY * fronius_array.dc_power(when))

        def fronius_inputs() -> SunSpecInputs:
            return SunSpecInputs(pv_available_w=fronius_available_w(physics.clock.now()))

        fronius = SunSpecSimulator.fronius_symo(fronius_inputs, meter=False)
        await fronius.start()
        stack.push_async_callback(fronius.stop)
        # the grid operator's control box: four contacts on a Modbus I/O module (coils 0..3)
        # dynamic prices: the real 2024 DE-LU day-ahead series, served as Energy-Charts does
        tariff_server = TariffSimServer()
        tariff_url = await tariff_server.start()
        stack.push_async_callback(tariff_server.stop)
        ripple = ModbusContactSim(contacts=4, function="coil")
        ripple_host, ripple_port = await ripple.start()
        stack.push_async_callback(ripple.stop)
        if daily_dimming:
            schedule = asyncio.create_task(_daily_dimming(ripple, clock, zone), name="demo-dimming")
            stack.callback(schedule.cancel)
        # what the Fronius feeds in (after its active-power limit) counts in the grid meter
        physics.producers["fronius"] = lambda when: min(fronius_available_w(when), fronius.limit_w)
        # a KEBA P30 on its UDP interface: it answers to the site's port, as a real one answers
        # to 7090; its vehicle is one more charge point of the physics
        keba_car = ChargePointSim(KEBA_SESSION, limit_timeout_s=None)
        physics.chargers["keba"] = keba_car
        keba_bind = f"127.0.0.1:{free_udp_port('127.0.0.1')}"
        keba = KebaSimulator(
            KebaStation(car=keba_car, serial="20123456", product="KC-P30-EC240422-E00"),
            reply_port=int(keba_bind.rpartition(":")[2]),
        )
        await keba.start()
        stack.push_async_callback(keba.stop)

        devices: list[DeviceConfig] = [
            # the grid meter: an SML meter read through an "optical head" on a pty
            DeviceConfig.model_validate(
                {
                    "id": "grid-meter",
                    "profile": "sml",
                    "serial": sims.grid_meter_path,
                    "role": "grid",
                }
            ),
            # the PV feed's SMA Energy Meter, Speedwire unicast on loopback
            DeviceConfig.model_validate(
                {
                    "id": "pv-meter",
                    "profile": "sma_energy_meter",
                    "bind": sims.pv_meter_bind,
                    "serial_number": PV_METER_SERIAL,
                    "multicast_group": None,
                    "role": "production",
                }
            ),
        ]
        bus_path: str | None = None
        for profile_id, endpoint in sims.endpoints.items():
            if profile_id not in DEVICE_IDS:
                continue  # the PAC2200 simulator: the site reads the SML grid meter instead
            device_id = DEVICE_IDS[profile_id]
            if endpoint.transport == "tcp":
                devices.append(
                    DeviceConfig(
                        id=device_id,
                        profile=profile_id,
                        host=endpoint.host,
                        port=endpoint.port,
                    )
                )
            else:
                bus_path = endpoint.device
                devices.append(
                    DeviceConfig(
                        id=device_id,
                        profile=profile_id,
                        bus="rs485",
                        unit_id=endpoint.unit_ids[0],
                        role="sub" if profile_id == "janitza_umg604" else None,
                    )
                )
        devices.append(
            DeviceConfig.model_validate(
                {
                    "id": "keba",
                    "profile": "keba_p30",
                    "host": "127.0.0.1",
                    "port": keba.port,
                    "bind": keba_bind,
                }
            )
        )
        devices.append(
            DeviceConfig(
                id="pv-fronius",
                profile="fronius_symo",
                host=fronius.host,
                port=fronius.port,
                assets={"inverter": "pv-fronius"},
            )
        )
        rtu = next(e for e in sims.endpoints.values() if e.transport == "rtu")
        buses = [
            BusConfig(
                id="rs485",
                device=bus_path or "",
                baudrate=rtu.baudrate,
                parity=rtu.parity,
                stopbits=rtu.stopbits,
                bytesize=rtu.bytesize,
            )
        ]
        config = SiteConfig(
            site=SiteInfo(
                id="demo",
                name="Ampacity demo site",
                latitude=physics.config.lat_deg,
                longitude=physics.config.lon_deg,
            ),
            server=ServerSettings(data_dir=data_dir or DEFAULT_DATA_DIR, port=port),
            buses=buses,
            devices=devices,
            # the demo only: None endpoint too, anonymous clients may write setpoints (loopback)
            security=SecurityConfig.demo(),
            ripple_control=[
                RippleReceiverConfig.model_validate(
                    {
                        "id": "rcr",
                        "name": "Control box (ripple-control receiver)",
                        "source": {
                            "type": "modbus",
                            "host": ripple_host,
                            "port": ripple_port,
                            "function": "coil",
                            "addresses": [0, 1, 2, 3],
                        },
                        "dimming_contact": 4,
                    }
                )
            ],
            tariffs=[
                TariffConfig(
                    id="tariff",
                    provider="energy-charts",
                    base_url=tariff_url,
                    components=PriceComponents(
                        grid_fee_per_kwh=0.11, levies_per_kwh=0.04, margin_per_kwh=0.02, vat_pct=19
                    ),
                )
            ],
            control=demo_control(physics.battery.max_charge_w, physics.battery.max_discharge_w),
        )
        yield Demo(config, sims, fronius, ripple, keba)


async def _daily_dimming(
    ripple: ModbusContactSim, clock: Clock, zone: tzinfo, period_s: float = 0.5
) -> None:
    """Keep the § 14a contact closed during ``DIMMING_HOURS`` (site time), open otherwise."""
    closed: bool | None = None
    while True:
        hour = clock.now().astimezone(zone).hour
        wanted = DIMMING_HOURS[0] <= hour < DIMMING_HOURS[1]
        if wanted != closed:
            ripple.set_contact(DIMMING_CONTACT, wanted)
            closed = wanted
        await asyncio.sleep(period_s)
