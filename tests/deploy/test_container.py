"""The container image (deploy/Containerfile) and the compose file with TimescaleDB.

The image is built only where a container engine runs (podman or a docker daemon); elsewhere
that test skips and says so. The static checks run everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ampacity.server.config import load_config

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    text = CONTAINERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_the_image_runs_as_a_non_root_user_with_data_in_a_volume_and_a_health_check() -> None:
    stage = final_stage()
    users = [rest for word, rest in stage if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("VOLUME", '["/var/lib/ampacity"]') in stage
    assert any(word == "HEALTHCHECK" and "create_connection" in rest for word, rest in stage)
    cmd = next(rest for word, rest in stage if word == "CMD")
    assert '"--config", "/etc/ampacity/site.yaml"' in cmd
    assert '"--data-dir", "/var/lib/ampacity"' in cmd
    # small: the final stage installs wheels built in the first, no compiler, no sources
    assert not any(word == "COPY" and rest.startswith(". ") for word, rest in stage)


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", "build", "ampacity-data", "**/node_modules"):
        assert entry in ignored


def test_the_compose_file_runs_ampacity_on_the_host_network_with_timescaledb() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["ampacity"]["network_mode"] == "host"
    assert services["ampacity"]["build"]["dockerfile"] == "deploy/Containerfile"
    assert services["ampacity"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "timescaledb" in services["db"]["image"]
    assert services["db"]["ports"] == ["127.0.0.1:5432:5432"]
    config = load_config(ROOT / "deploy" / "compose" / "site.yaml")
    assert config.storage.url is not None
    assert config.storage.url.startswith("postgresql+psycopg://ampacity:")
    assert "@127.0.0.1:5432/" in config.storage.url
    assert config.server.data_dir == Path("/var/lib/ampacity")


def _engine() -> str | None:
    for engine in ("podman", "docker"):
        if shutil.which(engine) is None:
            continue
        done = subprocess.run([engine, "info"], capture_output=True, timeout=30, check=False)
        if done.returncode == 0:
            return engine
    return None


@pytest.mark.timeout(1200)
def test_the_image_builds_and_runs_as_non_root() -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no container engine runs here (podman, or docker with a daemon)")
    tag = "ampacity-test:latest"
    subprocess.run(
        [engine, "build", "-f", str(CONTAINERFILE), "-t", tag, str(ROOT)],
        check=True,
        timeout=1100,
    )
    done = subprocess.run(
        [engine, "run", "--rm", "--entrypoint", "id", tag, "-u"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "10001"
    done = subprocess.run(
        [engine, "run", "--rm", tag, "check", "/nonexistent.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "cannot read" in done.stderr
