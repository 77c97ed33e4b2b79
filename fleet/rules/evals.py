"""Eval cases under ``evals/<loop>/*.yaml``, checked by validate as part of the fleet.

A case that only fails when ``fleetctl eval`` runs it is found late: in the
promotion gate, or never, when the assertion names a tool the loop cannot
call and so passes (``not_called``) or fails (``called``) for a reason that
has nothing to do with the loop. These rules read every case file of the
fleet once (through the fleet's source, so nothing outside the root is read)
and cross-check it against the loop it belongs to: the directory names a
loop, every tool it names is one the loop's grants open, every transcript it
points at exists, every judge is a model of the fleet.

A fleet without an ``evals/`` directory costs one directory lookup (not even the
import of :mod:`fleet.evals`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from fleet.errors import Diagnostic, ReadError, Severity, did_you_mean
from fleet.load import LoadedAgent
from fleet.rules.base import TOOL_CLASSES, Context, at, rule
from fleet.source import Source
from fleet.spec import Agent, Fleet, SubAgent
from fleet.yamlsrc import Path

if TYPE_CHECKING:
    from fleet.evals.case import Case

EVALS_DIR = "evals"  # fleet.evals.case.EVALS_DIR; that package is imported only when it exists
SEP = "__"  # a loop calls a tool as <server>__<tool> (the harness's naming)
GLOB = set("*?[")


@dataclass
class Scan:
    """Every case file of the fleet, read once and shared by the rules below."""

    cases: list[tuple[LoadedAgent, Case]] = field(default_factory=list)
    invalid: list[Diagnostic] = field(default_factory=list)
    stray_dirs: list[Diagnostic] = field(default_factory=list)
    stray_files: list[Diagnostic] = field(default_factory=list)


# One scan per validate (per rule context), dropped with the context: holding on to a loaded
# fleet after its validate would keep thousands of objects alive for the collector to walk.
_scans: dict[int, Scan] = {}


def _keep(ctx: Context, scan: Scan) -> Scan:
    _scans[id(ctx)] = scan
    weakref.finalize(ctx, _scans.pop, id(ctx), None)
    return scan


def _shown(ctx: Context, rel: str) -> str:
    label = ctx.fleet.source.label
    return f"{label.rstrip('/')}/{rel}" if label else rel


def _scan(ctx: Context) -> Scan:
    """The fleet's cases; the rules of one validate share one scan (one read of each file)."""
    cached = _scans.get(id(ctx))
    if cached is not None:
        return cached
    scan = Scan()
    source = ctx.fleet.source
    try:
        present = source.isdir(EVALS_DIR)
        entries = source.listdir(EVALS_DIR) if present else []
    except ReadError as exc:
        scan.invalid.append(Diagnostic(_shown(ctx, exc.path), 0, 0, "", exc.message, exc.hint))
        entries = []
    if not entries:
        return _keep(ctx, scan)
    # Imported here: building the case models costs ~25 ms, which a fleet without evals/ skips.
    from fleet.evals.load import CASE_SUFFIXES, TRANSCRIPT_MARK, case_files, load_cases

    loops = {la.agent.name: la for la in ctx.fleet.agents}
    for name in sorted(entries):
        if name.startswith("."):
            continue
        rel = f"{EVALS_DIR}/{name}"
        try:
            is_dir = source.isdir(rel)
        except ReadError as exc:
            scan.invalid.append(Diagnostic(_shown(ctx, exc.path), 0, 0, "", exc.message, exc.hint))
            continue
        if not is_dir:
            if name.endswith(CASE_SUFFIXES) and TRANSCRIPT_MARK not in name:
                scan.stray_files.append(
                    Diagnostic(
                        _shown(ctx, rel),
                        0,
                        0,
                        "",
                        "eval case outside a loop's directory: cases live in evals/<loop>/",
                        f"move it to {EVALS_DIR}/<loop>/{name}"
                        + (f" (loops: {', '.join(sorted(loops)[:4])})" if loops else ""),
                    )
                )
            continue
        loop = loops.get(name)
        if (
            loop is not None
            and loop.agent.promotes_to is not None
            and _has_cases(source, name, case_files)
        ):
            # fleetctl eval runs a candidate on its production loop's cases: these never run.
            scan.stray_dirs.append(
                Diagnostic(
                    _shown(ctx, rel),
                    0,
                    0,
                    "",
                    f"'{name}' is a candidate for '{loop.agent.promotes_to}': its cases are "
                    "the production loop's",
                    f"move them to {EVALS_DIR}/{loop.agent.promotes_to}/",
                )
            )
            continue
        if loop is None:
            if _has_cases(source, name, case_files):
                scan.stray_dirs.append(
                    Diagnostic(
                        _shown(ctx, rel),
                        0,
                        0,
                        "",
                        f"eval directory names no loop '{name}' of the fleet",
                        did_you_mean(name, loops) or "name the directory after a loop",
                    )
                )
            continue
        try:
            if not case_files(source, name):
                continue
        except ReadError as exc:
            scan.invalid.append(Diagnostic(_shown(ctx, exc.path), 0, 0, "", exc.message, exc.hint))
            continue
        cases, diags = load_cases(source, name)
        scan.invalid += diags
        scan.cases += [(loop, case) for case in cases]
    return _keep(ctx, scan)


def _has_cases(source: Source, loop: str, case_files: Callable[[Source, str], list[str]]) -> bool:
    try:
        return bool(case_files(source, loop))
    except ReadError:
        return True  # unreadable: reported as such when its cases load


# ------------------------------------------------------------------ rules


@rule(
    "FL301",
    "eval-case-invalid",
    Severity.ERROR,
    "An eval case file (evals/<loop>/*.yaml) does not load: YAML, schema, regex or JSON path.",
)
def case_invalid(ctx: Context) -> Iterator[Diagnostic]:
    yield from _scan(ctx).invalid


@rule(
    "FL302",
    "eval-unknown-loop",
    Severity.ERROR,
    "An eval directory evals/<name>/ names no loop of the fleet, or a candidate (whose cases "
    "are its production loop's), so its cases never run.",
)
def unknown_loop(ctx: Context) -> Iterator[Diagnostic]:
    yield from _scan(ctx).stray_dirs


@rule(
    "FL303",
    "eval-case-outside-loop",
    Severity.ERROR,
    "An eval case file lies directly under evals/, outside any loop's directory.",
)
def case_outside_loop(ctx: Context) -> Iterator[Diagnostic]:
    yield from _scan(ctx).stray_files


def _granted(fleet: Fleet, loop: LoadedAgent) -> dict[str, list[str]]:
    """Server → tool patterns the loop or any of its sub-agents may call (classes expanded)."""
    out: dict[str, list[str]] = {}
    members: list[Agent | SubAgent] = [loop.agent, *loop.agent.subagents]
    for member in members:
        for server_name, grant in member.mcp_servers.items():
            server = fleet.mcp_servers.get(server_name)
            patterns = out.setdefault(server_name, [])
            for entry in grant.tools:
                if entry in TOOL_CLASSES:
                    patterns += getattr(server.tools, entry) if server else []
                else:
                    patterns.append(entry)
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def _catalog(fleet: Fleet, server_name: str) -> list[str]:
    server = fleet.mcp_servers.get(server_name)
    if server is None:
        return []
    return [p for cls in TOOL_CLASSES for p in getattr(server.tools, cls)]


def _tool_problem(
    name: str, granted: dict[str, list[str]], fleet: Fleet, *, must_be_callable: bool
) -> tuple[str, str] | None:
    """Why ``name`` is no tool the loop could call (message, hint), or None."""
    server, sep, tool = name.partition(SEP)
    if not sep or not server or not tool:
        return (
            f"'{name}' is not a tool name of the form <server>{SEP}<tool>",
            f"for example {next(iter(sorted(granted)), 'github')}{SEP}get_issue",
        )
    if GLOB & set(server):
        return None  # a glob over servers: nothing to check it against
    if must_be_callable:
        known = {s: list(p) for s, p in granted.items()}
    else:
        known = {s: _catalog(fleet, s) for s in fleet.mcp_servers}
        for s, patterns in granted.items():
            known.setdefault(s, []).extend(patterns)
    if server not in known:
        return (
            f"the loop is granted no MCP server '{server}'"
            if must_be_callable
            else f"the fleet has no MCP server '{server}'",
            did_you_mean(server, known) or "grant the server in the loop's mcp_servers",
        )
    if GLOB & set(tool):
        return None
    patterns = known[server]
    if any(p == tool or fnmatchcase(tool, p) for p in patterns):
        return None
    offered = [f"{server}{SEP}{p}" for p in patterns]
    where = "the loop's grants open" if must_be_callable else "the server's catalog has"
    return (
        f"'{name}' is no tool {where} on '{server}'",
        did_you_mean(name, offered) or f"grant it on mcp_servers.{server}",
    )


@rule(
    "FL304",
    "eval-unknown-tool",
    Severity.ERROR,
    "An eval case names a tool its loop cannot call (grants of the loop and its sub-agents, "
    "as <server>__<tool>); not_called names one no catalog has.",
)
def unknown_tool(ctx: Context) -> Iterator[Diagnostic]:
    fleet = ctx.fleet.fleet
    for loop, case in _scan(ctx).cases:
        granted = _granted(fleet, loop)
        spec = case.spec
        named: list[tuple[Path, str, bool]] = []
        named += [(("tools", i, "call"), r.call, True) for i, r in enumerate(spec.tools)]
        named += [
            (("expect", "called", i, "tool"), c.tool, True)
            for i, c in enumerate(spec.expect.called)
        ]
        for i, entry in enumerate(spec.expect.not_called):
            if isinstance(entry, str):
                named.append((("expect", "not_called", i), entry, False))
            else:
                named.append((("expect", "not_called", i, "tool"), entry.tool, False))
        for path, name, callable_ in named:
            problem = _tool_problem(name, granted, fleet, must_be_callable=callable_)
            if problem is not None:
                yield at(case.smap, path, problem[0], problem[1])


@rule(
    "FL305",
    "eval-transcript-missing",
    Severity.ERROR,
    "An eval case's model: transcript does not exist inside the fleet (or cannot be read).",
)
def transcript_missing(ctx: Context) -> Iterator[Diagnostic]:
    source = ctx.fleet.source
    for loop, case in _scan(ctx).cases:
        base = f"{EVALS_DIR}/{loop.agent.name}"
        for key, rel in case.spec.model.items():
            path = f"{base}/{rel}"
            try:
                data = source.read(path)
            except ReadError as exc:
                yield at(case.smap, ("model", key), exc.message, exc.hint)
                continue
            if data is None:
                yield at(
                    case.smap,
                    ("model", key),
                    f"transcript {path} does not exist in the fleet",
                    "record it with a run of the loop, or fix the path (relative to the case)",
                )


@rule(
    "FL306",
    "eval-unknown-judge",
    Severity.ERROR,
    "An eval case's rubric judge is not a virtual model of the fleet (fleet.yaml models).",
)
def unknown_judge(ctx: Context) -> Iterator[Diagnostic]:
    models = ctx.fleet.fleet.models
    for _loop, case in _scan(ctx).cases:
        rubric = case.spec.expect.rubric
        if rubric is not None and rubric.judge not in models:
            yield at(
                case.smap,
                ("expect", "rubric", "judge"),
                f"no model '{rubric.judge}' in the fleet",
                did_you_mean(rubric.judge, models),
            )
