"""End to end: a real asyncua client over TCP reads raw, processed and event history."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ampacity.assets import SPECS, AssetKind
from ampacity.server.history import (
    HistorianHealthNodes,
    HistorianHistoryManager,
    enable_history,
    install_audit,
)
from ampacity.server.history_cli import main as history_main
from ampacity.storage import EventKind, Historian, RecordingPolicy, StorageConfig
from asyncua import Client, Server, ua

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PV = SPECS[AssetKind.PV_INVERTER]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, int, Historian]]:
    """A server with pv1.ActivePower (history 0..3599 s), pv1.EnergyProduced and a writable
    pv1.ActivePowerLimit, all historized; yields (endpoint, namespace index, historian)."""
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/ampacity"
    server = Server()
    await server.init()
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:ampacity:test-site")
    pv = await server.nodes.objects.add_object(ua.NodeId("pv1", ns), "pv1")
    historian = Historian.open(StorageConfig(fsync=False), tmp_path / "data")
    nodes = {}
    for name, initial in (("ActivePower", 0.0), ("EnergyProduced", 0.0), ("ActivePowerLimit", 1e4)):
        key = f"pv1.{name}"
        nodes[key] = await pv.add_variable(ua.NodeId(key, ns), name, initial)
        historian.register_series(key, PV.point(name), RecordingPolicy())
    await nodes["pv1.ActivePowerLimit"].set_writable()

    async def set_limit(parent: ua.NodeId, percent: ua.Variant) -> list[ua.Variant]:
        return []

    await pv.add_method(
        ua.NodeId("pv1.SetLimit", ns), "SetLimit", set_limit, [ua.VariantType.Double], []
    )
    await historian.start(background=False)
    for i in range(3600):
        historian.record("pv1.ActivePower", float(i % 60), 0, T0 + timedelta(seconds=i))
        historian.record("pv1.EnergyProduced", float(i), 0, T0 + timedelta(seconds=i))
    historian.record_event(EventKind.DEVICE_LOST, "pv1", "pv1 lost", time=T0)
    await historian.flush()
    await enable_history(server, historian, nodes, ns, event_sources={"pv1": pv})
    install_audit(server, historian, ns)
    health = await HistorianHealthNodes.create(server.nodes.objects, ns)
    await health.update(historian.health())
    async with server:
        yield endpoint, ns, historian
    await historian.stop()


async def test_read_raw_history_with_continuation_points(
    site: tuple[str, int, Historian],
) -> None:
    endpoint, ns, historian = site
    historian.config.max_values_per_read = 1000  # forces 4 round trips
    historian.config.max_bytes_per_read = 0  # numeric points too
    async with Client(endpoint) as client:
        node = client.get_node(ua.NodeId("pv1.ActivePower", ns))
        assert await node.read_attribute(ua.AttributeIds.Historizing)
        access = (await node.read_attribute(ua.AttributeIds.AccessLevel)).Value.Value
        assert access & ua.AccessLevel.HistoryRead.mask
        values = await node.read_raw_history(T0, T0 + timedelta(hours=1), return_bounds=False)
        assert [dv.Value.Value for dv in values] == [float(i % 60) for i in range(3600)]
        assert values[5].SourceTimestamp == T0 + timedelta(seconds=5)
        config = await node.get_referenced_nodes(ua.ObjectIds.HasHistoricalConfiguration)
        assert len(config) == 1
        stepped = await config[0].get_child(["0:Stepped"])
        assert await stepped.read_value() is False


async def test_numeric_pages_fill_the_byte_budget(site: tuple[str, int, Historian]) -> None:
    """Pages of a Double point hold as many values as fit into ``max_bytes_per_read`` (30 bytes
    each with both timestamps, less the response's margins); the continuation points chain
    them without a gap or a repeat, and the last page has none."""
    endpoint, ns, historian = site
    historian.config.max_values_per_read = 1000
    historian.config.max_bytes_per_read = 1024 + 128 + 1500 * 30  # 1,500 values a page
    async with Client(endpoint) as client:
        node = client.get_node(ua.NodeId("pv1.ActivePower", ns))
        details = ua.ReadRawModifiedDetails(
            IsReadModified=False,
            StartTime=T0,
            EndTime=T0 + timedelta(hours=1),
            NumValuesPerNode=0,
            ReturnBounds=False,
        )
        pages: list[list[ua.DataValue]] = []
        point = None
        while True:
            result = await node.history_read(details, point)
            assert result.StatusCode.is_good()
            pages.append(result.HistoryData.DataValues)
            point = result.ContinuationPoint
            if not point:
                break
        assert [len(p) for p in pages] == [1500, 1500, 600]
        times = [dv.SourceTimestamp for page in pages for dv in page]
        assert times == [T0 + timedelta(seconds=i) for i in range(3600)]
        assert [dv.Value.Value for page in pages for dv in page] == [
            float(i % 60) for i in range(3600)
        ]
        details.NumValuesPerNode = 700  # the client's limit still rules
        first = await node.history_read(details)
        assert len(first.HistoryData.DataValues) == 700 and first.ContinuationPoint
        capability = client.get_node(
            ua.NodeId(ua.ObjectIds.HistoryServerCapabilities_MaxReturnDataValues)
        )
        # published when history was enabled (1 MiB): the most one response holds of a Double
        assert await capability.read_value() == (1024 * 1024 - 1024 - 128) // 30


async def test_read_processed_average_and_delta(site: tuple[str, int, Historian]) -> None:
    endpoint, ns, _ = site
    async with Client(endpoint) as client:
        power = client.get_node(ua.NodeId("pv1.ActivePower", ns))
        details = ua.ReadProcessedDetails(
            StartTime=T0,
            EndTime=T0 + timedelta(hours=1),
            ProcessingInterval=15 * 60 * 1000.0,
            AggregateType=[ua.NodeId(ua.ObjectIds.AggregateFunction_Average)],
        )
        result = await power.history_read(details)
        assert result.StatusCode.is_good()
        values = result.HistoryData.DataValues
        assert [dv.Value.Value for dv in values] == [29.5] * 4
        assert [dv.SourceTimestamp for dv in values] == [
            T0 + timedelta(minutes=15 * k) for k in range(4)
        ]
        assert all(dv.StatusCode.value == 0x401 for dv in values)  # Good, Calculated
        details.EndTime = T0 + timedelta(minutes=50)  # the last interval is 5 of 15 min
        partial = (await power.history_read(details)).HistoryData.DataValues
        assert [dv.StatusCode.value for dv in partial] == [0x401, 0x401, 0x401, 0x405]
        details.EndTime = T0 + timedelta(hours=1)
        energy = client.get_node(ua.NodeId("pv1.EnergyProduced", ns))
        details.AggregateType = [ua.NodeId(ua.ObjectIds.AggregateFunction_Delta)]
        delta = await energy.history_read(details)
        assert [dv.Value.Value for dv in delta.HistoryData.DataValues] == [899.0] * 4
        details.AggregateType = [ua.NodeId(ua.ObjectIds.AggregateFunction_DeltaBounds)]
        energy_per_interval = (await energy.history_read(details)).HistoryData.DataValues
        assert [dv.Value.Value for dv in energy_per_interval][:3] == [900.0] * 3
        details.AggregateType = [ua.NodeId(ua.ObjectIds.AggregateFunction_StandardDeviationSample)]
        unsupported = await energy.history_read(details)
        assert unsupported.StatusCode.value == ua.StatusCodes.BadAggregateNotSupported
        at_time = await power.history_read(
            ua.ReadAtTimeDetails(ReqTimes=[T0 + timedelta(seconds=10.5)])
        )
        assert at_time.HistoryData.DataValues[0].Value.Value == pytest.approx(10.5)


async def test_event_history_has_the_audit_of_a_client_write(
    site: tuple[str, int, Historian],
) -> None:
    endpoint, ns, historian = site
    async with Client(endpoint) as client:
        limit = client.get_node(ua.NodeId("pv1.ActivePowerLimit", ns))
        await limit.write_value(ua.Variant(5000.0, ua.VariantType.Double))
        await historian.flush()
        end = datetime.now(UTC) + timedelta(minutes=1)
        audits = await client.nodes.server.read_event_history(
            T0, end, evtypes=ua.ObjectIds.AuditWriteUpdateEventType
        )
        assert [e.SourceName for e in audits] == ["pv1.ActivePowerLimit"]  # OfType filter
        audit = audits[0]
        assert audit.OldValue == 1e4 and audit.NewValue == 5000.0 and audit.Status is True
        assert audit.ClientUserId
        assert audit.EventType == ua.NodeId(ua.ObjectIds.AuditWriteUpdateEventType)
        pv = client.get_node(ua.NodeId("pv1", ns))
        await pv.call_method(ua.NodeId("pv1.SetLimit", ns), ua.Variant(70.0, ua.VariantType.Double))
        await historian.flush()
        calls = await client.nodes.server.read_event_history(
            T0, end, evtypes=ua.ObjectIds.AuditUpdateMethodEventType
        )
        assert len(calls) == 1
        assert calls[0].MethodId == ua.NodeId("pv1.SetLimit", ns)
        assert calls[0].InputArguments == [70.0] and calls[0].Status is True
        events = await pv.read_event_history(T0, end)
        assert {str(e.Message.Text) for e in events} >= {"pv1 lost"}


async def test_historian_health_is_readable(site: tuple[str, int, Historian]) -> None:
    endpoint, ns, _ = site
    async with Client(endpoint) as client:
        connected = client.get_node(ua.NodeId("Historian.Health.DatabaseConnected", ns))
        assert await connected.read_value() is True
        buffered = client.get_node(ua.NodeId("Historian.Health.Buffered", ns))
        assert await buffered.read_value() == 0


def test_history_export_command_writes_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    async def fill() -> None:
        h = Historian.open(StorageConfig(fsync=False), tmp_path)
        h.register_series("pv1.ActivePower", PV.point("ActivePower"), RecordingPolicy())
        await h.start(background=False)
        for i in range(120):
            h.record("pv1.ActivePower", float(i), 0, T0 + timedelta(seconds=i))
        await h.flush()
        await h.stop()

    asyncio.run(fill())
    out = tmp_path / "out.csv"
    argv = ["history", "export", "--data-dir", str(tmp_path), "--from", "2026-01-01T00:00:00"]
    assert (
        history_main([*argv, "--to", "2026-01-01T00:02", "--interval", "1m", "-o", str(out)]) == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "time,point,average,minimum,maximum,last,count"
    assert lines[1] == "2026-01-01T00:00:00Z,pv1.ActivePower,29.5,0.0,59.0,59.0,60"
    assert history_main([*argv, "--to", "2026-01-01T00:00:03", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "2026-01-01T00:00:00Z,pv1.ActivePower,0.0,0x00000000",
        "2026-01-01T00:00:01Z,pv1.ActivePower,1.0,0x00000000",
        "2026-01-01T00:00:02Z,pv1.ActivePower,2.0,0x00000000",
    ]
    assert history_main([*argv, "--interval", "fortnight"]) == 2


def test_raw_pages_of_numeric_points_fill_the_byte_budget(tmp_path: Path) -> None:
    historian = Historian.open(StorageConfig(fsync=False), tmp_path)  # not started: config only
    manager = HistorianHistoryManager(Server(), historian, 2)
    both, source = ua.TimestampsToReturn.Both, ua.TimestampsToReturn.Source
    double_page = (1024 * 1024 - 1024 - 128) // 30  # a Double with both timestamps: 30 bytes
    assert manager.raw_page_max("Double", both, 1) == double_page == 34_914
    # smaller values get no more: MaxReturnDataValues (the Double page) holds for every point
    assert manager.raw_page_max("Boolean", source, 1) == double_page
    assert manager.raw_page_max("String", both, 1) == 10_000  # no fixed size
    assert manager.raw_page_max("Double", both, 2) == (1024 * 1024 - 1024 - 256) // 2 // 30
    assert manager.raw_page_max("Double", both, 10) == 10_000  # never below max_values_per_read
    manager.max_message_size = 512 * 1024  # the server's limit rules when it is lower
    assert manager.raw_page_max("Double", both, 1) == (512 * 1024 - 1024 - 128) // 30
    historian.config.max_bytes_per_read = 0
    assert manager.raw_page_max("Double", both, 1) == 10_000
