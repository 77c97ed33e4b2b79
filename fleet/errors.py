"""Errors of the fleet core, and the located diagnostics users see.

Exception tree::

    FleetError                  root of everything this package raises on purpose
     ├── SpecError              one or more located user mistakes (``.diagnostics``)
     ├── ResolveError           a pin that cannot be resolved (``.diagnostics``)
     ├── GitError               a revision or path that git cannot give us
     └── ReadError              a file under the fleet that is refused: outside the fleet root
                                (a ``..`` path or a link leaving it), too large, not a regular
                                file, or unreadable (``.path``, ``.hint``)

A :class:`Diagnostic` is data, not text: file, line, column, field path, message,
hint, rule id and severity. ``format()`` prints it the way a compiler would::

    agents/triage.yaml:12:5: agent.mcp_servers.github.tools[2]: unknown tool class 'writ' (did you mean 'write'?)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One located finding about a fleet definition."""

    file: str
    line: int  # 1-based; 0 when the finding is about a whole file
    col: int  # 1-based
    path: str  # field path in the user's terms, e.g. ``agent.trigger.schedule``
    message: str
    hint: str = ""
    rule: str = field(default="", compare=False)
    severity: Severity = field(default=Severity.ERROR, compare=False)
    related: tuple[str, ...] = field(default=(), compare=False)

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        message = self.message
        if self.severity is Severity.WARNING:
            message = f"warning: {message}"
        text = f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"
        if self.hint:
            text += f" ({self.hint})"
        if self.rule:
            text += f" [{self.rule}]"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "rule": self.rule,
            "severity": self.severity.value,
            "related": list(self.related),
        }


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by position and drop exact duplicates."""
    return sorted(set(diags))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest choice, or listing the choices when none is close."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [o for o in options if o.startswith(word)][:1]
    if close:
        return f"did you mean '{close[0]}'?"
    if not options:
        return ""
    shown = ", ".join(options[:8]) + (", …" if len(options) > 8 else "")
    return f"expected one of: {shown}"


class FleetError(Exception):
    """Root of the errors this package raises on purpose."""


class SpecError(FleetError):
    """A fleet definition with user mistakes; carries every one of them."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        first = self.diagnostics[0].format() if self.diagnostics else "invalid fleet"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


class ResolveError(SpecError):
    """A pinned skill or prompt that cannot be resolved to content."""


class GitError(FleetError):
    """A revision, path or repository that git cannot give us."""


class ReadError(FleetError):
    """A file of the fleet that is not read: it leaves the fleet root, is too large, or is no file.

    ``path`` is relative to the fleet root (the link itself when a link leaves the root);
    callers turn it into a located diagnostic.
    """

    def __init__(self, path: str, message: str, hint: str = ""):
        self.path = path
        self.message = message
        self.hint = hint
        super().__init__(f"{path}: {message}" + (f" ({hint})" if hint else ""))
