"""YAML with a source map: every value and key keeps the line and column it came from.

The C-accelerated ruamel.yaml composer gives us a node tree with marks; we
build plain Python data from it ourselves, so duplicate keys are all reported
(not just the first) and every later error can be pointed back at the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.errors import Diagnostic

Path = tuple[str | int, ...]

_yaml = YAML(typ="safe")
# libyaml (the C parser) is ~6x faster but stricter than YAML 1.2 in places
# (``{url: https://x}`` in flow style); the pure parser is the arbiter.
_yaml_pure = YAML(typ="safe", pure=True)
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


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
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
                key = _constructor.construct_object(key_node)
                if not isinstance(key, str | int | bool | float) and key is not None:
                    key = str(key)
                if key in first_seen:
                    line, col = _pos(key_node)
                    self.diagnostics.append(
                        Diagnostic(
                            self.smap.file,
                            line,
                            col,
                            format_path((*path, str(key))),
                            f"duplicate key '{key}'",
                            f"first defined at line {first_seen[key]}; remove one of them",
                        )
                    )
                    continue
                first_seen[key] = key_node.start_mark.line + 1
                child = (*path, key if isinstance(key, str) else str(key))
                self.smap.keys[child] = _pos(key_node)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return _constructor.construct_object(node)

    def _merge(self, out: dict[Any, Any], node: Node, path: Path) -> None:
        nodes = node.value if isinstance(node, SequenceNode) else [node]
        for item in nodes:
            if isinstance(item, MappingNode):
                merged = self.build(item, path)
                for key, value in merged.items():
                    out.setdefault(key, value)


def parse(text: bytes | str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """Parse one YAML document. Returns data (``None`` when unreadable), its source map and diagnostics."""
    builder = _Builder(file)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return (
                None,
                builder.smap,
                [
                    Diagnostic(
                        file, 0, 0, "", f"not UTF-8 text: {exc.reason}", "save the file as UTF-8"
                    )
                ],
            )
    try:
        try:
            node = _yaml.compose(text)
        except YAMLError:
            node = _yaml_pure.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "check indentation, quoting and that every ':' is followed by a space"
        if "found character '\\t'" in problem:
            hint = "YAML forbids tabs for indentation; use spaces"
        elif "more than one document" in problem or "expected a single document" in problem:
            hint = "one YAML document per file"
        return (
            None,
            builder.smap,
            [Diagnostic(file, line, col, "", f"YAML syntax error: {problem}", hint)],
        )
    except YAMLError as exc:
        return (
            None,
            builder.smap,
            [Diagnostic(file, 1, 1, "", f"YAML error: {exc}", "check the file's syntax")],
        )
    except (ValueError, RecursionError) as exc:
        return (
            None,
            builder.smap,
            [Diagnostic(file, 1, 1, "", f"YAML error: {exc}", "check the file's syntax")],
        )
    if node is None:
        return (
            None,
            builder.smap,
            [
                Diagnostic(
                    file, 1, 1, "", "the file is empty", "see examples/minimal for a starting point"
                )
            ],
        )
    try:
        data = builder.build(node, ())
    except (YAMLError, ValueError, TypeError, OverflowError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return (
            None,
            builder.smap,
            [Diagnostic(file, line, col, "", f"YAML error: {exc}", "check the value's syntax")],
        )
    return data, builder.smap, builder.diagnostics
