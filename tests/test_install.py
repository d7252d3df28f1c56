"""The development install: complete, and followable by static tools (editors, jedi, pyright).

``pip install -e '.[dev]' --config-settings editable_mode=strict`` mirrors the package-dir mapping
of pyproject.toml as a tree of links under ``build/``. That tree is made at install time: a module,
package or data file added later is missing from it until the install runs again. These tests skip
unless ``ampacity`` is installed from this checkout.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REINSTALL = "run pip install -e '.[dev]' --config-settings editable_mode=strict again"


def _package_dir() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    folders: dict[str, str] = project["tool"]["setuptools"]["package-dir"]
    return folders


def _package_data() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data: dict[str, list[str]] = project["tool"]["setuptools"].get("package-data", {})
    return data


def _installed_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} not found: {REINSTALL}"
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module", autouse=True)
def _installed_from_this_checkout() -> None:
    try:
        init = _installed_folder("ampacity") / "__init__.py"
    except (AssertionError, ModuleNotFoundError):
        pytest.skip("ampacity is not installed")
    if not init.resolve().is_relative_to(ROOT):
        pytest.skip("ampacity is installed, but not in editable mode from this checkout")


def test_every_module_and_data_file_is_installed() -> None:
    data = _package_data()
    missing = []
    for package, folder in sorted(_package_dir().items()):
        installed = _installed_folder(package)
        source = ROOT / folder
        files = list(source.glob("*.py"))
        for pattern in data.get(package, []):
            files += source.glob(pattern)
        for file in files:
            relative = file.relative_to(source)
            if not file.name.startswith(".") and not (installed / relative).exists():
                missing.append(f"{folder}/{relative.as_posix()}")
    assert not missing, f"not in the installed package, {REINSTALL}: {missing}"


def test_static_analysis_follows_an_import_across_folders() -> None:
    """What an editor's go-to-definition does: an import from server/ lands in drivers/."""
    jedi = pytest.importorskip("jedi")
    code = "from ampacity.drivers.base import Driver\n"
    script = jedi.Script(code, path=ROOT / "server" / "example.py", project=jedi.Project(ROOT))
    found = script.goto(1, code.index("Driver"), follow_imports=True)
    paths = [Path(d.module_path).resolve() for d in found if d.module_path]
    assert ROOT / "drivers" / "base.py" in paths, (
        f"go-to-definition found {paths}: install with editable_mode=strict"
    )
