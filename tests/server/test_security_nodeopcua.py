"""Security with an independent client stack (node-opcua, tests/nodeopcua/secure_client.js):
each policy, each role's write/call outcome, an untrusted certificate, a wrong password, the
anonymous and None rules."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ampacity.server.cli import main as ampacity_main
from ampacity.server.security import SecurityConfig
from ampacity.server.security.config import LoginThrottleSettings
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from security_support import (
    CLIENT_URI,
    PASSWORDS,
    SITE_ID,
    ClientCert,
    SecureSite,
    client_certs,
    start_secure_site,
)

pytestmark = [pytest.mark.nodeopcua, pytest.mark.asyncio(loop_scope="module")]

PROJECT = Path(__file__).resolve().parents[1] / "nodeopcua"
NPM_CI_TIMEOUT_S = 300
CLIENT_TIMEOUT_S = 60


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: this test needs Node.js (>= 20) and npm")
    return path


@pytest.fixture(scope="module")
def node_ready() -> str:
    if not (PROJECT / "node_modules" / "node-opcua-client").is_dir():
        result = subprocess.run(
            [tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_S,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in {PROJECT} failed:\n{result.stderr}")
    return tool("node")


def pem_pair(cert: ClientCert, folder: Path) -> tuple[Path, Path]:
    """node-opcua reads PEM files."""
    pem = folder / f"{cert.cert.stem}.cert.pem"
    der = x509.load_der_x509_certificate(cert.der)
    pem.write_bytes(der.public_bytes(serialization.Encoding.PEM))
    return pem, cert.key


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecureSite]:
    certs = client_certs()
    running = await start_secure_site(
        tmp_path_factory.mktemp("nodeopcua-site"),
        SecurityConfig(login_throttle=LoginThrottleSettings(free_failures=50)),
        trusted=[certs.trusted.cert],
    )
    try:
        yield running
    finally:
        await running.site.stop()


async def run_client(
    node: str,
    site: SecureSite,
    folder: Path,
    *,
    policy: str = "Basic256Sha256",
    mode: str = "SignAndEncrypt",
    user: str | None = None,
    password: str | None = None,
    cert: ClientCert | None = None,
) -> dict[str, Any]:
    cert_file, key_file = pem_pair(cert or client_certs().trusted, folder)
    ns = site.ns
    options = {
        "endpoint": site.endpoint,
        "policy": policy,
        "mode": mode,
        "certificateFile": str(cert_file),
        "privateKeyFile": str(key_file),
        "applicationUri": CLIENT_URI,
        "pkiFolder": str(folder),
        "user": user,
        "password": password if password is not None else PASSWORDS.get(user or "", ""),
        "readNode": f"ns={ns};s={SITE_ID}.FeedInLimit",
        "writeValue": 7000.0,
        "marketerObject": f"ns={ns};s={SITE_ID}.Marketer",
        "marketerMethod": f"ns={ns};s={SITE_ID}.Marketer.SetActivePowerLimit",
    }
    process = await asyncio.create_subprocess_exec(
        node,
        "secure_client.js",
        json.dumps(options),
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(CLIENT_TIMEOUT_S):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    lines = [line for line in stdout.decode().splitlines() if line.startswith("{")]
    assert lines, stdout.decode() + stderr.decode()
    return dict(json.loads(lines[-1]))


CURRENT_WRITE = 2

EXPECTED = {
    "viewer": ("BadUserAccessDenied", "BadUserAccessDenied", False, False),
    "operator": ("Good", "BadUserAccessDenied", True, False),
    "marketer": ("BadUserAccessDenied", "Good", False, True),
    "admin": ("Good", "Good", True, True),
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_roles(node_ready: str, site: SecureSite, tmp_path: Path, role: str) -> None:
    got = await run_client(node_ready, site, tmp_path, user=role)
    write, call, writable, executable = EXPECTED[role]
    assert got["connect"] == "ok", got
    assert got["read"] == "Good"
    assert got["write"] == write
    assert got["callMarketer"] == call
    assert bool(got["userAccessLevel"] & CURRENT_WRITE) is writable
    assert got["userExecutableMarketer"] is executable


@pytest.mark.parametrize(
    ("policy", "mode"),
    [
        ("Basic256Sha256", "Sign"),
        ("Basic256Sha256", "SignAndEncrypt"),
        ("Aes256_Sha256_RsaPss", "Sign"),
        ("Aes256_Sha256_RsaPss", "SignAndEncrypt"),
    ],
)
async def test_policies(
    node_ready: str, site: SecureSite, tmp_path: Path, policy: str, mode: str
) -> None:
    got = await run_client(node_ready, site, tmp_path, policy=policy, mode=mode, user="operator")
    assert got["connect"] == "ok", got
    assert got["write"] == "Good"


async def test_untrusted_then_trusted(node_ready: str, site: SecureSite, tmp_path: Path) -> None:
    untrusted = client_certs().untrusted
    got = await run_client(node_ready, site, tmp_path, user="viewer", cert=untrusted)
    assert "BadCertificateUntrusted" in got["connect"]
    assert (
        ampacity_main(["certs", "trust", untrusted.thumbprint, "--data-dir", str(site.data_dir)])
        == 0
    )
    try:
        got = await run_client(node_ready, site, tmp_path, user="viewer", cert=untrusted)
        assert got["connect"] == "ok", got
    finally:
        ampacity_main(["certs", "reject", untrusted.thumbprint, "--data-dir", str(site.data_dir)])


async def test_wrong_password_and_anonymous(
    node_ready: str, site: SecureSite, tmp_path: Path
) -> None:
    got = await run_client(node_ready, site, tmp_path, user="operator", password="wrong-one")
    assert "BadUserAccessDenied" in got["connect"]
    got = await run_client(node_ready, site, tmp_path)  # anonymous: off outside the demo
    assert "ANONYMOUS" in got["connect"]  # no anonymous token policy is offered


async def test_none_refused(node_ready: str, site: SecureSite, tmp_path: Path) -> None:
    got = await run_client(node_ready, site, tmp_path, policy="None", mode="None", user="admin")
    assert "securityMode = None" in got["connect"]  # no None endpoint is offered
