"""YAML with a source map: every value and key keeps the line and column it came from.

The C-accelerated ruamel.yaml composer gives us a node tree with marks; we
build plain Python data from it ourselves, so duplicate keys are all reported
(not just the first) and every later error can be pointed back at the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from _ruamel_yaml import CParser
except ImportError:  # the C extension is optional; the pure parser is the arbiter anyway
    CParser = None

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


class _Fallback(Exception):
    """The fast path met something only the full parser handles (or reports) well."""


_EXPLICIT = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
}


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


class _EventBuilder:
    """Builds data straight from libyaml's events: no nodes, no per-scalar resolver."""

    def __init__(self, parser: Any, builder: _Builder):
        self.parser = parser
        self.builder = builder
        self.smap = builder.smap
        self.anchors: dict[str, Any] = {}

    def value(self, event: Event, path: Path) -> Any:
        mark = event.start_mark
        self.smap.values[path] = (mark.line + 1, mark.column + 1)
        cls = type(event)
        if cls is ScalarEvent:
            if event.tag and not event.implicit[0]:  # type: ignore[attr-defined]
                convert = _EXPLICIT.get(event.tag)  # type: ignore[attr-defined]
                if convert is None:
                    raise _Fallback
                try:
                    out: Any = convert(event.value)  # type: ignore[attr-defined]
                except ValueError as exc:
                    raise _Fallback from exc
            elif event.style:  # type: ignore[attr-defined]
                out = event.value  # type: ignore[attr-defined]
            else:
                out = resolve_plain(event.value)  # type: ignore[attr-defined]
        elif cls is MappingStartEvent:
            out = self.mapping(path)
        elif cls is SequenceStartEvent:
            out = []
            get = self.parser.get_event
            while True:
                item = get()
                if type(item) is SequenceEndEvent:
                    break
                out.append(self.value(item, (*path, len(out))))
        elif cls is AliasEvent:
            anchor = event.anchor  # type: ignore[attr-defined]
            if anchor not in self.anchors:
                raise _Fallback
            return self.anchors[anchor]
        else:
            raise _Fallback
        anchor = getattr(event, "anchor", None)
        if anchor:
            self.anchors[anchor] = out
        return out

    def mapping(self, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_seen: dict[Any, int] = {}
        get = self.parser.get_event
        file = self.smap.file
        while True:
            key_event = get()
            if type(key_event) is MappingEndEvent:
                return out
            if type(key_event) is not ScalarEvent or key_event.value == "<<":
                raise _Fallback
            key = key_event.value if key_event.style else resolve_plain(key_event.value)
            if not isinstance(key, str):
                key = str(key)
            mark = key_event.start_mark
            line, col = mark.line + 1, mark.column + 1
            if key in first_seen:
                self.builder.diagnostics.append(
                    duplicate_key(file, line, col, (*path, key), first_seen[key])
                )
                self.value(get(), (*path, key, "\0dup"))
                continue
            first_seen[key] = line
            child = (*path, key)
            self.smap.keys[child] = (line, col)
            out[key] = self.value(get(), child)


def _parse_fast(text: str, builder: _Builder) -> Any:
    parser = CParser(text)
    parser.get_event()  # stream start
    event = parser.get_event()
    if type(event) is StreamEndEvent:
        return None
    data = _EventBuilder(parser, builder).value(parser.get_event(), ())
    if (
        type(parser.get_event()) is not DocumentEndEvent
        or type(parser.get_event()) is not StreamEndEvent
    ):
        raise _Fallback
    return data


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
    if CParser is not None:
        fast = _Builder(file)
        try:
            data = _parse_fast(text, fast)
        except (_Fallback, YAMLError, ValueError, RecursionError):
            pass
        else:
            if data is None:
                return (
                    None,
                    fast.smap,
                    [
                        Diagnostic(
                            file,
                            1,
                            1,
                            "",
                            "the file is empty",
                            "see examples/minimal for a starting point",
                        )
                    ],
                )
            return data, fast.smap, fast.diagnostics
    try:
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
