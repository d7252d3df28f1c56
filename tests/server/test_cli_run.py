"""The ``ampacity`` command as a user runs it: devices listing, the demo, SIGTERM, restarts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from asyncua import Client, Node, ua

CLI = [sys.executable, "-m", "ampacity.server.cli"]


def test_devices_lists_every_profile_with_its_compatibility_rows() -> None:
    result = subprocess.run(
        [*CLI, "devices", "--json", "--uncovered"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    profiles = {p["id"]: p for p in listing["profiles"]}
    assert {
        "siemens_sentron_pac2200", "sma_sunny_tripower", "sma_sunny_boy_storage",
        "alfen_eve_double", "heidelberg_energy_control", "janitza_umg604", "fronius_symo",
    } <= set(profiles)  # fmt: skip
    alfen = profiles["alfen_eve_double"]
    assert [r["id"] for r in alfen["compatibility"]] == ["EVSE-24", "EVSE-25"]
    assert [a["kind"] for a in alfen["assets"]] == ["ChargePoint", "ChargePoint"]
    assert "PV-18" in [r["id"] for r in profiles["fronius_symo"]["compatibility"]]
    served = {r["id"] for p in listing["profiles"] for r in p["compatibility"]}
    # the external signals are served by code drivers and the marketer interface
    assert {"EXT-01", "EXT-02", "EXT-03", "EXT-04", "EXT-05", "EXT-06"} <= served
    assert profiles["ripple_control"]["kinds"] == ["RippleControlReceiver"]
    uncovered = {r["id"] for r in listing["uncovered"]}
    assert not served & uncovered
    assert len(served) + len(uncovered) == 154  # the whole compatibility list is accounted for

    text = subprocess.run([*CLI, "devices"], capture_output=True, text=True, timeout=60)
    assert "alfen_eve_double  [ChargePoint]  Alfen" in text.stdout
    assert "of 154 rows." in text.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_demo(port: int, data_dir: Path) -> tuple[subprocess.Popen[str], float]:
    """Start ``ampacity run`` (no config) and wait for it to announce its endpoint.

    Returns the process and the CPU seconds it spent until then: on an idle machine that is
    its start-up time; on a loaded one (tests on both cores) the wall time also holds the
    waits for a core, which say nothing about the demo.
    """
    process = subprocess.Popen(
        [*CLI, "run", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Ampacity serves" in line:
            assert f"opc.tcp://127.0.0.1:{port}/ampacity" in line
            return process, cpu_seconds(process.pid)
    raise AssertionError(f"the demo ended without serving (exit {process.wait()})")


async def node_ids(endpoint: str) -> set[str]:
    """Every NodeId of the site namespace reachable from the site object."""
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:ampacity:site")
        found: set[str] = set()
        stack: list[Node] = [client.get_node(ua.NodeId("demo", ns))]
        while stack:
            node = stack.pop()
            found.add(node.nodeid.to_string())
            for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
                if child.nodeid.NamespaceIndex == ns and child.nodeid.to_string() not in found:
                    stack.append(child)
        # the asset points of the demo are Good within a few polls
        power = client.get_node(ua.NodeId("grid-meter.ActivePower", ns))
        for _ in range(100):
            if (await power.read_data_value(raise_on_bad_status=False)).StatusCode.is_good():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("grid-meter.ActivePower never turned Good")
        return found


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=20)


@pytest.mark.timeout(180)
def test_the_demo_serves_within_10_s_of_cpu_keeps_node_ids_across_restarts_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/ampacity"
    first, startup_cpu_s = start_demo(port, tmp_path / "data")
    try:
        assert startup_cpu_s < 10
        before = asyncio.run(node_ids(endpoint))
    finally:
        assert stop(first) == 0
    assert len(before) > 300
    assert "ns=3;s=grid-meter.ActivePower" in before or any(
        n.endswith(";s=grid-meter.ActivePower") for n in before
    )
    second, _ = start_demo(port, tmp_path / "data")
    try:
        after = asyncio.run(node_ids(endpoint))
    finally:
        assert stop(second) == 0
    assert after == before
    assert (tmp_path / "data").is_dir()


def test_a_taken_port_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, "run", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ampacity: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another server on that port? set server.port or --port)"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()
