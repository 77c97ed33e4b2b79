"""The lint rule framework: registration, context, located findings, and grant helpers.

Rules live in the sibling modules by subject; importing :mod:`fleet.rules` registers them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from fleet.errors import Diagnostic, Severity
from fleet.load import LoadedAgent, LoadedFleet
from fleet.spec import Agent, Fleet, Grant, McpServer, SubAgent
from fleet.yamlsrc import Path, SourceMap, format_path

TOOL_CLASSES = ("read", "write", "destructive")
DEPRECATION_WARN_DAYS = 30
WINDOW_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class Context:
    fleet: LoadedFleet
    today: dt.date


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    doc: str
    check: Callable[[Context], Iterable[Diagnostic]]


@dataclass(frozen=True)
class DocumentRule:
    """A rule over each parsed file's raw data, run even when the file fails the schema."""

    id: str
    name: str
    severity: Severity
    doc: str
    check: Callable[[SourceMap, Any], Iterable[Diagnostic]]


RULES: list[Rule] = []
DOCUMENT_RULES: list[DocumentRule] = []
DocCheck = Callable[[SourceMap, Any], Iterable[Diagnostic]]


def document_rule(
    rule_id: str, name: str, severity: Severity, doc: str
) -> Callable[[DocCheck], DocCheck]:
    def register(fn: DocCheck) -> DocCheck:
        DOCUMENT_RULES.append(DocumentRule(rule_id, name, severity, doc, fn))
        return fn

    return register


def run_document_rules(docs: Iterable[tuple[SourceMap, Any]]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for smap, raw in docs:
        for r in DOCUMENT_RULES:
            out.extend(
                Diagnostic(
                    d.file, d.line, d.col, d.path, d.message, d.hint, r.id, r.severity, d.related
                )
                for d in r.check(smap, raw)
            )
    return out


def rule(
    rule_id: str, name: str, severity: Severity, doc: str
) -> Callable[
    [Callable[[Context], Iterable[Diagnostic]]], Callable[[Context], Iterable[Diagnostic]]
]:
    def register(
        fn: Callable[[Context], Iterable[Diagnostic]],
    ) -> Callable[[Context], Iterable[Diagnostic]]:
        RULES.append(Rule(rule_id, name, severity, doc, fn))
        return fn

    return register


def run_rules(fleet: LoadedFleet, today: dt.date | None = None) -> list[Diagnostic]:
    """Every rule over ``fleet``; diagnostics carry their rule's ID and severity."""
    ctx = Context(fleet, today or dt.date.today())
    out: list[Diagnostic] = []
    for r in RULES:
        for d in r.check(ctx):
            severity = d.severity if d.rule == "override" else r.severity
            out.append(
                Diagnostic(
                    d.file, d.line, d.col, d.path, d.message, d.hint, r.id, severity, d.related
                )
            )
    return out


def at(
    smap: SourceMap,
    path: Path,
    message: str,
    hint: str = "",
    *,
    key: bool = False,
    severity: Severity | None = None,
    related: tuple[str, ...] = (),
) -> Diagnostic:
    line, col = smap.locate(path, key=key)
    if severity is None:
        return Diagnostic(smap.file, line, col, format_path(path), message, hint, related=related)
    return Diagnostic(
        smap.file, line, col, format_path(path), message, hint, "override", severity, related
    )


# ------------------------------------------------------------------ helpers


def tool_class(server: McpServer, tool: str) -> str | None:
    """The catalog class a concrete tool name (or glob) falls in; destructive wins."""
    for cls in ("destructive", "write", "read"):
        for pattern in getattr(server.tools, cls):
            if pattern == tool or fnmatchcase(tool, pattern):
                return cls
    return None


def is_destructive(fleet: Fleet, server: McpServer | None, tool: str) -> bool:
    if any(p == tool or fnmatchcase(tool, p) for p in fleet.gateway.destructive_tools):
        return True
    return server is not None and tool_class(server, tool) == "destructive"


def granted_destructive(fleet: Fleet, server: McpServer, grant: Grant) -> list[str]:
    """Destructive tool names/globs a grant opens, as the approval gate must name them."""
    return list(dict.fromkeys(tool for _, tool in _destructive_entries(fleet, server, grant)))


def _destructive_entries(
    fleet: Fleet, server: McpServer, grant: Grant
) -> Iterator[tuple[int, str]]:
    """(index of the grant entry, destructive tool or glob it opens)."""
    for i, entry in enumerate(grant.tools):
        if entry == "destructive":
            for tool in server.tools.destructive:
                yield i, tool
        elif entry in ("read", "write"):
            for tool in getattr(server.tools, entry):
                if is_destructive(fleet, None, tool):
                    yield i, tool
        elif is_destructive(fleet, server, entry):
            yield i, entry


def _members(agent: Agent) -> Iterator[tuple[Path, Agent | SubAgent]]:
    yield ("agent",), agent
    for i, sub in enumerate(agent.subagents):
        yield ("agent", "subagents", i), sub


def _agents(ctx: Context) -> list[LoadedAgent]:
    return ctx.fleet.agents
