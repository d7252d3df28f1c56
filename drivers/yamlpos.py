"""YAML loading that remembers where every value stood, for located error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]
"""A path into the document: mapping keys and sequence indexes, e.g. ``("devices", 3, "port")``."""


class YamlSyntaxError(ValueError):
    """The file is not valid YAML; the message is ``<file>:<line>: <problem>``."""


def load_with_lines(path: Path) -> tuple[Any, dict[Location, int]]:
    """Parse a YAML file into plain Python data and a map from value paths to 1-based lines.

    Raises:
        YamlSyntaxError: the YAML does not parse.
        OSError: the file cannot be read.
    """
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise YamlSyntaxError(f"{path.name}:{line}: {exc.problem}") from exc
    lines: dict[Location, int] = {}
    if root is None:
        return None, lines
    _index(root, (), lines)
    data = yaml.safe_load(text)
    return data, lines


def _index(node: yaml.Node, path: Location, lines: dict[Location, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index(value_node, (*path, key), lines)
            # the key's own line is the more useful one for "unknown field" errors
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*path, index), lines)


def line_of(lines: dict[Location, int], path: Location) -> int:
    """The line of ``path``, or of its nearest ancestor that has one."""
    probe = tuple(path)
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe[:-1]
    return lines.get((), 1)
