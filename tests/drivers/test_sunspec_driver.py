"""SunSpecDriver against the SunSpec simulator over Modbus TCP (the engine's ``TcpLink``), and
against an in-memory link where a test needs to change the device under the driver."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from ampacity.assets import AssetKind, OutOfRangeError, Quality
from ampacity.drivers.codec import WireType, encode
from ampacity.drivers.modbus.tcp import TcpLink
from ampacity.drivers.profile import Profile, SunSpecOptions, all_profiles
from ampacity.drivers.runtime.backoff import Backoff
from ampacity.drivers.sunspec.driver import SunSpecDriver
from ampacity.sim.sunspec import ConstantSource, ModelSpec, SunSpecSimulator
from test_sunspec_support import Chain, MemoryLink, Sink, poll_once, wait_for

POLL_S = 0.2


def fronius(**options: object) -> Profile:
    profile = all_profiles()["fronius_symo"]
    if not options:
        return profile
    assert profile.sunspec is not None
    return profile.model_copy(update={"sunspec": profile.sunspec.model_copy(update=options)})


def tcp_link(port: int) -> TcpLink:
    return TcpLink("127.0.0.1", port, timeout_s=POLL_S, backoff=Backoff(initial_s=0.05, cap_s=0.2))


@pytest.fixture
def source() -> ConstantSource:
    return ConstantSource(pv_available_w=6000.0, load_w=1500.0)


@pytest.fixture
async def symo(source: ConstantSource) -> AsyncIterator[SunSpecSimulator]:
    sim = SunSpecSimulator.fronius_symo(source)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def link(symo: SunSpecSimulator) -> AsyncIterator[TcpLink]:
    tcp = tcp_link(symo.port)
    yield tcp
    await tcp.close()


async def test_fronius_int_chain_discovered_and_read(symo: SunSpecSimulator, link: TcpLink) -> None:
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
    assets = await driver.discover(timeout_s=5)
    assert [(a.asset_id, a.kind) for a in assets] == [
        ("pv1-inverter", AssetKind.PV_INVERTER),
        ("pv1-meter", AssetKind.ELECTRICITY_METER),
    ]
    inverter, meter = assets
    assert driver.chains[1].ids() == (1, 103, 120, 123, 160)
    assert driver.chains[240].ids() == (1, 203)
    assert inverter.ranges == {"ActivePowerLimit": (0.0, 8200.0)}
    assert inverter.identification["Model"] == "Symo 8.2-3-M"
    assert inverter.identification["DeviceProfile"] == "fronius_symo"
    assert meter.identification["Model"] == "Smart Meter 63A"
    assert {"NominalPower", "ActivePowerLimit", "DcPower", "OperatingState"} <= set(inverter.points)
    assert {"EnergyImported", "EnergyExported", "Role"} <= set(meter.points)

    sink = await poll_once(driver, "pv1-meter.ActivePower")
    got = {k: (r.value, r.quality) for k, r in sink.latest.items()}
    assert got["pv1-inverter.ActivePower"] == (6000.0, Quality.GOOD)
    assert got["pv1-inverter.NominalPower"] == (8200.0, Quality.GOOD)
    assert got["pv1-inverter.ActivePowerLimit"] == (8200.0, Quality.GOOD)  # no limit active
    assert got["pv1-inverter.OperatingState"] == (4, Quality.GOOD)
    assert got["pv1-inverter.VoltageL2"] == (230.0, Quality.GOOD)  # 2300 × 10^-1
    assert got["pv1-inverter.CurrentL1"] == (8.7, Quality.GOOD)  # 6000 W / 3 / 230 V, SF -2
    # 1500 W load, 6000 W PV: 4500 W export; the model's grid power is + = import.
    assert got["pv1-meter.ActivePower"] == (-4500.0, Quality.GOOD)
    assert got["pv1-meter.Role"] == (0, Quality.GOOD)
    assert got["pv1-inverter.Identification.SerialNumber"] == ("SIM31329509", Quality.GOOD)
    assert got["pv1-inverter.Health.Connected"] == (True, Quality.GOOD)
    assert got["pv1-inverter.Health.ErrorCount"] == (0, Quality.GOOD)
    assert "pv1-inverter.Health.PollDuration" in got
    assert "pv1-inverter.Health.LastGood" in got


@pytest.mark.parametrize(
    ("base", "float_models"), [(0, True), (50000, True), (40000, True), (0, False), (50000, False)]
)
async def test_int_and_float_chains_at_every_base_address(
    base: int, float_models: bool, source: ConstantSource
) -> None:
    sim = SunSpecSimulator.fronius_symo(source, float_models=float_models, base=base)
    await sim.start()
    link = tcp_link(sim.port)
    try:
        driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
        await driver.discover(timeout_s=5)
        assert driver.chains[1].base == base
        inverter, meter = (113, 213) if float_models else (103, 203)
        assert driver.chains[1].ids() == (1, inverter, 120, 123, 160)
        assert driver.chains[240].ids() == (1, meter)
        sink = await poll_once(driver, "pv1-meter.ActivePower")
        assert sink.latest["pv1-inverter.ActivePower"].value == 6000.0
        assert sink.latest["pv1-meter.ActivePower"].value == -4500.0
        assert sink.latest["pv1-meter.EnergyExported"].quality is Quality.GOOD
    finally:
        await link.close()
        await sim.stop()


async def test_models_in_another_order_and_length(source: ConstantSource) -> None:
    models: list[ModelSpec] = [(1, 65), (64111, 10), 120, (160, 68), 123, 103]
    sim = SunSpecSimulator({3: models}, source)
    sim.set_raw(3, 103, "DCW", [0x8000])  # no DC power in the inverter model: use model 160
    await sim.start()
    link = tcp_link(sim.port)
    try:
        driver = SunSpecDriver("inv", link, unit_id=3, poll_s=POLL_S)
        (asset,) = await driver.discover(timeout_s=5)
        assert asset.asset_id == "inv-inverter"
        assert driver.chains[3].ids() == (1, 64111, 120, 160, 123, 103)
        assert driver.chains[3].models[3].length == 68  # three MPPT modules
        assert "ActivePowerLimit" in asset.points
        sink = await poll_once(driver, "inv-inverter.DcPower")
        dc = sink.latest["inv-inverter.DcPower"]
        assert dc.quality is Quality.GOOD
        assert dc.value == pytest.approx(6000 / 0.97, abs=2)  # Σ of 3 modules, 1 W steps
    finally:
        await link.close()
        await sim.stop()


async def test_active_power_limit_writes_model_123_and_limits_the_sim(
    symo: SunSpecSimulator, link: TcpLink
) -> None:
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
    await driver.discover(timeout_s=5)
    result = await driver.write("pv1-inverter", "ActivePowerLimit", 4100.0)
    assert result.written == 4100.0
    assert result.read_back == 4100.0
    assert not result.clamped
    regs = symo.registers(1, 123)
    assert regs[5] == 5000  # WMaxLimPct: 50.00 % with WMaxLimPct_SF -2
    assert regs[7] == 60  # WMaxLimPct_RvrtTms: the profile's revert timeout
    assert regs[9] == 1  # WMaxLim_Ena
    assert encode(-2, WireType.S16) == [regs[23]]
    symo.refresh()
    assert symo.inverter_power_w == 4100.0

    sink = await poll_once(driver, "pv1-inverter.ActivePower")
    assert sink.latest["pv1-inverter.ActivePower"].value == 4100.0
    assert sink.latest["pv1-inverter.ActivePowerLimit"].value == 4100.0
    assert sink.latest["pv1-inverter.OperatingState"].value == 5  # throttled

    released = await driver.write("pv1-inverter", "ActivePowerLimit", 8200.0)
    assert released.read_back == 8200.0
    assert symo.registers(1, 123)[9] == 0  # the nominal power means no limit


@pytest.mark.parametrize("value", [8200.5, -1.0, math.nan, math.inf, True, "4000"])
async def test_out_of_range_write_raises_and_writes_nothing(
    symo: SunSpecSimulator, link: TcpLink, value: object
) -> None:
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
    await driver.discover(timeout_s=5)
    before = symo.registers(1, 123)
    with pytest.raises(OutOfRangeError):
        await driver.write("pv1-inverter", "ActivePowerLimit", value)  # type: ignore[arg-type]
    assert symo.registers(1, 123) == before


async def test_values_go_uncertain_within_three_polls_and_come_back(
    symo: SunSpecSimulator, link: TcpLink
) -> None:
    loop = asyncio.get_running_loop()
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
    await driver.discover(timeout_s=5)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    key = "pv1-inverter.ActivePower"
    try:
        await wait_for(lambda: key in sink.latest)
        good = sink.latest[key]
        symo.answering = False
        stopped = loop.time()
        await wait_for(lambda: sink.latest[key].quality is not Quality.GOOD, 3 * POLL_S + 0.1)
        assert loop.time() - stopped <= 3 * POLL_S
        lost = sink.latest[key]
        assert lost.quality is Quality.UNCERTAIN_LAST_USABLE
        last_good = [r for r in sink.readings if r.node_key == key and r.quality.is_good][-1]
        assert lost.value == last_good.value == good.value
        assert lost.source_time == last_good.source_time  # when it was read, not now
        await wait_for(lambda: sink.latest["pv1-inverter.Health.Connected"].value is False)
        assert sink.latest["pv1-inverter.Health.ErrorCount"].value >= 1
        assert sink.latest["pv1-inverter.Health.LastError"].value

        symo.answering = True
        await wait_for(lambda: sink.latest[key].quality is Quality.GOOD, 5.0)
        assert sink.latest["pv1-inverter.Health.Connected"].value is True
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_device_that_never_answered_is_bad_communication_error() -> None:
    link = MemoryLink({})
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=0.05)
    assets = await driver.discover(timeout_s=1)
    # The profile's declared assets, with the points a typical device has.
    assert [a.asset_id for a in assets] == ["pv1-inverter", "pv1-meter"]
    assert "ActivePowerLimit" in assets[0].points
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await wait_for(lambda: "pv1-meter.EnergyImported" in sink.latest)
        for asset in assets:
            for point in asset.points:
                reading = sink.latest[f"{asset.asset_id}.{point}"]
                assert reading.quality is Quality.BAD_COMMUNICATION_ERROR
        assert sink.latest["pv1-inverter.Health.Connected"].value is False
        assert "no answer" in str(sink.latest["pv1-inverter.Health.LastError"].value)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def inverter_chain(watts: int, rated_w: int = 5000) -> Chain:
    """An int+SF inverter chain (models 1, 103, 120, 123) producing ``watts`` of ``rated_w``."""
    chain = Chain([(1, 65), 103, 120, 123])
    chain.put(103, "W", watts)
    chain.put(103, "W_SF", 0)
    chain.put(120, "WRtg", rated_w)
    chain.put(120, "WRtg_SF", 0)
    return chain


async def test_late_discovery_maps_onto_the_fallback_assets() -> None:
    chain = inverter_chain(watts=1500)
    link = MemoryLink({1: chain.regs})
    link.silent = True
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=0.05)
    assets = await driver.discover(timeout_s=1)
    link.silent = False
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await wait_for(lambda: "pv1-inverter.ActivePower" in sink.latest and sink.latest[
            "pv1-inverter.ActivePower"].quality is Quality.GOOD)  # fmt: skip
        assert sink.latest["pv1-inverter.ActivePower"].value == 1500.0
        assert driver.assets == assets  # the address space was built from these
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_changed_chain_is_rediscovered_after_reconnect() -> None:
    old = inverter_chain(watts=1000)
    link = MemoryLink({1: old.regs})
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=0.05)
    await driver.discover(timeout_s=1)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    key = "pv1-inverter.ActivePower"
    try:
        await wait_for(lambda: key in sink.latest)
        link.silent = True
        await wait_for(lambda: sink.latest[key].quality is Quality.UNCERTAIN_LAST_USABLE)
        # A firmware update switched the Datamanager to float models, one vendor model inserted.
        new = Chain([(1, 65), (64111, 4), 113, 120, 123])
        new.put(113, "W", 2750.5)
        new.put(120, "WRtg", 5000)
        new.put(120, "WRtg_SF", 0)
        link.units[1] = new.regs
        link.silent = False
        await wait_for(lambda: sink.latest[key].quality is Quality.GOOD, 5.0)
        assert sink.latest[key].value == 2750.5
        assert driver.chains[1].ids() == (1, 64111, 113, 120, 123)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_meter_unit_without_sunspec_is_dropped(source: ConstantSource) -> None:
    sim = SunSpecSimulator.fronius_symo(source, meter=False)
    await sim.start()
    link = tcp_link(sim.port)
    try:
        driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
        assets = await driver.discover(timeout_s=5)
        assert [a.asset_id for a in assets] == ["pv1-inverter"]
    finally:
        await link.close()
        await sim.stop()


async def test_export_positive_meter_is_normalised(source: ConstantSource) -> None:
    sim = SunSpecSimulator({1: [1, 103, 120], 2: [1, 203]}, source, meter_sign=-1)
    await sim.start()
    link = tcp_link(sim.port)
    profile = Profile.model_validate(
        {
            "id": "solaredge_like",
            "manufacturer": "Test",
            "products": ["T"],
            "source": "SunSpec meter models 201-204; W + = export on SolarEdge.",
            "driver": "sunspec",
            "sunspec": {"meter_sign": -1},
            "assets": [
                {"key": "inverter", "kind": "PvInverter", "points": {}},
                {"key": "grid", "kind": "ElectricityMeter", "unit_id": 2, "points": {}},
            ],
        }
    )
    try:
        driver = SunSpecDriver("se", link, profile=profile, poll_s=POLL_S)
        await driver.discover(timeout_s=5)
        sink = await poll_once(driver, "se-grid.ActivePower")
        assert sim.registers(2, 203)[18] == 4500  # the device says + 4500 W (export)
        assert sink.latest["se-grid.ActivePower"].value == -4500.0  # model: - = export
    finally:
        await link.close()
        await sim.stop()


def storage_chain() -> Chain:
    chain = Chain([(1, 65), 103, 120, 123, 124, 802])
    chain.put(120, "WRtg", 5000)
    chain.put(120, "WRtg_SF", 0)
    chain.put(124, "WChaMax", 5000)
    chain.put(124, "WChaMax_SF", 0)
    chain.put(124, "StorCtl_Mod", 0)
    chain.put(124, "InOutWRte_SF", -2)
    chain.put(124, "InOutWRte_RvrtTms", 0)
    chain.put(124, "OutWRte", 0)
    chain.put(124, "InWRte", 0)
    chain.put(802, "SoC", 555)
    chain.put(802, "SoC_SF", -1)
    chain.put(802, "WHRtg", 10000)
    chain.put(802, "WHRtg_SF", 0)
    chain.put(802, "WDisChaRteMax", 4000)
    chain.put(802, "WChaDisChaMax_SF", 0)
    return chain


async def test_battery_setpoint_writes_model_124() -> None:
    chain = storage_chain()
    link = MemoryLink({1: chain.regs})
    driver = SunSpecDriver("hy", link, poll_s=0.05)
    assets = await driver.discover(timeout_s=1)
    battery = next(a for a in assets if a.kind is AssetKind.BATTERY)
    assert battery.asset_id == "hy-battery"
    assert battery.ranges["BatteryPowerSetpoint"] == (-5000.0, 4000.0)
    sink = await poll_once(driver, "hy-battery.StateOfCharge")
    assert sink.latest["hy-battery.StateOfCharge"].value == 55.5
    assert sink.latest["hy-battery.Capacity"].value == 10000.0
    assert sink.latest["hy-battery.BatteryPowerSetpoint"].value is None  # device on its own

    result = await driver.write("hy-battery", "BatteryPowerSetpoint", 2000.0)
    assert chain.get(124, "OutWRte") == [5000]  # 2000 W of 4000 W: 50.00 %
    assert chain.get(124, "InWRte") == encode(-4000, WireType.S16)  # -40.00 % of WChaMax
    assert chain.get(124, "InOutWRte_RvrtTms") == [60]
    assert chain.get(124, "StorCtl_Mod") == [3]
    assert result.read_back == 2000.0

    await driver.write("hy-battery", "BatteryPowerSetpoint", -2500.0)  # charge
    assert chain.get(124, "InWRte") == [5000]
    assert chain.get(124, "OutWRte") == encode(-6250, WireType.S16)
    with pytest.raises(OutOfRangeError):
        await driver.write("hy-battery", "BatteryPowerSetpoint", -6000.0)
    await driver.release("hy-battery", "BatteryPowerSetpoint")
    assert chain.get(124, "StorCtl_Mod") == [0]


async def test_setpoint_is_refreshed_before_the_revert_timeout() -> None:
    chain = storage_chain()
    link = MemoryLink({1: chain.regs})
    driver = SunSpecDriver("hy", link, profile=None, poll_s=0.05)
    driver._options = SunSpecOptions(revert_s=1)  # a short timeout keeps the test fast
    await driver.discover(timeout_s=1)
    await driver.write("hy-inverter", "ActivePowerLimit", 2500.0)
    limit_at = chain.address(123, "WMaxLimPct")
    sent = lambda: sum(1 for _, address, _ in link.writes if address == limit_at)  # noqa: E731
    assert sent() == 1
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    try:
        await wait_for(lambda: sent() >= 3, 3.0)  # every revert_s / 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert chain.get(123, "WMaxLimPct_RvrtTms") == [1]


async def test_simulator_reverts_a_limit_that_is_not_refreshed(source: ConstantSource) -> None:
    now = [0.0]
    sim = SunSpecSimulator({1: [1, 103, 120, 123]}, source, clock=lambda: now[0])
    address = sim.address(1, 123)
    assert sim._write(sim._units[1], address + 5, [2500]) is None  # 25.00 %
    sim._write(sim._units[1], address + 7, [10])
    sim._write(sim._units[1], address + 9, [1])
    assert sim.limit_w == 2050.0
    now[0] = 11.0
    sim.refresh()
    assert sim.limit_w == 8200.0


async def test_meter_unit_that_did_not_answer_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ampacity.drivers.sunspec import driver as driver_module

    monkeypatch.setattr(driver_module, "PENDING_RETRY_S", 0.1)
    inverter = Chain([(1, 65), 103, 120, 123])
    inverter.put(103, "W", 1000)
    inverter.put(103, "W_SF", 0)
    link = MemoryLink({1: inverter.regs})  # unit 240 times out
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=0.05)
    assets = await driver.discover(timeout_s=1)
    assert [a.asset_id for a in assets] == ["pv1-inverter", "pv1-meter"]
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    key = "pv1-meter.ActivePower"
    try:
        await wait_for(lambda: key in sink.latest)
        assert sink.latest[key].quality is Quality.BAD_COMMUNICATION_ERROR
        meter = Chain([(1, 65), 203])
        meter.put(203, "W", 321)
        meter.put(203, "W_SF", 0)
        link.units[240] = meter.regs
        await wait_for(lambda: sink.latest[key].quality is Quality.GOOD, 3.0)
        assert sink.latest[key].value == 321.0
        assert sink.latest["pv1-inverter.ActivePower"].value == 1000.0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_from_device_config_uses_the_shared_link(symo: SunSpecSimulator) -> None:
    from ampacity.drivers.modbus.config import ModbusDeviceConfig, TcpEndpoint
    from ampacity.drivers.modbus.registry import LinkRegistry

    registry = LinkRegistry(backoff_initial_s=0.05, backoff_cap_s=0.2)
    config = ModbusDeviceConfig(
        "roof",
        tcp=TcpEndpoint("127.0.0.1", symo.port),
        asset_ids={"meter": "grid"},
        poll_s=POLL_S,
        timeout_s=POLL_S,
    )
    driver = SunSpecDriver.from_device_config(fronius(), config, registry=registry)
    assets = await driver.discover(timeout_s=5)
    assert [a.asset_id for a in assets] == ["roof-inverter", "grid"]
    sink = await poll_once(driver, "grid.ActivePower")
    assert sink.latest["grid.ActivePower"].value == -4500.0
    await driver.close()
    await registry.aclose()


async def test_device_switched_off_and_on_again(symo: SunSpecSimulator, link: TcpLink) -> None:
    driver = SunSpecDriver("pv1", link, profile=fronius(), poll_s=POLL_S)
    await driver.discover(timeout_s=5)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    key = "pv1-meter.EnergyExported"
    try:
        await wait_for(lambda: key in sink.latest)
        await symo.stop()  # connection refused from now on
        await wait_for(lambda: sink.latest[key].quality is Quality.UNCERTAIN_LAST_USABLE, 1.0)
        await symo.start()  # same port
        await wait_for(lambda: sink.latest[key].quality is Quality.GOOD, 5.0)
        assert sink.latest["pv1-meter.Health.Connected"].value is True
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_simulator_refuses_bad_writes(symo: SunSpecSimulator, link: TcpLink) -> None:
    from ampacity.drivers.modbus.transport import ModbusExceptionResponse

    pct_at, _ = symo.point(1, 123, "WMaxLimPct")
    with pytest.raises(ModbusExceptionResponse) as info:
        await link.write_registers(1, pct_at, [10001])  # 100.01 %
    assert info.value.code == 3
    with pytest.raises(ModbusExceptionResponse) as info:
        await link.write_registers(1, symo.address(1, 103) + 14, [1])  # W is read-only
    assert info.value.code == 2
    await link.write_registers(1, pct_at, [2500])
    assert symo.registers(1, 123)[5] == 2500


async def test_a_shared_link_from_a_factory_is_never_closed(symo: SunSpecSimulator) -> None:
    from ampacity.drivers.modbus.registry import LinkRegistry

    registry = LinkRegistry(backoff_initial_s=0.05, backoff_cap_s=0.2)
    made: list[TcpLink] = []

    def factory() -> TcpLink:
        made.append(registry.tcp("127.0.0.1", symo.port, timeout_s=POLL_S))
        return made[-1]

    other_user = registry.tcp("127.0.0.1", symo.port, timeout_s=POLL_S)
    driver = SunSpecDriver("pv1", factory, profile=fronius(), poll_s=POLL_S)
    await driver.discover(timeout_s=5)
    sink = Sink()
    task = asyncio.create_task(driver.run(sink))
    key = "pv1-inverter.ActivePower"
    try:
        await wait_for(lambda: key in sink.latest)
        await symo.stop()
        await wait_for(lambda: sink.latest[key].quality is Quality.UNCERTAIN_LAST_USABLE, 1.0)
        await symo.start()
        await wait_for(lambda: sink.latest[key].quality is Quality.GOOD, 5.0)
        assert len(made) == 1  # kept: it reconnects by itself
        assert await other_user.read_holding_registers(1, 40000, 2) == [0x5375, 0x6E53]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await registry.aclose()
