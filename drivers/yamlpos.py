"""YAML loading that remembers where every value stood, for located error messages, and that
refuses what would crash or exhaust the loader: text that is not UTF-8, NUL bytes, oversized
files, nesting deeper than ``MAX_DEPTH``, aliases that expand past ``MAX_VALUES`` values
(a "billion laughs" file), and mappings or sequences used as keys."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]
"""A path into the document: mapping keys and sequence indexes, e.g. ``("devices", 3, "port")``."""

MAX_BYTES = 4 * 1024 * 1024
"""The largest file read, bytes (a site file with hundreds of devices is far below)."""
MAX_DEPTH = 64
"""The deepest nesting of mappings and sequences."""
MAX_VALUES = 200_000
"""The most values a document may have, aliases expanded."""

SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader on libyaml where PyYAML has it (several times faster: every shipped
profile is read at start-up), else the pure-Python one; both give the same data and marks."""

_BOMS = {
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
}


class YamlSyntaxError(ValueError):
    """The file is not valid YAML; the message is ``<file>:<line>: <problem>``."""


def load_with_lines(path: Path) -> tuple[Any, dict[Location, int]]:
    """Parse a YAML file into plain Python data and a map from value paths to 1-based lines.

    Raises:
        YamlSyntaxError: the file is not UTF-8 YAML within the limits above (located).
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    text = decode_text(raw, path.name)
    loader = SAFE_LOADER(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise YamlSyntaxError(_syntax_message(exc, path.name)) from exc
        except yaml.YAMLError as exc:
            raise YamlSyntaxError(f"{path.name}:1: not valid YAML: {exc}") from exc
        except RecursionError as exc:
            raise YamlSyntaxError(
                f"{path.name}:1: nested too deeply (at most {MAX_DEPTH})"
            ) from exc
        lines: dict[Location, int] = {}
        if root is None:
            return None, lines
        _Indexer(path.name, lines).index(root, ())
        try:  # the checked node tree becomes data: the text is parsed once
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:  # a constructor error (e.g. an unhashable key) - located
            raise YamlSyntaxError(_syntax_message(exc, path.name)) from exc
        return data, lines
    finally:
        loader.dispose()


def decode_text(raw: bytes, name: str) -> str:
    """The file's text, or a located error saying what it is instead.

    Raises:
        YamlSyntaxError: too large, UTF-16/32, binary (NUL bytes) or not UTF-8.
    """
    if len(raw) > MAX_BYTES:
        raise YamlSyntaxError(f"{name}:1: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    for bom, encoding in _BOMS.items():
        if raw.startswith(bom):
            raise YamlSyntaxError(f"{name}:1: the file is {encoding} text; save it as UTF-8")
    raw = raw.removeprefix(codecs.BOM_UTF8)
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise YamlSyntaxError(f"{name}:{line}: a NUL byte: this is not a text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        raise YamlSyntaxError(
            f"{name}:{line}: not UTF-8 text (byte 0x{byte:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None


def _syntax_message(exc: yaml.YAMLError, name: str) -> str:
    """``<file>:<line>: <problem>``, at the line where the construct that failed began."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{name}:1: not valid YAML: {exc}"
    mark = exc.context_mark or exc.problem_mark
    line = mark.line + 1 if mark is not None else 1
    problem = exc.problem or "not valid YAML"
    context = f" ({exc.context})" if exc.context else ""
    if exc.context_mark and exc.problem_mark and exc.problem_mark.line != exc.context_mark.line:
        problem += f", noticed at line {exc.problem_mark.line + 1}"
    return f"{name}:{line}: {problem}{context}"


class _Indexer:
    """Walks the node graph once, recording lines and enforcing the limits."""

    def __init__(self, name: str, lines: dict[Location, int]) -> None:
        self.name = name
        self.lines = lines
        self.values = 0

    def index(self, node: yaml.Node, path: Location) -> None:
        self.values += 1
        line = node.start_mark.line + 1
        if self.values > MAX_VALUES:
            raise YamlSyntaxError(
                f"{self.name}:{line}: more than {MAX_VALUES} values (aliases expanded)"
            )
        if len(path) > MAX_DEPTH:
            raise YamlSyntaxError(f"{self.name}:{line}: nested deeper than {MAX_DEPTH} levels")
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlSyntaxError(
                        f"{self.name}:{key_line}: a mapping key must be a name, not a "
                        f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}"
                    )
                key = key_node.value
                self.index(value_node, (*path, key))
                # the key's own line is the more useful one for "unknown field" errors
                self.lines[(*path, key)] = key_line
        elif isinstance(node, yaml.SequenceNode):
            for number, item in enumerate(node.value):
                self.index(item, (*path, number))


def line_of(lines: dict[Location, int], path: Location) -> int:
    """The line of ``path``, or of its nearest ancestor that has one."""
    probe = tuple(path)
    while probe:
        if probe in lines:
            return lines[probe]
        probe = probe[:-1]
    return lines.get((), 1)
