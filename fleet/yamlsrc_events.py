"""The fast path: data built straight from libyaml's events, when the C extension is there.

libyaml parses about six times faster than the pure parser, and building data
from its events skips the node tree and the per-scalar resolver. Anything this
path does not handle as the pure parser would (merge keys, explicit tags
beyond str/int/float, an alias to an unknown anchor, a syntax error) raises
:class:`Fallback`, and :func:`fleet.yamlsrc.parse` parses again the pure way,
which is the arbiter of what the text means. Limits are counted alike.
"""

from __future__ import annotations

from typing import Any

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

from fleet.yamlsrc_limits import Budget
from fleet.yamlsrc_map import Builder, Path, duplicate_key, resolve_plain

try:
    from _ruamel_yaml import CParser
except ImportError:  # the C extension is optional; the pure parser is the arbiter anyway
    CParser = None


class Fallback(Exception):
    """The fast path met something only the full parser handles (or reports) well."""


_EXPLICIT = {
    "tag:yaml.org,2002:str": str,
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
}


class _EventBuilder:
    """Builds data straight from libyaml's events: no nodes, no per-scalar resolver."""

    def __init__(self, parser: Any, builder: Builder, budget: Budget):
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
                raise Fallback
            self.budget.alias(anchor, depth, mark)
            return self.anchors[anchor]
        self.budget.node(depth, mark)
        anchor = getattr(event, "anchor", None)
        before = self.budget.open_anchor(anchor) if anchor else (0, 0)
        if cls is ScalarEvent:
            if event.tag and not event.implicit[0]:  # type: ignore[attr-defined]
                convert = _EXPLICIT.get(event.tag)  # type: ignore[attr-defined]
                if convert is None:
                    raise Fallback
                try:
                    out: Any = convert(event.value)  # type: ignore[attr-defined]
                except ValueError as exc:
                    raise Fallback from exc
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
            raise Fallback
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
                raise Fallback
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


def parse_fast(text: str, builder: Builder, budget: Budget) -> Any:
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
        raise Fallback
    return data
