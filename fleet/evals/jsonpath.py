"""The small JSON path a case's checks use: ``$``, ``.name``, ``['a key']`` and ``[index]``.

No filters, wildcards or recursion: a check names one value. Parsing is one
left-to-right pass and reading follows the steps once, so a path costs time
linear in its length whatever the document.
"""

from __future__ import annotations

import re
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"-?[0-9]+")
MISSING: Any = object()


class JsonPathError(ValueError):
    """A path that is not of the supported form; the message says where."""


def parse_path(text: str) -> tuple[str | int, ...]:
    """``$.a['b c'][0]`` → ``("a", "b c", 0)``."""
    if not text.startswith("$"):
        raise JsonPathError(f"json path {text!r} must start with $")
    steps: list[str | int] = []
    i, n = 1, len(text)
    while i < n:
        ch = text[i]
        if ch == ".":
            m = _NAME.match(text, i + 1)
            if not m:
                raise JsonPathError(f"json path {text!r}: expected a name after '.' at {i + 1}")
            steps.append(m.group())
            i = m.end()
        elif ch == "[":
            if text.startswith(("['", '["'), i):
                quote = text[i + 1]
                end = text.find(quote + "]", i + 2)
                if end < 0:
                    raise JsonPathError(f"json path {text!r}: unclosed [{quote} at {i}")
                steps.append(text[i + 2 : end])
                i = end + 2
            else:
                m = _INDEX.match(text, i + 1)
                if not m or not text.startswith("]", m.end()):
                    raise JsonPathError(f"json path {text!r}: expected [index] at {i}")
                steps.append(int(m.group()))
                i = m.end() + 1
        else:
            raise JsonPathError(f"json path {text!r}: unexpected {ch!r} at {i}")
    return tuple(steps)


def read_path(value: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at ``steps``, or :data:`MISSING`."""
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
    return value
