"""YAML with a source map: every value and key keeps the line and column it came from.

The C-accelerated ruamel.yaml composer gives us a node tree with marks; we
build plain Python data from it ourselves, so duplicate keys are all reported
(not just the first) and every later error can be pointed back at the text.

A fleet file is untrusted input, so parsing is bounded (:class:`Limits`): the
text's size is checked before parsing, and nodes and nesting depth are counted
while the document is composed, an alias counting as a copy of what it names.
A billion-laughs bomb stops at the alias that would cross the node limit, and
the cost of everything after parsing (validation, rules) stays linear in the
text. Each limit is a located error with a hint naming its variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
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
from ruamel.yaml.reader import ReaderError

try:
    from _ruamel_yaml import CParser
except ImportError:  # the C extension is optional; the pure parser is the arbiter anyway
    CParser = None

from fleet.errors import Diagnostic
from fleet.source import DEFAULT_MAX_FILE_BYTES, MAX_FILE_BYTES_ENV, env_limit

Path = tuple[str | int, ...]

_yaml = YAML(typ="safe")
_constructor = SafeConstructor(loader=_yaml)

MAX_NODES_ENV = "FLEET_MAX_YAML_NODES"
MAX_DEPTH_ENV = "FLEET_MAX_YAML_DEPTH"
DEFAULT_MAX_NODES = 100_000
DEFAULT_MAX_DEPTH = 64


@dataclass(frozen=True)
class Limits:
    """How much YAML one file may hold. Defaults are far above any real fleet file."""

    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_nodes: int = DEFAULT_MAX_NODES
    """Scalars, sequences and mappings (keys too); an alias counts as the nodes it names."""
    max_depth: int = DEFAULT_MAX_DEPTH
    """Nesting, the document's root being depth 1; through aliases too."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """``FLEET_MAX_FILE_BYTES``, ``FLEET_MAX_YAML_NODES``, ``FLEET_MAX_YAML_DEPTH``."""
        return cls(
            max_bytes=env_limit(MAX_FILE_BYTES_ENV, DEFAULT_MAX_FILE_BYTES, environ),
            max_nodes=env_limit(MAX_NODES_ENV, DEFAULT_MAX_NODES, environ),
            max_depth=env_limit(MAX_DEPTH_ENV, DEFAULT_MAX_DEPTH, environ),
        )


class _LimitExceeded(Exception):
    """A limit was crossed; carries the located diagnostic. Never falls back to another parser."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Budget:
    """Counts nodes and tracks depth, aliases included, for one document."""

    def __init__(self, file: str, limits: Limits):
        self.file = file
        self.limits = limits
        self.nodes = 0
        self.deepest = 0
        self.sizes: dict[Any, tuple[int, int] | None] = {}  # anchor → (nodes, height); None: open

    def _fail(self, mark: Any, message: str, hint: str) -> _LimitExceeded:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return _LimitExceeded(Diagnostic(self.file, line, col, "", message, hint))

    def node(self, depth: int, mark: Any) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self._fail(
                mark,
                f"more than {self.limits.max_nodes:,} YAML nodes in one file",
                f"a fleet file holds far fewer; {MAX_NODES_ENV} raises the limit",
            )
        if depth > self.limits.max_depth:
            raise self._fail(
                mark,
                f"nested more than {self.limits.max_depth} levels deep",
                f"flatten the structure; {MAX_DEPTH_ENV} raises the limit",
            )
        self.deepest = max(self.deepest, depth)

    def open_anchor(self, anchor: Any) -> tuple[int, int]:
        """Start measuring what ``anchor`` holds; pass the result to :meth:`close_anchor`."""
        self.sizes[anchor] = None
        before = (self.nodes, self.deepest)
        self.deepest = 0
        return before

    def close_anchor(self, anchor: Any, depth: int, before: tuple[int, int]) -> None:
        self.sizes[anchor] = (self.nodes - before[0], max(self.deepest - depth, 0))
        self.deepest = max(before[1], self.deepest)

    def alias(self, anchor: Any, depth: int, mark: Any) -> None:
        """An alias costs what its anchor holds, and reaches as deep as it does from here."""
        if anchor not in self.sizes:
            return  # undefined: the parser reports it
        size = self.sizes[anchor]
        if size is None:
            raise self._fail(
                mark,
                f"alias '*{anchor}' refers to a node that contains it",
                "YAML data cannot contain itself; write the value out",
            )
        nodes, height = size
        self.nodes += max(nodes, 1)
        if self.nodes > self.limits.max_nodes:
            raise self._fail(
                mark,
                f"alias '*{anchor}' expands the file past {self.limits.max_nodes:,} YAML nodes",
                "an alias counts as a copy of what it names, so a few lines can expand to billions; "
                f"write the data out, or raise {MAX_NODES_ENV}",
            )
        if depth + height > self.limits.max_depth:
            raise self._fail(
                mark,
                f"alias '*{anchor}' nests the data more than {self.limits.max_depth} levels deep",
                f"flatten the structure; {MAX_DEPTH_ENV} raises the limit",
            )
        self.deepest = max(self.deepest, depth + height)


class _LimitedComposer(Composer):
    """ruamel's composer, counting every node and alias against a :class:`_Budget` as it goes."""

    def __init__(self, loader: Any = None):
        super().__init__(loader)
        self.warn_double_anchors = False  # a redefined anchor is valid YAML
        self.budget: _Budget = loader.fleet_budget
        self.level = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if type(event) is AliasEvent:
            self.budget.alias(event.anchor, self.level + 1, event.start_mark)
            return super().compose_node(parent, index)
        self.level += 1
        self.budget.node(self.level, event.start_mark)
        anchor = event.anchor
        before = self.budget.open_anchor(anchor) if anchor is not None else (0, 0)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.budget.close_anchor(anchor, self.level, before)
        self.level -= 1
        return node


def _pure_yaml(budget: _Budget) -> YAML:
    # libyaml (the C parser) is ~6x faster but stricter than YAML 1.2 in places
    # (``{url: https://x}`` in flow style); the pure parser is the arbiter.
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _LimitedComposer
    yaml.fleet_budget = budget  # type: ignore[attr-defined]
    return yaml


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

    def __init__(self, parser: Any, builder: _Builder, budget: _Budget):
        self.parser = parser
        self.builder = builder
        self.budget = budget
        self.smap = builder.smap
        self.anchors: dict[str, Any] = {}

    def value(self, event: Event, path: Path, depth: int = 1) -> Any:
        mark = event.start_mark
        self.smap.values[path] = (mark.line + 1, mark.column + 1)
        cls = type(event)
        if cls is AliasEvent:
            anchor = event.anchor  # type: ignore[attr-defined]
            if anchor not in self.anchors:
                raise _Fallback
            self.budget.alias(anchor, depth, mark)
            return self.anchors[anchor]
        self.budget.node(depth, mark)
        anchor = getattr(event, "anchor", None)
        before = self.budget.open_anchor(anchor) if anchor else (0, 0)
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
            out = self.mapping(path, depth)
        elif cls is SequenceStartEvent:
            out = []
            get = self.parser.get_event
            while True:
                item = get()
                if type(item) is SequenceEndEvent:
                    break
                out.append(self.value(item, (*path, len(out)), depth + 1))
        else:
            raise _Fallback
        if anchor:
            self.budget.close_anchor(anchor, depth, before)
            self.anchors[anchor] = out
        return out

    def mapping(self, path: Path, depth: int) -> dict[Any, Any]:
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
            self.budget.node(depth + 1, key_event.start_mark)
            key = key_event.value if key_event.style else resolve_plain(key_event.value)
            if not isinstance(key, str):
                key = str(key)
            mark = key_event.start_mark
            line, col = mark.line + 1, mark.column + 1
            if key in first_seen:
                self.builder.diagnostics.append(
                    duplicate_key(file, line, col, (*path, key), first_seen[key])
                )
                self.value(get(), (*path, key, "\0dup"), depth + 1)
                continue
            first_seen[key] = line
            child = (*path, key)
            self.smap.keys[child] = (line, col)
            out[key] = self.value(get(), child, depth + 1)


def _parse_fast(text: str, builder: _Builder, budget: _Budget) -> Any:
    parser = CParser(text)
    parser.get_event()  # stream start
    event = parser.get_event()
    if type(event) is StreamEndEvent:
        return None
    data = _EventBuilder(parser, builder, budget).value(parser.get_event(), ())
    if (
        type(parser.get_event()) is not DocumentEndEvent
        or type(parser.get_event()) is not StreamEndEvent
    ):
        raise _Fallback
    return data


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` of ``text``."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _not_utf8(data: bytes, file: str, exc: UnicodeDecodeError) -> Diagnostic:
    before = data[: exc.start]
    line_start = before.rfind(b"\n") + 1
    col = len(before[line_start:].decode("utf-8", "replace")) + 1
    return Diagnostic(
        file,
        before.count(b"\n") + 1,
        col,
        "",
        f"not UTF-8 text: byte 0x{data[exc.start]:02x} ({exc.reason})",
        "save the file as UTF-8",
    )


def _unprintable(text: str, file: str, exc: ReaderError) -> Diagnostic:
    index = exc.position if isinstance(exc.position, int) else 0
    line, col = _position(text, min(index, len(text)))
    char = exc.character if isinstance(exc.character, int) else 0
    what = "a NUL byte" if char == 0 else f"the control character U+{char:04X}"
    return Diagnostic(
        file,
        line,
        col,
        "",
        f"{what}, which YAML does not allow",
        "remove it: fleet files are plain UTF-8 text",
    )


_CONSTRUCTS = {
    "while parsing a flow sequence": ("the flow sequence '['", "is never closed: add ']'"),
    "while parsing a flow mapping": ("the flow mapping '{'", "is never closed: add '}'"),
    "while scanning a quoted scalar": ("the quoted string", "is never closed: add the quote"),
    "while parsing a block mapping": ("the mapping", "does not continue here: check indentation"),
    "while parsing a block collection": ("the list", "does not continue here: check indentation"),
}


def _syntax_error(exc: MarkedYAMLError, file: str) -> Diagnostic:
    """Where the parser noticed, and (when it is elsewhere) where the construct it was in began."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    hint = "check indentation, quoting and that every ':' is followed by a space"
    related: tuple[str, ...] = ()
    began = exc.context_mark if exc.problem_mark is not None else None
    if "found character '\\t'" in problem:
        hint = "YAML forbids tabs for indentation; use spaces"
    elif "more than one document" in problem or "expected a single document" in problem:
        hint = "one YAML document per file"
    elif began is not None and exc.context and (began.line, began.column) != (line - 1, col - 1):
        where = f"line {began.line + 1}, column {began.column + 1}"
        what, end = _CONSTRUCTS.get(exc.context, (exc.context.removeprefix("while "), ""))
        hint = (
            f"{what} that began at {where} {end}".rstrip() if end else f"{what}, begun at {where}"
        )
        related = (f"{file}:{began.line + 1}:{began.column + 1}",)
    return Diagnostic(file, line, col, "", f"YAML syntax error: {problem}", hint, related=related)


def parse(
    text: bytes | str, file: str, limits: Limits | None = None
) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """Parse one YAML document. Returns data (``None`` when unreadable), its source map and diagnostics.

    ``limits`` default to :meth:`Limits.from_env`; crossing one is a located diagnostic.
    """
    limits = limits or Limits.from_env()
    builder = _Builder(file)
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        return (
            None,
            builder.smap,
            [
                Diagnostic(
                    file,
                    0,
                    0,
                    "",
                    f"file is {size:,} bytes, over the limit of {limits.max_bytes:,} for a fleet file",
                    f"fleet files are small text; {MAX_FILE_BYTES_ENV} raises the limit",
                )
            ],
        )
    if isinstance(text, bytes):
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, builder.smap, [_not_utf8(text, file, exc)]
        text = decoded
    if CParser is not None:
        fast = _Builder(file)
        try:
            data = _parse_fast(text, fast, _Budget(file, limits))
        except _LimitExceeded as exc:
            return None, fast.smap, [exc.diagnostic]
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
        node = _pure_yaml(_Budget(file, limits)).compose(text)
    except _LimitExceeded as exc:
        return None, builder.smap, [exc.diagnostic]
    except ReaderError as exc:
        return None, builder.smap, [_unprintable(text, file, exc)]
    except MarkedYAMLError as exc:
        return None, builder.smap, [_syntax_error(exc, file)]
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
