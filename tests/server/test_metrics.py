"""The Prometheus endpoint, scraped from the running demo; the Grafana dashboard that reads it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import jsonschema
import pytest
from ampacity.server.metrics import parse_listen
from ampacity.server.operations import operations
from ampacity.server.systemd import Notifier, ServiceManager
from asyncua import ua
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import DemoUnderTest

on_the_demo = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "ampacity-dashboard.json"
SCHEMA = Path(__file__).with_name("grafana_dashboard.schema.json")

EXPECTED = {
    "ampacity_device_poll_duration_seconds",
    "ampacity_device_errors",
    "ampacity_device_connected",
    "ampacity_device_last_good_age_seconds",
    "ampacity_device_points",
    "ampacity_control_cycle_duration_seconds",
    "ampacity_control_cycles",
    "ampacity_control_overruns",
    "ampacity_control_controller_errors",
    "ampacity_control_failsafe",
    "ampacity_historian_buffered_samples",
    "ampacity_historian_buffer_bytes",
    "ampacity_historian_oldest_buffered_age_seconds",
    "ampacity_historian_write_latency_seconds",
    "ampacity_historian_written",
    "ampacity_historian_dropped",
    "ampacity_historian_database_connected",
    "ampacity_opcua_sessions",
    "ampacity_opcua_subscriptions",
    "ampacity_opcua_monitored_items",
    "ampacity_opcua_notifications",
    "ampacity_clock_synchronized",
    "ampacity_clock_jumps",
    "ampacity_info",
}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> tuple[set[str], Samples, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    families = list(text_string_to_metric_families(text))
    samples: Samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return {f.name for f in families}, samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@on_the_demo
async def test_the_running_demo_serves_every_metric_with_sane_values(
    running_demo: DemoUnderTest,
) -> None:
    demo = running_demo
    site = demo.site
    sub = await demo.client.create_subscription(50, None)
    handles = await sub.subscribe_data_change(
        [demo.client.get_node(ua.NodeId("grid-meter.ActivePower", demo.ns))]
    )
    try:
        async with operations(site, "127.0.0.1:0", service=ServiceManager(Notifier(""))) as ops:
            assert ops.metrics_address is not None
            host, port = ops.metrics_address
            url = f"http://{host}:{port}/metrics"
            ready = (
                "ampacity_device_poll_duration_seconds",
                (("asset", "battery"), ("device", "battery")),
            )
            deadline = time.monotonic() + 20  # the demo's first polls (real devices on loopback)
            names, first, text = await scrape(url)
            while ready not in first and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                names, first, text = await scrape(url)
            assert names >= EXPECTED, EXPECTED - names
            # every device of the demo site, by its site-file id, with its asset
            assert value(
                first, "ampacity_device_connected", device="grid-meter", asset="grid-meter"
            )
            for driver in site.drivers:
                for info in driver.assets:
                    labels = {"device": driver.device_id, "asset": info.asset_id}
                    counts = [
                        value(first, "ampacity_device_points", quality=q, **labels)
                        for q in ("good", "uncertain", "bad")
                    ]
                    assert (
                        sum(counts)
                        == len(
                            [
                                p
                                for p in info.points
                                if not p.startswith(("Health.", "Identification."))
                            ]
                        )
                        or sum(counts) > 0
                    ), labels
            assert (
                0
                < value(
                    first,
                    "ampacity_device_poll_duration_seconds",
                    device="battery",
                    asset="battery",
                )
                < 5
            )
            assert (
                value(first, "ampacity_device_errors_total", device="battery", asset="battery") >= 0
            )
            assert (
                value(
                    first,
                    "ampacity_device_points",
                    device="grid-meter",
                    asset="grid-meter",
                    quality="good",
                )
                >= 5
            )
            assert (
                0
                <= value(
                    first,
                    "ampacity_device_last_good_age_seconds",
                    device="grid-meter",
                    asset="grid-meter",
                )
                < 30
            )
            assert value(first, "ampacity_historian_database_connected") == 1
            assert value(first, "ampacity_control_failsafe") == 0
            assert value(first, "ampacity_clock_synchronized") in (-1, 0, 1)
            assert value(first, "ampacity_opcua_sessions") >= 1
            assert value(first, "ampacity_opcua_subscriptions") >= 1
            assert value(first, "ampacity_opcua_monitored_items") >= 1
            assert 'ampacity_info{site="demo"' in text
            # counters move: control cycles, historian writes, notifications to our subscription
            deadline = time.monotonic() + 20
            while True:
                await asyncio.sleep(0.5)
                _, later, _ = await scrape(url)
                moved = [
                    later[key] > first[key]
                    for key in (
                        ("ampacity_control_cycles_total", ()),
                        ("ampacity_historian_written_total", ()),
                        ("ampacity_opcua_notifications_total", ()),
                    )
                ]
                if all(moved) or time.monotonic() > deadline:
                    break
            assert all(moved), moved
            assert value(later, "ampacity_historian_write_latency_seconds") > 0
        # the endpoint is gone with the operations
        with pytest.raises(aiohttp.ClientConnectionError):
            await scrape(url)
    finally:
        await sub.unsubscribe(handles)
        await sub.delete()


@on_the_demo
async def test_a_taken_metrics_port_is_a_startup_error(running_demo: DemoUnderTest) -> None:
    from ampacity.server.app import StartupError

    quiet = ServiceManager(Notifier(""))
    async with operations(running_demo.site, "127.0.0.1:0", service=quiet) as ops:
        assert ops.metrics_address is not None
        taken = f"127.0.0.1:{ops.metrics_address[1]}"
        with pytest.raises(StartupError, match=f"metrics: cannot listen on {taken}"):
            async with operations(running_demo.site, taken, service=quiet):
                pass


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    assert parse_listen("0.0.0.0:9100") == ("0.0.0.0", 9100)
    for bad in ("host:port", "127.0.0.1:70000", "example.org:9464", ""):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_the_dashboard_is_a_grafana_dashboard_reading_only_served_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    jsonschema.validate(dashboard, json.loads(SCHEMA.read_text(encoding="utf-8")))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\bampacity_[a-z_]+", target["expr"]))
    served = EXPECTED | {f"{n}_total" for n in EXPECTED}
    assert used <= served, used - served
    # every group of the issue has a panel
    for prefix in ("device", "control", "historian", "opcua", "clock"):
        assert any(name.startswith(f"ampacity_{prefix}_") for name in used), prefix


def test_the_schema_check_can_fail() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    del dashboard["panels"][0]["gridPos"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dashboard, schema)
