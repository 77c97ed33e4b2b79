"""Rewrite a loop file's pins in place: only the pin scalars change, every other byte stays.

A ruamel round-trip (load, then dump) re-flows what people wrote: ``{ tools: [read] }``
loses its spaces, a long description wraps, comments shift column. A promotion is
reviewed as a pull request, so its diff must be the pins and nothing else. We therefore
let ruamel's composer find each pin's node and its exact span in the text, and splice the
new value into that span: comments, key order, flow or block style, quoting and
indentation are kept byte for byte. The result is parsed again and compared with the
wanted data (pins changed, everything else equal) before anyone sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.errors import Diagnostic
from fleet.lifecycle import LifecycleError
from fleet.lifecycle.pins import (
    PIN_FIELDS,
    PinChange,
    PinValue,
    member_path,
    pins_of,
    split_label,
    without_pins,
)
from fleet.yamlsrc import format_path, parse, resolve_plain

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@+-]*")
Splice = tuple[int, int, str]  # replace text[start:end] with the string


def _scalar(value: str, style: str | None = None) -> str:
    """A pin as YAML: plain when it can be, in the quoting it replaces when that was quoted."""
    if style == "'" and "'" not in value:
        return f"'{value}'"
    # Plain only when YAML reads it back as this string: not 1.5, true, null.
    if style == '"' or not _PLAIN.fullmatch(value) or resolve_plain(value) != value:
        return json.dumps(value)
    return value


def _flow(values: tuple[str, ...], spaced: bool = False) -> str:
    inner = ", ".join(_scalar(v) for v in values)
    return f"[ {inner} ]" if spaced and inner else f"[{inner}]"


def _render(value: PinValue) -> str:
    return _flow(value) if isinstance(value, tuple) else _scalar(value)


def _end(node: Node) -> int:
    """Where a node's own text ends (a block collection's end mark lies past its comments)."""
    if isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _end(last[1] if isinstance(node, MappingNode) else last)
    return int(node.end_mark.index)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """The index just past the newline that ends the line holding ``index``."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _member(root: Node, path: tuple[str | int, ...]) -> MappingNode:
    node = root
    for part in path:
        if isinstance(part, int):
            assert isinstance(node, SequenceNode)
            node = node.value[part]
        else:
            assert isinstance(node, MappingNode)
            node = next(v for k, v in node.value if k.value == part)
    assert isinstance(node, MappingNode)
    return node


def _replace(text: str, key: Node, node: Node, value: PinValue) -> list[Splice]:
    if isinstance(value, str) or isinstance(node, ScalarNode):
        if isinstance(value, str) and isinstance(node, ScalarNode):
            return [(node.start_mark.index, node.end_mark.index, _scalar(value, node.style))]
        return [(key.end_mark.index, _end(node), ": " + _render(value))]
    assert isinstance(node, SequenceNode)
    items = node.value
    if node.flow_style or not items:
        spaced = text[node.start_mark.index + 1 : node.start_mark.index + 2] == " "
        return [(node.start_mark.index, node.end_mark.index, _flow(value, spaced))]
    if len(items) == len(value) and all(isinstance(i, ScalarNode) for i in items):
        return [
            (i.start_mark.index, i.end_mark.index, _scalar(v, i.style))
            for i, v in zip(items, value, strict=True)
        ]
    if not value:
        return [(key.end_mark.index, _end(node), ": []")]
    # A block list of another length: one "- item" line per skill, as the first was indented.
    first = items[0].start_mark.index
    prefix = text[_line_start(text, first) : first]
    lines = [prefix + _scalar(v) for v in value]
    return [(_line_start(text, first), _end(node), "\n".join(lines))]


def _insert(text: str, mapping: MappingNode, name: str, value: PinValue) -> list[Splice]:
    """A pin the member did not write: after the pin before it in PIN_FIELDS order, or last."""
    keys = [k.value for k, _ in mapping.value]
    earlier = [k for k in PIN_FIELDS[: PIN_FIELDS.index(name)] if k in keys]
    anchor = keys.index(earlier[-1]) if earlier else len(keys) - 1
    key, val = mapping.value[anchor]
    entry = f"{name}: {_render(value)}"
    if mapping.flow_style:
        return [(_end(val), _end(val), f", {entry}")]
    indent = " " * key.start_mark.column
    at = _line_end(text, _end(val))
    newline = "" if text[at - 1 : at] == "\n" else "\n"
    return [(at, at, f"{newline}{indent}{entry}\n")]


def _remove(text: str, mapping: MappingNode, name: str) -> list[Splice]:
    pairs = mapping.value
    i = next(j for j, (k, _) in enumerate(pairs) if k.value == name)
    key, val = pairs[i]
    if mapping.flow_style:
        if i > 0:
            return [(_end(pairs[i - 1][1]), _end(val), "")]
        if len(pairs) > 1:
            return [(key.start_mark.index, pairs[1][0].start_mark.index, "")]
        return [(key.start_mark.index, _end(val), "")]
    return [(_line_start(text, key.start_mark.index), _line_end(text, _end(val)), "")]


def _failure(file: str, line: int, col: int, path: str, why: str) -> LifecycleError:
    return LifecycleError(
        Diagnostic(
            file,
            line,
            col,
            path,
            f"cannot rewrite the pins here without touching anything else: {why}",
            "change these pins by hand in one commit, then promote or roll back again",
        )
    )


def rewrite(text: str, raw: Any, plan: list[PinChange], file: str) -> str:
    """``text`` (a loop file whose parsed data is ``raw``) with ``plan`` applied to its pins."""
    try:
        root = YAML(typ="rt").compose(text)
    except YAMLError as exc:  # it parsed once already; a second parser disagreeing is ours
        raise _failure(file, 1, 1, "", str(exc).splitlines()[0]) from None
    splices: list[Splice] = []
    for change in plan:
        member, name = split_label(change.label)
        mapping = _member(root, member_path(raw, member))
        pair = next(((k, v) for k, v in mapping.value if k.value == name), None)
        if change.after is None:
            if pair is not None:
                splices += _remove(text, mapping, name)
        elif pair is None:
            splices += _insert(text, mapping, name, change.after)
        else:
            splices += _replace(text, pair[0], pair[1], change.after)
    # One pass over the text, spans in order: linear however many items a list has.
    pieces: list[str] = []
    done = 0
    for start, end, new in sorted(splices, key=lambda s: (s[0], s[1])):
        if start < done:
            mark = root.start_mark
            raise _failure(file, mark.line + 1, mark.column + 1, "agent", "two pins overlap")
        pieces += [text[done:start], new]
        done = end
    out = "".join([*pieces, text[done:]])
    _check(out, raw, plan, file)
    return out


def _check(out: str, raw: Any, plan: list[PinChange], file: str) -> None:
    """The rewritten text means the old data with the planned pins, and nothing else."""
    data, _, diags = parse(out, file)
    wanted = pins_of(raw)
    for c in plan:
        if c.after is None:
            wanted.pop(c.label, None)
        else:
            wanted[c.label] = c.after
    if diags or pins_of(data) != wanted or without_pins(data) != without_pins(raw):
        label = plan[0].label if plan else ""
        member, name = split_label(label)
        path = format_path((*member_path(raw, member), name)) if label else ""
        raise _failure(file, 1, 1, path, "the result would not read back as the same loop")
