"""Scenario files with the line of every value, for located error messages.

The same ``<file>:<line>: <field>: <message>`` form as the site loader's (``server/config.py``),
kept here because scenarios import no drivers or server code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


class ScenarioError(ValueError):
    """A scenario file is invalid; ``errors`` holds one located line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_with_lines(path: Path) -> tuple[Any, dict[Location, int]]:
    """The file's data and the 1-based line of every mapping key and sequence item.

    Raises:
        ScenarioError: the file cannot be read or is not YAML (located).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path.name}:1: cannot read: {exc}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 1
        raise ScenarioError([f"{path.name}:{line}: not valid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{path.name}:1: not valid YAML: {exc}"]) from None
    lines: dict[Location, int] = {}
    if root is not None:
        _index(root, (), lines)
    return data, lines


def _index(node: yaml.Node, where: Location, lines: dict[Location, int]) -> None:
    lines.setdefault(where, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*where, str(key.value))
            lines[here] = key.start_mark.line + 1
            _index(value, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*where, i), lines)


def _line(lines: dict[Location, int], location: Location) -> int:
    """The line of the deepest part of ``location`` the file has."""
    for end in range(len(location), -1, -1):
        found = lines.get(location[:end])
        if found is not None:
            return found
    return 1


def located(
    file_name: str, lines: dict[Location, int], errors: Iterable[Mapping[str, Any]]
) -> list[str]:
    """``<file>:<line>: <field path>: <message>`` for pydantic's errors."""
    out = []
    for err in errors:
        location = tuple(p for p in err["loc"] if not isinstance(p, str) or p)
        path = ".".join(str(p) for p in location) or "(top level)"
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{file_name}:{_line(lines, location)}: {path}: {message}")
    return out
