"""The demo site through a real OPC UA client over TCP: types, units, values, quality, setpoints."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from ampacity.drivers.codec import WireType, decode
from ampacity.drivers.profile import Function
from ampacity.nodesets import TYPES_NAMESPACE_URI
from ampacity.sim.faults import Fault
from asyncua import Node, ua

if TYPE_CHECKING:
    from conftest import DemoUnderTest

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANALOG_ITEM_TYPE = ua.NodeId(ua.ObjectIds.AnalogItemType)


class Notifications:
    """Keeps every data-change notification of one subscription: (key, DataValue, arrival)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, ua.DataValue, float]] = []
        self._arrived = asyncio.Event()

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.items.append((node.nodeid.Identifier, data.monitored_item.Value, time.monotonic()))
        self._arrived.set()

    async def until(  # type: ignore[no-untyped-def]
        self, predicate, timeout_s: float, since: float = 0.0
    ) -> tuple[str, ua.DataValue, float]:
        """The first notification arrived at or after ``since`` that matches ``predicate``."""
        async with asyncio.timeout(timeout_s):
            while True:
                for item in self.items:
                    if item[2] >= since and predicate(item):
                        return item
                self._arrived.clear()
                await self._arrived.wait()


async def subscribe(demo: DemoUnderTest, keys: list[str]) -> tuple[Notifications, Any]:
    handler = Notifications()
    subscription = await demo.client.create_subscription(50, handler)
    await subscription.subscribe_data_change(
        [demo.client.get_node(ua.NodeId(key, demo.ns)) for key in keys]
    )
    return handler, subscription


SERVER_OBJECTS = (
    ".Identification",
    ".Health",
    ".Historian",
    ".Control",
    ".Marketer",
    ".GridOperator",
    ".Forecast",
    ".Schedule",
)
"""Objects below the site that are the server's own, not assets."""


async def asset_objects(demo: DemoUnderTest) -> list[Node]:
    """Every asset object below the site (device folders looked into)."""
    site = demo.client.get_node(ua.NodeId(demo.demo.config.site.id, demo.ns))
    found = [site]
    stack = [site]
    while stack:
        node = stack.pop()
        for child in await node.get_children(
            refs=ua.ObjectIds.HierarchicalReferences, nodeclassmask=ua.NodeClass.Object
        ):
            name = child.nodeid.Identifier
            if name.endswith(SERVER_OBJECTS) or await _is_condition(child):
                continue
            found.append(child)
            stack.append(child)
    return [n for n in found if not await _is_folder(n)]


async def _is_condition(node: Node) -> bool:
    """Alarm conditions under an asset (objects of a standard type other than a folder)."""
    type_id = await node.read_type_definition()
    return type_id.NamespaceIndex == 0 and type_id != ua.NodeId(ua.ObjectIds.FolderType)


async def _is_folder(node: Node) -> bool:
    return (await node.read_type_definition()) == ua.NodeId(ua.ObjectIds.FolderType)


async def test_every_asset_is_typed_as_a_subtype_of_energy_asset_type(
    running_demo: DemoUnderTest,
) -> None:
    client = running_demo.client
    types_ns = await client.get_namespace_index(TYPES_NAMESPACE_URI)
    assets = await asset_objects(running_demo)
    ids = {a.nodeid.Identifier for a in assets}
    assert ids == {
        "demo", "grid-meter", "pv-sma", "pv-meter", "pv-fronius", "battery", "wallbox-socket1",
        "wallbox-socket2", "heidelberg", "keba", "submeter", "rcr", "tariff",
    }  # fmt: skip
    for asset in assets:
        type_id = await asset.read_type_definition()
        assert type_id.NamespaceIndex == types_ns
        chain = []
        node = client.get_node(type_id)
        while True:
            chain.append((await node.read_browse_name()).Name)
            parents = await node.get_references(ua.ObjectIds.HasSubtype, ua.BrowseDirection.Inverse)
            if not parents:
                break
            node = client.get_node(parents[0].NodeId)
        assert "EnergyAssetType" in chain, (asset.nodeid.Identifier, chain)


async def test_every_analog_variable_has_engineering_units_and_a_range(
    running_demo: DemoUnderTest,
) -> None:
    client = running_demo.client
    analog = 0
    for asset in await asset_objects(running_demo):
        for var in await asset.get_children(
            refs=ua.ObjectIds.HasComponent, nodeclassmask=ua.NodeClass.Variable
        ):
            if await var.read_type_definition() != ANALOG_ITEM_TYPE:
                continue
            analog += 1
            units = await client.get_node(
                ua.NodeId(f"{var.nodeid.Identifier}.EngineeringUnits", running_demo.ns)
            ).read_value()
            if units.DisplayName.Text == "EUR/kWh":  # UNECE Rec. 20 has no currency per energy
                assert units.UnitId == -1
            else:
                assert units.NamespaceUri == "http://www.opcfoundation.org/UA/units/un/cefact"
                assert units.UnitId > 0, var.nodeid.Identifier
            value_range = await client.get_node(
                ua.NodeId(f"{var.nodeid.Identifier}.EURange", running_demo.ns)
            ).read_value()
            assert value_range.Low < value_range.High
    assert analog > 100
    power = client.get_node(ua.NodeId("grid-meter.ActivePower.EngineeringUnits", running_demo.ns))
    watt = await power.read_value()
    assert (watt.DisplayName.Text, watt.UnitId) == ("W", 0x575454)  # "WTT"


async def test_values_change_with_good_status_and_device_timestamps(
    running_demo: DemoUnderTest,
) -> None:
    handler, subscription = await subscribe(running_demo, ["grid-meter.ActivePower"])
    try:
        seen: list[ua.DataValue] = []
        async with asyncio.timeout(15):
            while len({dv.Value.Value for dv in seen}) < 3:
                await handler.until(lambda item: True, timeout_s=10, since=time.monotonic())
                seen = [dv for _, dv, _ in handler.items]
        for dv in seen:
            assert dv.StatusCode.is_good()
            assert dv.SourceTimestamp is not None and dv.ServerTimestamp is not None
            # the device was read before the node changed
            assert dv.SourceTimestamp <= dv.ServerTimestamp
            assert isinstance(dv.Value.Value, float)
    finally:
        await subscription.delete()


async def test_site_aggregates_follow_the_sign_conventions(running_demo: DemoUnderTest) -> None:
    client, ns = running_demo.client, running_demo.ns

    keys = ("demo.GridPower", "demo.PvPower", "demo.BatteryPower", "demo.HouseConsumption")
    # The four in one Read (four Reads in a row straddled a change of the car's power in a CI
    # run); the node writer yields every few milliseconds, so a Read may still fall between two
    # of the four writes of one computation: then it is taken again.
    for _ in range(3):
        values = await client.uaclient.read_attributes(
            [ua.NodeId(key, ns) for key in keys], ua.AttributeIds.Value
        )
        grid, pv, battery, house = (float(dv.Value.Value) for dv in values)
        if house == pytest.approx(grid + pv + battery, abs=1e-6):
            break
    assert pv >= 0
    # consumption = import + production + discharge, whatever the moment's values
    assert house == pytest.approx(grid + pv + battery, abs=1e-6)
    no_limit = await client.get_node(ua.NodeId("demo.FeedInLimit", ns)).read_data_value()
    assert no_limit.StatusCode.is_good() and no_limit.Value.Value is None  # no limit configured


async def test_a_silent_device_turns_uncertain_within_three_polls_and_recovers(
    running_demo: DemoUnderTest,
) -> None:
    sma = running_demo.demo.sims.devices["sma_sunny_tripower"]
    handler, subscription = await subscribe(
        running_demo, ["pv-sma.ActivePower", "pv-sma.Health.Connected", "grid-meter.ActivePower"]
    )
    poll_s = 1.0
    try:
        _, last_good, _ = await handler.until(
            lambda i: i[0] == "pv-sma.ActivePower" and i[1].StatusCode.is_good(), timeout_s=10
        )
        sma.faults.set(Fault.SILENT)
        started = time.monotonic()
        fault_time = datetime.now(UTC)
        _, dv, at = await handler.until(
            lambda i: (
                i[0] == "pv-sma.ActivePower"
                and i[1].StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
            ),
            timeout_s=10,
            since=started,
        )
        assert at - started <= 3 * poll_s + 0.5
        # the last usable value is kept, with the time it was read
        last = [d for k, d, t in handler.items if k == "pv-sma.ActivePower" and t < at][-1]
        assert dv.Value.Value == last.Value.Value
        # (unchanged Good re-reads move the source time without a notification; an answer that
        # was on its way when the fault was set is stamped as it is decoded, a moment later,
        # and the Uncertain value comes polls after that, so it is not restamped)
        in_flight = timedelta(seconds=poll_s / 2)
        assert last.SourceTimestamp <= dv.SourceTimestamp <= fault_time + in_flight
        await handler.until(
            lambda i: i[0] == "pv-sma.Health.Connected" and i[1].Value.Value is False,
            timeout_s=5,
            since=started,
        )
        # the rest of the site goes on: the grid meter keeps updating with Good values
        _, grid, _ = await handler.until(
            lambda i: i[0] == "grid-meter.ActivePower", timeout_s=10, since=at
        )
        assert grid.StatusCode.is_good()
    finally:
        sma.faults.clear()
    healed = time.monotonic()
    try:
        _, dv, _ = await handler.until(
            lambda i: i[0] == "pv-sma.ActivePower" and i[1].StatusCode.is_good(),
            timeout_s=40,
            since=healed,
        )
        assert dv.SourceTimestamp > last_good.SourceTimestamp
    finally:
        await subscription.delete()


def alfen_limit_register(demo: DemoUnderTest) -> float:
    alfen = demo.demo.sims.devices["alfen_eve_double"]
    words = alfen.image.read(1, Function.HOLDING, 1210, 2)
    assert words is not None
    return float(decode(words, WireType.F32))


async def test_an_out_of_range_setpoint_is_refused_and_the_device_is_untouched(
    running_demo: DemoUnderTest,
) -> None:
    node = running_demo.client.get_node(
        ua.NodeId("wallbox-socket1.ChargeCurrentLimit", running_demo.ns)
    )
    value_range = await running_demo.client.get_node(
        ua.NodeId("wallbox-socket1.ChargeCurrentLimit.EURange", running_demo.ns)
    ).read_value()
    assert (value_range.Low, value_range.High) == (0.0, 32.0)  # the Alfen's own limits
    before = alfen_limit_register(running_demo)
    with pytest.raises(ua.uaerrors.BadOutOfRange):
        await node.write_value(ua.DataValue(ua.Variant(80.0, ua.VariantType.Double)))
    assert alfen_limit_register(running_demo) == before
    with pytest.raises(ua.uaerrors.BadTypeMismatch):
        await node.write_value(ua.DataValue(ua.Variant("ten", ua.VariantType.String)))
    assert alfen_limit_register(running_demo) == before


async def test_a_setpoint_reaches_the_device_and_is_read_back(
    running_demo: DemoUnderTest,
) -> None:
    client, ns = running_demo.client, running_demo.ns
    node = client.get_node(ua.NodeId("wallbox-socket1.ChargeCurrentLimit", ns))
    await node.write_value(ua.DataValue(ua.Variant(10.0, ua.VariantType.Double)))
    assert alfen_limit_register(running_demo) == 10.0
    assert await node.read_value() == 10.0
    # below the Alfen's 6 A minimum but above 0: clamped to 0 (pause), never to more current
    await node.write_value(ua.DataValue(ua.Variant(3.0, ua.VariantType.Double)))
    assert alfen_limit_register(running_demo) == 0.0
    assert await node.read_value() == 0.0


async def test_a_setpoint_on_the_rs485_bus_reaches_the_heidelberg(
    running_demo: DemoUnderTest,
) -> None:
    client, ns = running_demo.client, running_demo.ns
    node = client.get_node(ua.NodeId("heidelberg.ChargeCurrentLimit", ns))
    await node.write_value(ua.DataValue(ua.Variant(8.0, ua.VariantType.Double)))
    heidelberg = running_demo.demo.sims.devices["heidelberg_energy_control"]
    assert heidelberg.image.read(1, Function.HOLDING, 261, 1) == [80]  # 0.1 A units
    assert await node.read_value() == 8.0


async def test_server_side_modes_are_stored_and_checked(running_demo: DemoUnderTest) -> None:
    node = running_demo.client.get_node(ua.NodeId("wallbox-socket2.ChargeMode", running_demo.ns))
    assert await node.read_value() == 1  # Fast
    await node.write_value(ua.DataValue(ua.Variant(3, ua.VariantType.Int32)))  # Surplus
    assert await node.read_value() == 3
    with pytest.raises(ua.uaerrors.BadOutOfRange):
        await node.write_value(ua.DataValue(ua.Variant(9, ua.VariantType.Int32)))
    assert await node.read_value() == 3


@pytest.mark.parametrize("fault", [Fault.EXCEPTION, Fault.GARBAGE, Fault.DISCONNECT])
async def test_a_misbehaving_device_is_marked_and_recovers_while_the_site_runs_on(
    running_demo: DemoUnderTest, fault: Fault
) -> None:
    battery = running_demo.demo.sims.devices["sma_sunny_boy_storage"]
    keys = ["battery.ActivePower", "battery.Health.LastError", "grid-meter.ActivePower"]
    handler, subscription = await subscribe(running_demo, keys)
    try:
        await handler.until(
            lambda i: i[0] == "battery.ActivePower" and i[1].StatusCode.is_good(), timeout_s=10
        )
        battery.faults.set(fault)
        started = time.monotonic()
        _, dv, at = await handler.until(
            lambda i: i[0] == "battery.ActivePower" and not i[1].StatusCode.is_good(),
            timeout_s=10,
            since=started,
        )
        assert dv.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
        assert at - started <= 3.5
        _, error, _ = await handler.until(
            lambda i: i[0] == "battery.Health.LastError" and "unit 3" in str(i[1].Value.Value),
            timeout_s=10,
            since=started,
        )
        assert "127.0.0.1:" in error.Value.Value  # located: endpoint, unit, function, address
        _, grid, _ = await handler.until(
            lambda i: i[0] == "grid-meter.ActivePower", timeout_s=10, since=at
        )
        assert grid.StatusCode.is_good()
    finally:
        battery.faults.clear()
    try:
        await handler.until(
            lambda i: i[0] == "battery.ActivePower" and i[1].StatusCode.is_good(),
            timeout_s=40,
            since=time.monotonic(),
        )
    finally:
        await subscription.delete()


async def test_the_demo_records_history_that_a_client_reads_raw_and_processed(
    running_demo: DemoUnderTest,
) -> None:
    client, ns = running_demo.client, running_demo.ns
    historian = running_demo.site.historian
    assert await historian.flush()  # what the writer recorded so far, into the database
    assert historian.health().written > 0
    end = datetime.now(UTC)
    start = end - timedelta(minutes=10)
    power = client.get_node(ua.NodeId("grid-meter.ActivePower", ns))
    assert await power.read_attribute(ua.AttributeIds.Historizing) is not None
    raw = await power.read_raw_history(start, end, return_bounds=False)
    assert len(raw) >= 1
    assert all(isinstance(dv.Value.Value, float) for dv in raw)
    assert all(start <= dv.SourceTimestamp <= end for dv in raw)
    details = ua.ReadProcessedDetails(
        StartTime=start,
        EndTime=end,
        ProcessingInterval=60_000.0,
        AggregateType=[ua.NodeId(ua.ObjectIds.AggregateFunction_Average)],
    )
    result = await power.history_read(details)
    assert result.StatusCode.is_good()
    averages = [
        dv
        for dv in result.HistoryData.DataValues
        if dv.StatusCode.is_good() or (dv.StatusCode.value & 0xC0000000) == 0x40000000
    ]
    assert averages, result.HistoryData.DataValues
    low = min(dv.Value.Value for dv in raw)
    high = max(dv.Value.Value for dv in raw)
    for dv in averages:
        assert low - 1e-6 <= dv.Value.Value <= high + 1e-6
    # every recorded variable has its HA Configuration; equal configurations are one object
    configs = []
    for key in ("grid-meter.ActivePower", "pv-sma.ActivePower", "battery.ActivePower"):
        node = client.get_node(ua.NodeId(key, ns))
        (config,) = await node.get_referenced_nodes(ua.ObjectIds.HasHistoricalConfiguration)
        assert await (await config.get_child(["0:Stepped"])).read_value() is False
        configs.append(config.nodeid)
    assert len(set(configs)) == 1
    energy = client.get_node(ua.NodeId("grid-meter.EnergyImported", ns))
    counters = await energy.read_raw_history(start, end, return_bounds=False)
    assert counters and all(dv.Value.Value >= 0 for dv in counters)


async def test_the_keba_on_udp_is_read_and_controlled(running_demo: DemoUnderTest) -> None:
    """A non-Modbus charger in the demo: the KEBA P30 answers on UDP (to the site's port, as a
    real one answers to 7090); its reports reach the nodes and the control writes its current."""
    client, ns = running_demo.client, running_demo.ns

    async def value(key: str) -> ua.DataValue:
        return await client.get_node(ua.NodeId(key, ns)).read_data_value()

    deadline = time.monotonic() + 20
    while not (await value("keba.VoltageL1")).StatusCode.is_good():
        assert time.monotonic() < deadline, "the KEBA's report 3 never arrived"
        await asyncio.sleep(0.1)
    assert (await value("keba.VoltageL1")).Value.Value == 230.0
    assert (await value("keba.Identification.SerialNumber")).Value.Value == "20123456"
    assert (await value("keba.Identification.DeviceProfile")).Value.Value == "keba_p30"
    keba = running_demo.demo.keba
    assert keba is not None
    deadline = time.monotonic() + 20
    while not any(c.startswith(("currtime", "ena")) for c in keba.station.commands):
        assert time.monotonic() < deadline, "the control never wrote the KEBA's current"
        await asyncio.sleep(0.1)
