"""Alarms with an independent client stack (node-opcua, tests/nodeopcua/alarm_client.js): it
subscribes to the Server object's events with select + where (OfType ConditionType), sees a
disconnected meter's communication-lost alarm, acknowledges it with a comment as operator (a viewer
gets BadUserAccessDenied), sees it return to normal with Retain false; a client connecting later
gets exactly the retained conditions from ConditionRefresh."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from alarm_support import METER, AlarmSite, alarm_site, settled, until
from ampacity.sim.faults import Fault
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from security_support import CLIENT_URI, PASSWORDS, client_certs
from test_security_nodeopcua import PROJECT, node_ready  # noqa: F401 - the fixture

pytestmark = [pytest.mark.nodeopcua, pytest.mark.asyncio(loop_scope="module")]

LINE_TIMEOUT_S = 30.0


class NodeClient:
    """A running alarm_client.js: JSON lines out, commands in."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def line(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next output line that passes ``check`` (events are kept in ``events``)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(LINE_TIMEOUT_S):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    stderr = await self.process.stderr.read() if self.process.stderr else b""
                    raise AssertionError(f"client ended: {stderr.decode()}")
                if not raw.startswith(b"{"):
                    continue
                message = json.loads(raw)
                assert "error" not in message, message
                if "event" in message:
                    self.events.append(message["event"])
                if check(message):
                    return dict(message)

    async def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def close(self) -> None:
        if self.process.returncode is None:
            await self.send(cmd="quit")
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AlarmSite]:
    async with alarm_site(tmp_path_factory.mktemp("alarms-node") / "data") as running:
        await until(lambda: _connected(running, True))
        yield running


async def _connected(site: AlarmSite, value: bool) -> bool:
    return site.site.writer.slot(f"{METER}.Health.Connected").value is value


async def start(node: str, site: AlarmSite, folder: Path, user: str) -> NodeClient:
    cert = client_certs().trusted
    pem = folder / "client.cert.pem"
    pem.write_bytes(
        x509.load_der_x509_certificate(cert.der).public_bytes(serialization.Encoding.PEM)
    )
    options = {
        "endpoint": site.secure.endpoint,
        "certificateFile": str(pem),
        "privateKeyFile": str(cert.key),
        "applicationUri": CLIENT_URI,
        "pkiFolder": str(folder),
        "user": user,
        "password": PASSWORDS[user],
    }
    process = await asyncio.create_subprocess_exec(
        node,
        "alarm_client.js",
        json.dumps(options),
        cwd=PROJECT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    client = NodeClient(process)
    await client.line(lambda m: m.get("ready") is True)
    return client


async def _active(state: Any) -> bool:
    return bool(state.active)


def _event_id(message: dict[str, Any]) -> str | None:
    return (message.get("event") or {}).get("EventId")


def lost(active: bool) -> Callable[[dict[str, Any]], bool]:
    def check(message: dict[str, Any]) -> bool:
        event = message.get("event") or {}
        return bool(
            event.get("ConditionName") == "CommunicationLost" and event["ActiveState.Id"] is active
        )

    return check


async def test_comm_lost_with_node_opcua(node_ready: str, site: AlarmSite, tmp_path: Path) -> None:  # noqa: F811
    operator = await start(node_ready, site, tmp_path, "operator")
    viewer = await start(node_ready, site, tmp_path, "viewer")
    late: NodeClient | None = None
    try:
        await settled(site)
        site.device.faults.set(Fault.DISCONNECT)
        assert site.site.alarms is not None
        state = site.site.alarms.by_key[f"{METER}.CommunicationLost"].state
        await until(lambda: _active(state))
        raised = (await operator.line(lambda m: _event_id(m) == state.event_id.hex()))["event"]
        assert raised["ActiveState.Id"] is True
        condition = f"ns={site.secure.ns};s={METER}.CommunicationLost"
        assert raised["ConditionId"] == condition
        assert raised["SourceNode"] == f"ns={site.secure.ns};s={METER}"
        assert raised["EventType"] == "ns=0;i=10637"  # OffNormalAlarmType
        assert (raised["AckedState.Id"], raised["Retain"], raised["Severity"]) == (False, True, 700)

        ack = {"conditionId": condition, "eventId": raised["EventId"], "comment": "on my way"}
        await viewer.send(cmd="ack", **ack)
        assert (await viewer.line(lambda m: "ack" in m))["ack"] == "BadUserAccessDenied"
        await operator.send(cmd="ack", **ack)
        assert (await operator.line(lambda m: "ack" in m))["ack"] == "Good"
        acked = (
            await operator.line(lambda m: (m.get("event") or {}).get("AckedState.Id") is True)
        )["event"]
        assert (acked["Comment"], acked["ClientUserId"], acked["Retain"]) == (
            "on my way",
            "operator",
            True,
        ), operator.events

        # a client connecting now: ConditionRefresh returns exactly the retained conditions
        late = await start(node_ready, site, tmp_path, "viewer")
        await late.send(cmd="refresh")
        assert (await late.line(lambda m: "refresh" in m))["refresh"] == "Good"
        await late.line(lambda m: (m.get("event") or {}).get("EventType") == "ns=0;i=2788")
        types = [e["EventType"] for e in late.events]
        assert types[0] == "ns=0;i=2787"  # RefreshStartEventType
        assert [e["ConditionId"] for e in late.events[1:-1]] == [condition]
        assert late.events[1]["AckedState.Id"] is True

        site.device.faults.clear()
        cleared = (await operator.line(lost(False)))["event"]
        assert (cleared["AckedState.Id"], cleared["Retain"]) == (True, False)
        await late.line(lost(False))  # the live event reaches the late client too
        late.events.clear()
        await late.send(cmd="refresh")
        await late.line(lambda m: "refresh" in m)
        await late.line(lambda m: (m.get("event") or {}).get("EventType") == "ns=0;i=2788")
        assert [e["EventType"] for e in late.events] == ["ns=0;i=2787", "ns=0;i=2788"]
    finally:
        site.device.faults.clear()
        for client in (operator, viewer, late):
            if client is not None:
                await client.close()
