"""The source map: where each value and key of a YAML document came from.

Data is built from the parser's output ourselves, not by ruamel's
constructor, so every value and mapping key keeps its line and column, all
duplicate keys are reported (not just the first), and plain scalars resolve
by the YAML 1.2 core schema. This module holds the map, the path notation
diagnostics use (``agent.tools[2]``), scalar resolution and the builder over
the pure parser's node tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.errors import Diagnostic

Path = tuple[str | int, ...]

_yaml = YAML(typ="safe")
_constructor = SafeConstructor(loader=_yaml)


@dataclass
class SourceMap:
    """Positions (1-based line, column) of values and mapping keys, by data path."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The closest known position of ``path``: itself, else its nearest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))


def format_path(path: Path) -> str:
    """``("agent", "tools", 2)`` → ``agent.tools[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if not text.replace("_", "").replace("-", "").isalnum():
                text = f'"{text}"'
            out += ("." if out else "") + text
    return out


_INT = re.compile(r"[-+]?[0-9][0-9_]*")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?")
_CORE = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


def resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema for a plain scalar. Dates stay strings (pydantic parses them)."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    first = text[0]
    if first.isdigit() or first in "-+.":
        if _INT.fullmatch(text):
            return int(text.replace("_", ""))
        if text.startswith(("0o", "0x")):
            try:
                return int(text, 0)
            except ValueError:
                return text
        if _FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
            return float(text.replace("_", ""))
        lowered = text.lstrip("+-").lower()
        if lowered in (".inf",):
            return float("-inf") if first == "-" else float("inf")
        if lowered == ".nan" and first == ".":
            return float("nan")
    return text


def duplicate_key(file: str, line: int, col: int, path: Path, first_line: int) -> Diagnostic:
    """Both YAML paths (libyaml events and the pure parser) report a repeated key alike."""
    return Diagnostic(
        file,
        line,
        col,
        format_path(path),
        f"duplicate key '{path[-1]}'",
        f"first defined at line {first_line}; remove one of them",
    )


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class Builder:
    """Data and its source map from the pure parser's node tree."""

    def __init__(self, file: str):
        self.smap = SourceMap(file)
        self.diagnostics: list[Diagnostic] = []

    def build(self, node: Node, path: Path) -> Any:
        self.smap.values[path] = _pos(node)
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            first_seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._merge(out, value_node, path)
                    continue
                if not isinstance(key_node, ScalarNode):
                    line, col = _pos(key_node)
                    self.diagnostics.append(
                        Diagnostic(
                            self.smap.file,
                            line,
                            col,
                            format_path(path),
                            "a mapping key must be a plain scalar",
                            "quote the key",
                        )
                    )
                    continue
                key = (
                    resolve_plain(key_node.value)
                    if not key_node.style and key_node.tag in _CORE
                    else _constructor.construct_object(key_node)
                )
                if not isinstance(key, str | int | bool | float) and key is not None:
                    key = str(key)
                if key in first_seen:
                    line, col = _pos(key_node)
                    self.diagnostics.append(
                        duplicate_key(self.smap.file, line, col, (*path, str(key)), first_seen[key])
                    )
                    continue
                first_seen[key] = key_node.start_mark.line + 1
                child = (*path, key if isinstance(key, str) else str(key))
                self.smap.keys[child] = _pos(key_node)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode) and not node.style and node.tag in _CORE:
            return resolve_plain(node.value)
        return _constructor.construct_object(node)

    def _merge(self, out: dict[Any, Any], node: Node, path: Path) -> None:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        for item in nodes:
            if isinstance(item, MappingNode):
                merged = self.build(item, path)
                for key, value in merged.items():
                    out.setdefault(key, value)
