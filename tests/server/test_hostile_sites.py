"""Hostile site files: each is one located error with exit code 2, never a traceback, a hang or a
memory blow-up; and a fuzz test over the loader (mutations of real site files)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ampacity.server.config import ConfigError, load_config

HOSTILE = Path(__file__).parent / "hostile_sites"
EXAMPLES = [
    Path(__file__).parents[2] / "deploy" / "examples" / "home.yaml",
    Path(__file__).parent / "hostile_sites" / "port-out-of-range.yaml",
]

EXPECTED = {
    "latin1.yaml": "latin1.yaml:2: not UTF-8 text (byte 0xfc at column 14); save the file as UTF-8",
    "nul.yaml": "nul.yaml:2: a NUL byte: this is not a text file",
    "utf16.yaml": "utf16.yaml:1: the file is UTF-16 text; save it as UTF-8",
    "list-key.yaml": "list-key.yaml:2: a mapping key must be a name, not a list",
    "anchor-bomb.yaml": "anchor-bomb.yaml:",  # + where the expansion passed the limit
    "empty.yaml": "empty.yaml:1: the file is empty; a minimal site names its devices",
    "host-with-space.yaml": (
        "host-with-space.yaml:4: devices[0].host: Value error, 'my meter' is not an IP address "
        "or a host name"
    ),
    "unclosed-bracket.yaml": "unclosed-bracket.yaml:3: ",
    "port-out-of-range.yaml": "port-out-of-range.yaml:5: devices[0].port: Input should be less",
    "a-list.yaml": "a-list.yaml:1: the file must hold a mapping",
    "braces.yaml": "braces.yaml:2: ",
    "binary.yaml": "binary.yaml:",
}


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.errors


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_hostile_file_is_one_located_error(name: str) -> None:
    started = time.monotonic()
    errors = errors_of(HOSTILE / name)
    assert time.monotonic() - started < 5.0
    assert (
        errors[0]
        .replace("Value error, ", "")
        .startswith(EXPECTED[name].replace("Value error, ", ""))
    ), errors


def test_the_anchor_bomb_is_stopped_by_the_value_limit() -> None:
    [error] = errors_of(HOSTILE / "anchor-bomb.yaml")
    assert "more than 200000 values (aliases expanded)" in error


def test_nesting_5000_deep_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    [error] = errors_of(deep)
    assert error.startswith("deep.yaml:1: ") and "nest" in error


def test_a_syntax_error_is_reported_where_it_begins() -> None:
    [error] = errors_of(HOSTILE / "unclosed-bracket.yaml")
    assert error.startswith("unclosed-bracket.yaml:3: "), error  # the '[' that is never closed


def test_check_exits_2_without_a_traceback_for_every_hostile_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ampacity.server.cli import main

    for path in sorted(HOSTILE.glob("*.yaml")):
        assert main(["check", str(path)]) == 2, path.name  # an exception would fail the test
        err = capsys.readouterr().err
        assert err.startswith(f"{path.name}:"), err
    # and once as the installed command, to see the exit code and stderr a shell sees
    result = subprocess.run(
        [sys.executable, "-m", "ampacity.server.cli", "check", str(HOSTILE / "binary.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("binary.yaml:")


def test_run_refuses_a_port_out_of_range_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ampacity.server.cli", "run", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "70000 is not a port number (1..65535)" in result.stderr


def test_a_missing_serial_device_is_a_warning_not_an_error(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "buses:\n  - {id: rs485, device: /dev/ttyUSB97}\n"
        "devices:\n  - {id: meter, profile: janitza_umg604, bus: rs485, unit_id: 2}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ampacity.server.cli", "check", str(site)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "site.yaml: warning: buses.rs485.device: /dev/ttyUSB97 does not exist (yet)" in (
        result.stderr
    )


PUNCTUATION = [b":", b"-", b"[", b"{", b"&a", b"*a", b"? ", b"\t", b"'", b"\n  ", b"!!python/"]


def mutate(text: bytes, rng: random.Random) -> bytes:
    """One random edit: flip, insert, delete, duplicate or truncate."""
    data = bytearray(text)
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    choice = rng.randrange(6)
    at = rng.randrange(max(1, len(data)))
    if choice == 0:
        data[at] = rng.randrange(256)
    elif choice == 1:
        data[at:at] = rng.choice(
            [b":", b"-", b"[", b"{", b"&a", b"*a", b"? ", b"\t", b"'", b"\n  "]
        )
    elif choice == 2:
        del data[at : at + rng.randrange(1, 20)]
    elif choice == 3:
        end = min(len(data), at + rng.randrange(1, 80))
        data[at:at] = data[at:end]
    elif choice == 4:
        del data[at:]
    else:
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return bytes(data)


def fuzz(cases: int, seed: int, folder: Path) -> int:
    """Load ``cases`` mutated site files; any exception but ConfigError fails. Returns how many
    loaded without error."""
    rng = random.Random(seed)
    sources = [path.read_bytes() for path in EXAMPLES]
    loaded = 0
    target = folder / "fuzz.yaml"
    for case in range(cases):
        data = rng.choice(sources)
        for _ in range(rng.randrange(1, 4)):
            data = mutate(data, rng)
        target.write_bytes(data)
        try:
            load_config(target)
            loaded += 1
        except ConfigError as exc:
            assert exc.errors and all(e.startswith("fuzz.yaml:") for e in exc.errors), (
                case,
                exc.errors,
            )
    return loaded


def test_a_thousand_mutated_site_files_never_crash_the_loader(tmp_path: Path) -> None:
    loaded = fuzz(1500, seed=2026, folder=tmp_path)
    assert loaded < 1500  # the mutations did break files


def test_users_add_without_a_terminal_says_how_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ampacity.server.cli", "users", "add", "bob", "--role", "viewer"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "no terminal to ask for the password: pipe it in with --password-stdin"
    )


def test_devices_into_a_closed_pipe_ends_quietly() -> None:
    command = f"{sys.executable} -m ampacity.server.cli devices --uncovered | head -n 1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert len(result.stdout.splitlines()) == 1
