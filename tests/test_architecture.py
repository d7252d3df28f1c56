"""The dependency rules of ARCHITECTURE.md §2, checked by reading every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ALLOWED: dict[str, set[str]] = {
    "assets": set(),
    "nodesets": {"assets"},
    "drivers": {"assets"},
    "control": {"assets"},
    "storage": {"assets"},
    "sim": {"assets", "drivers"},
    "scenarios": {"assets", "control", "sim"},
}
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "control": {"asyncua", "pymodbus"},
    "assets": {"asyncua", "pymodbus", "sqlalchemy"},
    "storage": {"asyncua", "pymodbus"},
    "drivers": {"asyncua"},
}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Absolute module names imported by a file, with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parts = package.split(".")
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # "from ampacity import server" imports the package ampacity.server
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _package_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)[:-1]  # a module's (and an __init__'s) package is its folder
    return ".".join(["ampacity", *parts])


def _violations(folder: str) -> list[str]:
    problems = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for line, module in _imports(path, _package_of(path)):
            top = module.split(".")[0]
            if top in FORBIDDEN_THIRD_PARTY.get(folder, set()):
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
            if top != "ampacity" or module == "ampacity":
                continue
            part = module.split(".")[1]
            if part.startswith("__"):
                continue
            if part != folder and part not in ALLOWED[folder]:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    return problems


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_what_the_rules_allow(folder: str) -> None:
    assert _violations(folder) == []


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from ampacity.server import app\nfrom .. import server\nimport pymodbus\n")
    imports = _imports(bad, "ampacity.control")
    assert (1, "ampacity.server") in imports
    assert (2, "ampacity.server") in imports
    assert (3, "pymodbus") in imports


def test_every_package_is_listed_for_installation() -> None:
    """A package folder missing from pyproject.toml works in a checkout but not when installed."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    folders = setuptools["package-dir"]
    assert listed == set(folders)
    found = set()
    for folder in ALLOWED | {"server": set()}:
        for init in (ROOT / folder).rglob("__init__.py"):
            if "node_modules" in init.parts:
                continue
            relative = init.parent.relative_to(ROOT).as_posix()
            found.add("ampacity." + relative.replace("/", "."))
            assert folders["ampacity." + relative.replace("/", ".")] == relative
    assert found <= listed, sorted(found - listed)
