"""ModbusDriver against a real pymodbus TCP server on 127.0.0.1: values, units, signs, qualities,
health, planning on the wire, poll intervals, shared connections, outages, writes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from ampacity.assets import AssetKind, OutOfRangeError, Quality, WriteError
from ampacity.drivers.codec import WireType, encode
from ampacity.drivers.modbus import (
    LinkRegistry,
    ModbusDeviceConfig,
    ModbusDriver,
    TcpEndpoint,
)
from ampacity.drivers.profile import Profile
from modbus_rig import Sink, TestServer, Unit, free_port

POLL = 0.05  # s


def profile(points: dict, *, kind: str = "PvInverter", **extra) -> Profile:
    data = {
        "id": "test_device",
        "manufacturer": "Testco",
        "products": ["T-1"],
        "source": "register map built in tests/drivers",
        "poll_s": POLL,
        "transport": {"timeout_s": 0.3, "max_gap": 4},
        "assets": [{"key": "main", "kind": kind, "points": points}],
    }
    for key, value in extra.items():
        if key == "identification":
            data["assets"][0]["identification"] = value
        elif key == "transport":
            data["transport"] = {**data["transport"], **value}
        else:
            data[key] = value
    return Profile.model_validate(data)


PV = profile(
    {
        "ActivePower": {"address": 0, "type": "s32"},
        "VoltageL1": {"address": 2, "scale": 0.1},
        "Frequency": {"address": 3, "scale": 0.01, "sentinels": {0: "sensor_failure"}},
        "CurrentL1": {"address": 4, "type": "s16", "scale": 0.01},
        "EnergyProduced": {"address": 10, "type": "u32", "word_order": "little", "scale": 1000},
        "DcPower": {"address": 12, "type": "f32"},
        "OperatingState": {"address": 30, "enum": {1: 2, 2: 4, 3: 7}},
        "NominalPower": {"const": 10000},
        "ActivePowerLimit": {"write": {"address": 40, "percent_of": "NominalPower"}},
    },
    identification={
        "SerialNumber": {"address": 100, "type": "string", "length": 4},
        "Model": {"const": "T-1 10k"},
    },
)


def pv_unit() -> Unit:
    unit = Unit()
    unit.set_words(0, encode(-1234, WireType.S32))  # W, production negative = consuming
    unit.set_words(2, [2305])  # 230.5 V
    unit.set_words(3, [5002])  # 50.02 Hz
    unit.set_words(4, [0x8000])  # s16 "not available"
    unit.set_words(10, encode(70000, WireType.U32, "little"))  # kWh, word-swapped
    unit.set_words(12, encode(1500.5, WireType.F32))  # W
    unit.set_words(30, [2])  # vendor "running" -> model 4
    unit.set_words(40, [100])  # % of nominal power
    unit.set_words(100, encode("SN42", WireType.STRING, string_words=4))
    return unit


@contextlib.asynccontextmanager
async def running(*drivers: ModbusDriver, sink: Sink | None = None) -> AsyncIterator[Sink]:
    sink = sink or Sink()
    tasks = [asyncio.create_task(d.run(sink)) for d in drivers]
    try:
        yield sink
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def registry() -> AsyncIterator[LinkRegistry]:
    reg = LinkRegistry(backoff_initial_s=0.02, backoff_cap_s=0.05)
    yield reg
    await reg.aclose()


def good(r) -> bool:
    return r.quality is Quality.GOOD


def tcp_config(device_id: str, port: int, **kw) -> ModbusDeviceConfig:
    return ModbusDeviceConfig(device_id, tcp=TcpEndpoint("127.0.0.1", port), **kw)


async def test_values_units_signs_and_qualities(registry):
    server = await TestServer({1: pv_unit()}).start()
    driver = ModbusDriver(PV, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            energy = await sink.wait_for("pv", "EnergyProduced", good)
            latest = {r.point: r for r in sink.readings}
            assert energy.value == 70_000_000.0  # Wh
            assert latest["ActivePower"].value == -1234.0
            assert latest["VoltageL1"].value == 230.5
            assert latest["Frequency"].value == 50.02
            assert (latest["CurrentL1"].value, latest["CurrentL1"].quality) == (
                None,
                Quality.BAD_OUT_OF_RANGE,
            )
            assert latest["DcPower"].value == 1500.5
            assert latest["OperatingState"].value == 4
            assert latest["NominalPower"].value == 10000
            assert latest["Identification.SerialNumber"].value == "SN42"
            assert latest["Identification.Model"].value == "T-1 10k"
            assert latest["Identification.DeviceProfile"].value == "test_device"
            assert latest["Identification.Manufacturer"].value == "Testco"
            assert all(r.source_time.tzinfo is not None for r in sink.readings)

            unit = server.units[1]
            unit.set_words(3, [0])  # the device's own "sensor failed"
            unit.set_words(4, encode(-523, WireType.S16))
            current = await sink.wait_for("pv", "CurrentL1", good)
            assert current.value == -5.23
            freq = await sink.wait_for("pv", "Frequency", lambda r: r.value is None)
            assert freq.quality is Quality.BAD_SENSOR_FAILURE

            connected = await sink.wait_for("pv", "Health.Connected", lambda r: True)
            assert connected.value is True
            assert isinstance(sink.latest("pv", "Health.LastGood").value, datetime)
            assert sink.latest("pv", "Health.ErrorCount").value == 0
            duration = sink.latest("pv", "Health.PollDuration").value
            assert isinstance(duration, float) and 0 <= duration < 1000  # ms
            await asyncio.sleep(3 * POLL)
        # blocks on the wire: 0..4 and 10..13 (gap 5 > max_gap 4), 30, identification 100..103
        spans = {(r.address, r.count) for r in server.reads()}
        assert spans == {(0, 5), (10, 4), (30, 1), (100, 4)}
        assert [r.address for r in server.reads()].count(100) == 1  # identification once
    finally:
        await server.stop()


async def test_assets_report_points_ranges_identification():
    two = Profile.model_validate(
        {
            "id": "twin_charger",
            "manufacturer": "Testco",
            "products": ["Twin"],
            "source": "register map built in tests/drivers",
            "assets": [
                {
                    "key": key,
                    "kind": "ChargePoint",
                    "unit_id": unit,
                    "points": {
                        "ActivePower": {"address": 0},
                        "ChargeCurrentLimit": {
                            "address": 5,
                            "write": {"address": 5, "min": 6, "max": 32},
                        },
                        "ChargePowerLimit": {"write": {"address": 7}},
                    },
                }
                for key, unit in (("left", 1), ("right", 2))
            ],
        }
    )
    driver = ModbusDriver(two, tcp_config("station", 502, asset_ids={"right": "garage"}))
    infos = {a.asset_id: a for a in driver.assets}
    assert set(infos) == {"station-left", "garage"}
    left = infos["station-left"]
    assert left.kind is AssetKind.CHARGE_POINT
    assert left.points == ("ActivePower", "ChargeCurrentLimit", "ChargePowerLimit")
    assert left.ranges == {"ChargeCurrentLimit": (6, 32), "ChargePowerLimit": (0.0, 1.0e9)}
    assert left.identification == {"Manufacturer": "Testco", "DeviceProfile": "twin_charger"}
    single = ModbusDriver(PV, tcp_config("roof", 502))
    (info,) = single.assets
    assert info.asset_id == "roof"
    assert info.identification["Model"] == "T-1 10k"
    with pytest.raises(ValueError):
        ModbusDeviceConfig("x")  # neither tcp nor serial


async def test_per_point_poll_intervals(registry):
    slow_fast = profile(
        {
            "ActivePower": {"address": 0, "poll_s": 0.03},
            "EnergyProduced": {"address": 50, "type": "u32", "poll_s": 0.15},
        }
    )
    unit = Unit()
    unit.set_words(0, [1])
    unit.set_words(50, [0, 2])
    server = await TestServer({1: unit}).start()
    driver = ModbusDriver(slow_fast, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            await sink.wait_for("pv", "EnergyProduced", good)
            await asyncio.sleep(0.6)
        fast = sum(1 for r in server.reads() if r.address == 0)
        slow = sum(1 for r in server.reads() if r.address == 50)
        assert 3 <= slow <= 6
        assert fast >= 3 * slow
    finally:
        await server.stop()


METER = profile(
    {"ActivePower": {"address": 0, "type": "s16", "scale": 10}},
    kind="ElectricityMeter",
)


async def test_two_drivers_share_one_tcp_connection(registry):
    server = await TestServer({1: Unit(holding={0: 150}), 2: Unit(holding={0: 0xFFF6})}).start()
    first = ModbusDriver(METER, tcp_config("grid", server.port, unit_id=1), registry=registry)
    second = ModbusDriver(METER, tcp_config("sub", server.port, unit_id=2), registry=registry)
    try:
        async with running(first, second) as sink:
            assert (await sink.wait_for("grid", "ActivePower", good)).value == 1500.0
            assert (await sink.wait_for("sub", "ActivePower", good)).value == -100.0
            await asyncio.sleep(3 * POLL)
            assert server.connections == 1
            assert {r.unit_id for r in server.reads()} == {1, 2}
    finally:
        await server.stop()


async def test_uncertain_within_three_polls_then_good_again(registry):
    server = await TestServer({1: pv_unit()}).start()
    port = server.port
    driver = ModbusDriver(PV, tcp_config("pv", port), registry=registry)
    async with running(driver) as sink:
        await sink.wait_for("pv", "VoltageL1", good)
        await asyncio.sleep(2 * POLL)
        await server.stop()
        stale = await sink.wait_for(
            "pv", "VoltageL1", lambda r: r.quality is Quality.UNCERTAIN_LAST_USABLE
        )
        timed = sink.timed("pv", "VoltageL1")
        last_good_at, last_good = next(
            (t, r) for t, r in reversed(timed) if r.quality is Quality.GOOD
        )
        stale_at = next(t for t, r in timed if r is stale)
        assert stale_at - last_good_at < 3 * POLL
        assert stale.value == 230.5  # value kept
        assert stale.source_time == last_good.source_time  # timestamp of the last good read
        never_good = sink.latest("pv", "CurrentL1")  # it was a sentinel: stays what it was
        assert never_good.quality is Quality.BAD_OUT_OF_RANGE
        health = await sink.wait_for("pv", "Health.Connected", lambda r: r.value is False)
        assert health.value is False
        assert "127.0.0.1" in sink.latest("pv", "Health.LastError").value
        assert sink.latest("pv", "Health.ErrorCount").value >= 1

        server = await TestServer({1: pv_unit()}, port=port).start()
        back = await sink.wait_for(
            "pv",
            "VoltageL1",
            lambda r: r.quality is Quality.GOOD and r.source_time > stale.source_time,
        )
        assert back.value == 230.5
        assert (await sink.wait_for("pv", "Health.Connected", lambda r: r.value is True)).value
    await server.stop()


async def test_hanging_device_goes_uncertain_before_its_timeout(registry):
    server = await TestServer({1: pv_unit()}).start()
    slow_timeout = profile(PV.assets[0].model_dump()["points"], transport={"timeout_s": 1.0})
    driver = ModbusDriver(slow_timeout, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            await sink.wait_for("pv", "VoltageL1", good)
            server.muted = True  # requests get no answer at all
            stale = await sink.wait_for(
                "pv", "VoltageL1", lambda r: r.quality is Quality.UNCERTAIN_LAST_USABLE, within=0.5
            )
            timed = sink.timed("pv", "VoltageL1")
            last_good_at = max(t for t, r in timed if r.quality is Quality.GOOD)
            stale_at = next(t for t, r in timed if r is stale)
            assert stale_at - last_good_at < 3 * POLL
            server.muted = False
            await sink.wait_for(
                "pv",
                "VoltageL1",
                lambda r: r.quality is Quality.GOOD and r.source_time > stale.source_time,
            )
    finally:
        await server.stop()


async def test_never_reachable_is_bad_communication_error(registry):
    port = free_port()  # nothing listens here
    driver = ModbusDriver(PV, tcp_config("pv", port), registry=registry)
    async with running(driver) as sink:
        reading = await sink.wait_for("pv", "VoltageL1", lambda r: True)
        assert (reading.value, reading.quality) == (None, Quality.BAD_COMMUNICATION_ERROR)
        await asyncio.sleep(3 * POLL)
        assert {r.quality for r in sink.history("pv", "ActivePower")} == {
            Quality.BAD_COMMUNICATION_ERROR
        }
        assert sink.latest("pv", "Health.Connected").value is False
        assert sink.latest("pv", "Health.LastGood") is None
        assert f"127.0.0.1:{port}" in sink.latest("pv", "Health.LastError").value
        assert sink.latest("pv", "NominalPower").value == 10000  # constants need no device


async def test_refused_block_is_split_and_remembered(registry):
    sparse = profile(
        {
            "ActivePower": {"address": 0},
            "VoltageL1": {"address": 3},
            "VoltageL2": {"address": 6},
            "VoltageL3": {"address": 9},  # the device does not have it
        },
        transport={"max_gap": 8},
    )
    server = await TestServer({1: Unit(holding={0: 7, 3: 230, 6: 231})}).start()
    driver = ModbusDriver(sparse, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            assert (await sink.wait_for("pv", "VoltageL2", good)).value == 231.0
            assert (await sink.wait_for("pv", "VoltageL1", good)).value == 230.0
            assert (await sink.wait_for("pv", "ActivePower", good)).value == 7.0
            missing = await sink.wait_for("pv", "VoltageL3", lambda r: True)
            assert missing.quality is Quality.BAD_COMMUNICATION_ERROR
            first_round = len(server.reads())
            await asyncio.sleep(4 * POLL)
            later = server.reads()[first_round:]
            assert later, "polling goes on"
            assert {(r.address, r.count) for r in later} == {(0, 1), (3, 1), (6, 1)}
            assert sink.latest("pv", "Health.Connected").value is True
    finally:
        await server.stop()


EV = profile(
    {
        "VehicleConnected": {"address": 0, "true_values": [2, 3]},
        "Charging": {"address": 1, "bit": 2},
        "ChargeCurrentLimit": {
            "address": 5,
            "scale": 0.1,
            "write": {"address": 5, "scale": 0.1, "min": 6, "max": 16, "zero_means_off": True},
        },
    },
    kind="ChargePoint",
)


def ev_unit() -> Unit:
    return Unit(holding={0: 3, 1: 0b100, 5: 60})


def writes(server: TestServer, address: int) -> int:
    return sum(1 for r in server.requests if r.function in (6, 16) and r.address == address)


async def test_writes_range_zero_means_off_and_read_back(registry):
    server = await TestServer({1: ev_unit()}).start()
    driver = ModbusDriver(EV, tcp_config("ev", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            assert (await sink.wait_for("ev", "VehicleConnected", good)).value is True
            assert sink.latest("ev", "Charging").value is True
            assert (await sink.wait_for("ev", "ChargeCurrentLimit", good)).value == 6.0

            with pytest.raises(OutOfRangeError):
                await driver.write("ev", "ChargeCurrentLimit", 16.5)
            with pytest.raises(OutOfRangeError):
                await driver.write("ev", "ChargeCurrentLimit", -2)
            assert server.units[1].holding[5] == 60
            assert writes(server, 5) == 0

            result = await driver.write("ev", "ChargeCurrentLimit", 10)
            assert server.units[1].holding[5] == 100  # 0.1 A steps
            assert (result.requested, result.written, result.read_back, result.clamped) == (
                10,
                10.0,
                10.0,
                False,
            )
            paused = await driver.write("ev", "ChargeCurrentLimit", 3.5)
            assert server.units[1].holding[5] == 0
            assert (paused.written, paused.read_back, paused.clamped) == (0.0, 0.0, True)
            with pytest.raises(WriteError):
                await driver.write("ev", "VehicleConnected", True)
            with pytest.raises(WriteError):
                await driver.write("nobody", "ChargeCurrentLimit", 6)
    finally:
        await server.stop()


BATTERY = profile(
    {
        "ActivePower": {"address": 0, "type": "s16", "sign": -1},  # device: positive = charging
        "BatteryPowerSetpoint": {
            "address": 20,
            "type": "s32",
            "sign": -1,
            "write": {
                "address": 20,
                "type": "s32",
                "min": -5000,
                "max": 5000,
                "before": [{"address": 19, "value": 1}],  # "external control on"
            },
        },
    },
    kind="Battery",
)


async def test_battery_sign_inversion_and_before_step(registry):
    unit = Unit(holding={0: 1500, 19: 0, 20: 0, 21: 0})
    server = await TestServer({1: unit}).start()
    driver = ModbusDriver(BATTERY, tcp_config("bat", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            charging = await sink.wait_for("bat", "ActivePower", good)
            assert charging.value == -1500.0  # model: negative = charge
            result = await driver.write("bat", "BatteryPowerSetpoint", 2000)  # discharge 2 kW
            assert unit.words(19, 3) == [1, *encode(-2000, WireType.S32)]
            assert (result.written, result.read_back) == (2000.0, 2000.0)
            # one FC16 request covered the enable flag and the setpoint
            assert [
                (r.function, r.address, r.count) for r in server.requests if r.function == 16
            ] == [(16, 19, 3)]
    finally:
        await server.stop()


async def test_percent_of_needs_a_reading(registry):
    limited = profile(
        {
            "NominalPower": {"address": 50},
            "ActivePowerLimit": {"write": {"address": 40, "percent_of": "NominalPower"}},
        }
    )
    unit = Unit(holding={50: 8000, 40: 100})
    server = await TestServer({1: unit}).start()
    driver = ModbusDriver(limited, tcp_config("pv", server.port), registry=registry)
    try:
        with pytest.raises(WriteError, match="NominalPower"):
            await driver.write("pv", "ActivePowerLimit", 4000)
        assert unit.holding[40] == 100
        async with running(driver) as sink:
            await sink.wait_for("pv", "NominalPower", good)
            result = await driver.write("pv", "ActivePowerLimit", 4000)
            assert unit.holding[40] == 50  # %
            assert (result.written, result.read_back, result.clamped) == (4000.0, 4000.0, False)
            full = await driver.write("pv", "ActivePowerLimit", 9000)
            assert unit.holding[40] == 100 and full.clamped and full.written == 8000.0
            shown = await sink.wait_for("pv", "ActivePowerLimit", lambda r: r.value == 8000.0)
            assert shown.quality is Quality.GOOD
    finally:
        await server.stop()


async def test_refresh_resends_the_setpoint_periodically(registry):
    refreshed = profile(
        {
            "ChargeCurrentLimit": {
                "address": 5,
                "scale": 0.1,
                "write": {"address": 5, "scale": 0.1, "min": 6, "max": 16, "refresh_s": 0.05},
            }
        },
        kind="ChargePoint",
    )
    server = await TestServer({1: ev_unit()}).start()
    driver = ModbusDriver(refreshed, tcp_config("ev", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            await sink.wait_for("ev", "ChargeCurrentLimit", good)
            await driver.write("ev", "ChargeCurrentLimit", 12)
            before = writes(server, 5)
            server.units[1].holding[5] = 0  # the device's watchdog fell back
            await asyncio.sleep(0.32)
            sent = writes(server, 5) - before
            assert 4 <= sent <= 8  # every 50 ms
            assert server.units[1].holding[5] == 120
    finally:
        await server.stop()


async def test_setpoints_are_resent_after_reconnect(registry):
    server = await TestServer({1: ev_unit()}).start()
    port = server.port
    driver = ModbusDriver(EV, tcp_config("ev", port), registry=registry)
    async with running(driver) as sink:
        await sink.wait_for("ev", "ChargeCurrentLimit", good)
        await driver.write("ev", "ChargeCurrentLimit", 14)
        await server.stop()
        await sink.wait_for("ev", "Health.Connected", lambda r: r.value is False)
        rebooted = ev_unit()  # power-on: the register is back at its default
        server = await TestServer({1: rebooted}, port=port).start()
        for _ in range(100):
            if rebooted.holding[5] == 140:
                break
            await asyncio.sleep(0.01)
        assert rebooted.holding[5] == 140
        back = await sink.wait_for(
            "ev", "ChargeCurrentLimit", lambda r: r.value == 14.0 and good(r)
        )
        assert back.value == 14.0
    await server.stop()


async def test_a_dead_device_does_not_slow_down_another(registry):
    dead = await TestServer({1: pv_unit()}).start()
    dead.muted = True  # accepts the connection, never answers
    live = await TestServer({1: pv_unit()}).start()
    slow_timeout = profile(PV.assets[0].model_dump()["points"], transport={"timeout_s": 1.0})
    hung = ModbusDriver(slow_timeout, tcp_config("hung", dead.port), registry=registry)
    fine = ModbusDriver(PV, tcp_config("fine", live.port), registry=registry)
    try:
        async with running(hung, fine) as sink:
            await sink.wait_for("fine", "VoltageL1", good)
            start = len(sink.history("fine", "VoltageL1"))
            await asyncio.sleep(0.3)
            assert len(sink.history("fine", "VoltageL1")) - start >= 4  # still every 50 ms
            hung_value = await sink.wait_for("hung", "VoltageL1", lambda r: True, within=0.5)
            assert hung_value.quality is Quality.BAD_COMMUNICATION_ERROR
    finally:
        await dead.stop()
        await live.stop()


async def test_from_profile_id_uses_the_shipped_profiles():
    with pytest.raises(KeyError, match="no Modbus profile"):
        ModbusDriver.from_profile_id("no_such_device", tcp_config("x", 502))


async def test_discrete_inputs_and_coils_are_read_as_bits(registry):
    receiver = profile(
        {
            **{
                f"Contact{n}": {"address": 10 + n, "function": "discrete_input", "type": "bool"}
                for n in range(1, 5)
            },
            "ActiveLimit": {
                "address": 0,
                "function": "coil",
                "type": "bool",
                "enum": {0: 100, 1: 60},
            },
        },
        kind="RippleControlReceiver",
    )
    unit = Unit(
        discrete={11: False, 12: True, 13: False, 14: True},
        coils={0: True},
    )
    server = await TestServer({1: unit}).start()
    driver = ModbusDriver(receiver, tcp_config("rcr", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            assert (await sink.wait_for("rcr", "Contact4", good)).value is True
            assert [sink.latest("rcr", f"Contact{n}").value for n in range(1, 5)] == [
                False,
                True,
                False,
                True,
            ]
            limit = sink.latest("rcr", "ActiveLimit").value
            assert isinstance(limit, float) and limit == 60.0  # % via the enum map
            unit.discrete[11] = True
            assert (
                await sink.wait_for("rcr", "Contact1", lambda r: r.value is True)
            ).quality.is_good
        assert {(r.function, r.address, r.count) for r in server.reads()} == {(2, 11, 4), (1, 0, 1)}
    finally:
        await server.stop()


async def test_a_refused_register_does_not_disconnect_the_device(registry):
    server = await TestServer({1: pv_unit()}).start()
    driver = ModbusDriver(PV, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            await sink.wait_for("pv", "VoltageL1", good)
            del server.units[1].holding[30]  # OperatingState now refused (illegal address)
            state = await sink.wait_for(
                "pv", "OperatingState", lambda r: r.quality is Quality.BAD_COMMUNICATION_ERROR
            )
            assert state.value is None
            volts = await sink.wait_for("pv", "VoltageL1", good)
            assert volts.value == 230.5
            assert sink.latest("pv", "Health.Connected").value is True
            assert "illegal data address" in sink.latest("pv", "Health.LastError").value
            assert "address 30" in sink.latest("pv", "Health.LastError").value
    finally:
        await server.stop()


def once_profile(refresh_s: float | None = None) -> Profile:
    write = {
        "address": 5,
        "scale": 0.1,
        "min": 6,
        "max": 16,
        "before": [
            {"address": 3, "value": 4, "once": True},  # "standby off", persisted by the device
            {"address": 4, "value": 1},  # "external control on", with every write
        ],
    }
    if refresh_s is not None:
        write["refresh_s"] = refresh_s
    return profile(
        {"ChargeCurrentLimit": {"address": 5, "scale": 0.1, "write": write}}, kind="ChargePoint"
    )


def once_unit() -> Unit:
    return Unit(holding={3: 0, 4: 0, 5: 60})


def fc16(server: TestServer) -> list[tuple[int, int]]:
    return [(r.address, r.count) for r in server.requests if r.function == 16]


async def until(check, within: float = 2.0) -> None:
    for _ in range(int(within / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


async def test_once_steps_go_out_with_the_first_write_of_each_connection(registry):
    unit = once_unit()
    server = await TestServer({1: unit}).start()
    port = server.port
    driver = ModbusDriver(once_profile(), tcp_config("ev", port), registry=registry)
    async with running(driver) as sink:
        await sink.wait_for("ev", "ChargeCurrentLimit", good)
        await driver.write("ev", "ChargeCurrentLimit", 10)
        await driver.write("ev", "ChargeCurrentLimit", 12)
        # first: once step, every-time step and setpoint in one FC16; then without the once step
        assert fc16(server) == [(3, 3), (4, 2)]
        assert unit.words(3, 3) == [4, 1, 120]

        await server.stop()
        await sink.wait_for("ev", "Health.Connected", lambda r: r.value is False)
        rebooted = once_unit()
        server = await TestServer({1: rebooted}, port=port).start()
        await until(lambda: rebooted.holding[5] == 120)  # re-sent after the reconnect ...
        assert fc16(server) == [(3, 3)] and rebooted.holding[3] == 4  # ... with the once step
        await driver.write("ev", "ChargeCurrentLimit", 8)
        assert fc16(server) == [(3, 3), (4, 2)]
    await server.stop()


async def test_refreshes_skip_once_steps(registry):
    server = await TestServer({1: once_unit()}).start()
    driver = ModbusDriver(once_profile(0.05), tcp_config("ev", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            await sink.wait_for("ev", "ChargeCurrentLimit", good)
            await driver.write("ev", "ChargeCurrentLimit", 10)
            await asyncio.sleep(0.2)
            sent = fc16(server)
            assert sent[0] == (3, 3) and len(sent) >= 3
            assert set(sent[1:]) == {(4, 2)}  # refreshes: no once step
    finally:
        await server.stop()


TRACKERS = profile(
    {
        "DcPower": {"address": 10, "add_addresses": [30], "type": "s32"},  # trackers A + B
        "ActivePower": {"address": 12, "type": "s32"},
        "ActivePowerL1": {"address": 28, "type": "s32"},
    }
)


def trackers_unit(a: int | None = 1200, b: int | None = 800) -> Unit:
    unit = Unit()
    na = [0x8000, 0x0000]  # s32 "not available"
    unit.set_words(10, na if a is None else encode(a, WireType.S32))
    unit.set_words(12, encode(1900, WireType.S32))
    unit.set_words(28, encode(650, WireType.S32))
    unit.set_words(30, na if b is None else encode(b, WireType.S32))
    return unit


async def test_add_addresses_sums_the_parts_read_in_coalesced_blocks(registry):
    server = await TestServer({1: trackers_unit()}).start()
    driver = ModbusDriver(TRACKERS, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            dc = await sink.wait_for("pv", "DcPower", good)
            assert dc.value == 2000.0
            assert sink.latest("pv", "ActivePower").value == 1900.0
            # each part is coalesced with its neighbours: two blocks, nothing read twice
            assert {(r.address, r.count) for r in server.reads()} == {(10, 4), (28, 4)}

            unit = server.units[1]
            unit.set_words(30, [0x8000, 0x0000])  # tracker B not available: counts as 0
            one = await sink.wait_for("pv", "DcPower", lambda r: r.value == 1200.0)
            assert one.quality is Quality.GOOD
            unit.set_words(10, [0x8000, 0x0000])  # both not available: the point is not
            none = await sink.wait_for("pv", "DcPower", lambda r: r.value is None)
            assert none.quality is Quality.BAD_OUT_OF_RANGE
            unit.set_words(10, encode(-5, WireType.S32))
            unit.set_words(30, encode(7, WireType.S32))
            summed = await sink.wait_for("pv", "DcPower", lambda r: r.value == 2.0)
            assert summed.quality is Quality.GOOD

            del unit.holding[30], unit.holding[31]  # a part refused: the point is Bad, alone
            refused = await sink.wait_for(
                "pv", "DcPower", lambda r: r.quality is Quality.BAD_COMMUNICATION_ERROR
            )
            assert refused.value is None
            await asyncio.sleep(3 * POLL)  # the other points keep coming, Good
            assert sink.latest("pv", "ActivePower").value == 1900.0
            assert sink.latest("pv", "ActivePower").quality is Quality.GOOD
            assert sink.latest("pv", "Health.Connected").value is True
    finally:
        await server.stop()


async def test_a_refused_write_says_so_in_health_and_keeps_the_device_connected(registry):
    limited = profile(
        {
            "NominalPower": {"address": 50},
            "ActivePowerLimit": {"write": {"address": 40, "percent_of": "NominalPower"}},
        }
    )
    unit = Unit(holding={50: 8000})  # no register 40: the device refuses the write
    server = await TestServer({1: unit}).start()
    driver = ModbusDriver(limited, tcp_config("pv", server.port), registry=registry)
    try:
        async with running(driver) as sink:
            await sink.wait_for("pv", "NominalPower", good)
            with pytest.raises(WriteError, match=r"pv.ActivePowerLimit: refused: .*exception 2"):
                await driver.write("pv", "ActivePowerLimit", 4000)
            error = await sink.wait_for(
                "pv", "Health.LastError", lambda r: "refused" in str(r.value)
            )
            assert "address 40" in str(error.value)
            assert driver.runtime.health.connected  # a refusal is an answer
    finally:
        await server.stop()
