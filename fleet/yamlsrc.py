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

This module loads: bytes to data, a source map and located diagnostics for
every way a file can be unreadable. The limits live in
:mod:`fleet.yamlsrc_limits`, the source map and the node-tree builder in
:mod:`fleet.yamlsrc_map`, the libyaml fast path in :mod:`fleet.yamlsrc_events`;
their public names are importable from here.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from fleet.errors import Diagnostic
from fleet.source import MAX_FILE_BYTES_ENV
from fleet.yamlsrc_events import CParser, Fallback, parse_fast
from fleet.yamlsrc_limits import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_NODES,
    MAX_DEPTH_ENV,
    MAX_NODES_ENV,
    Budget,
    LimitExceeded,
    Limits,
    pure_yaml,
)
from fleet.yamlsrc_map import Builder, Path, SourceMap, duplicate_key, format_path, resolve_plain

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "MAX_DEPTH_ENV",
    "MAX_NODES_ENV",
    "Limits",
    "Path",
    "SourceMap",
    "duplicate_key",
    "format_path",
    "parse",
    "resolve_plain",
]


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
    builder = Builder(file)
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
        fast = Builder(file)
        try:
            data = parse_fast(text, fast, Budget(file, limits))
        except LimitExceeded as exc:
            return None, fast.smap, [exc.diagnostic]
        except (Fallback, YAMLError, ValueError, RecursionError):
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
        node = pure_yaml(Budget(file, limits)).compose(text)
    except LimitExceeded as exc:
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
