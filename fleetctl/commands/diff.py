"""``fleetctl diff``: what a change does to the fleet, per loop, with a risk class per change.

Both sides are compiled from git objects (the head may be the working tree).
A fleet directory the base revision does not have yet diffs as every loop added.

Exit codes: 0 no change; 1 changes (with ``--fail-on LEVEL``: 1 only when a
change at or above LEVEL exists, else 0, changes still printed); 2 usage error
or an unreadable or invalid revision.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from fleetctl.output import EXIT_INVALID, EXIT_OK, fail


class DiffOutput(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Risk(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


MARKER = "<!-- fleetctl-diff -->"
_ICON = {"high": "🔴 high", "medium": "🟠 medium", "low": "🟢 low"}


def register(app: typer.Typer) -> None:
    app.command("diff")(diff)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return str(value)


def render_text(result: Any) -> str:
    lines = [f"fleet diff: {result.summary()}"]
    for lp in result.loops:
        sign = {"added": "+", "removed": "-", "changed": "~"}[lp.status]
        title = "fleet policy" if lp.name == "(fleet)" else f"loop {lp.name}"
        lines.append(f"{sign} {title} ({lp.status}) [{lp.risk}]")
        for c in lp.changes:
            if lp.status == "removed":
                lines.append(f"    {c.risk:<7} {c.reason}")
                continue
            lines.append(
                f"    {c.risk:<7} {c.path}: {_value(c.before)} → {_value(c.after)}  ({c.reason})"
            )
    return "\n".join(lines)


# GitHub rejects comments over 65,536 characters; leave room for the marker and a note.
COMMENT_LIMIT = 60_000


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def render_markdown(result: Any, base: str, head: str, limit: int = COMMENT_LIMIT) -> str:
    """A PR comment: summary line, loop table, one collapsible section per loop.

    Past ``limit`` characters, sections (then table rows) are left out with a
    note saying how many, so the comment can always be posted.
    """
    head_lines = [MARKER, f"**fleetctl diff** `{base}` → `{head}`: {result.summary()}", ""]
    if result.empty:
        return "\n".join(head_lines).rstrip() + "\n"
    # Fleet policy first, then the riskiest loops: what a reviewer reads first, and what
    # survives when the comment has to be cut.
    rank = {"high": 0, "medium": 1, "low": 2}
    loops = sorted(result.loops, key=lambda lp: (lp.name != "(fleet)", rank[lp.risk], lp.name))
    rows = []
    for lp in loops:
        name = "fleet policy" if lp.name == "(fleet)" else f"`{lp.name}`"
        rows.append(f"| {name} | {lp.status} | {_ICON[lp.risk]} | {len(lp.changes)} |")
    sections = []
    for lp in loops:
        name = "fleet policy" if lp.name == "(fleet)" else lp.name
        part = [
            "",
            f"<details><summary><b>{name}</b> ({lp.status}, {lp.risk})</summary>",
            "",
            "| risk | field | before | after | why |",
            "|---|---|---|---|---|",
        ]
        for c in lp.changes:
            cells = [
                c.risk,
                f"`{c.path}`" if c.path else "",
                _value(c.before),
                _value(c.after),
                c.reason,
            ]
            part.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        part += ["", "</details>"]
        sections.append("\n".join(part))
    out = "\n".join([*head_lines, "| loop | status | risk | changes |", "|---|---|---|---|"])
    budget = limit - len(out) - 200
    # The table may take at most half, so some detail always shows.
    table_budget = budget // 2
    shown_rows = 0
    for row in rows:
        if len(row) + 1 > table_budget:
            break
        out += "\n" + row
        table_budget -= len(row) + 1
        budget -= len(row) + 1
        shown_rows += 1
    shown_sections = 0
    for section in sections[:shown_rows]:
        if len(section) + 1 > budget:
            break
        out += "\n" + section
        budget -= len(section) + 1
        shown_sections += 1
    if shown_rows < len(rows) or shown_sections < len(sections):
        out += (
            f"\n\n_{len(rows) - shown_rows} loop(s) left out of the table and "
            f"{len(sections) - shown_sections} detail section(s) left out to fit a comment; "
            "run `fleetctl diff` for the full list._"
        )
    return out + "\n"


def _compile_base(source: Any) -> tuple[list[dict[str, Any]], str]:
    """Compile the base revision; tolerate lint findings that do not stop compilation.

    The base passed the checks of its day. A rule added since (a newer fleetctl)
    must not make every diff fail, least of all the PR that fixes the finding;
    only files that do not load or pins that do not resolve stop the diff.
    Returns the documents and a warning ("" when the base is clean).
    """
    from fleet.compile import compile_fleet, compile_loaded
    from fleet.errors import Severity, SpecError
    from fleet.load import load_fleet
    from fleet.resolve import resolve_all

    try:
        return compile_fleet(source, lock=False).documents(), ""
    except SpecError as exc:
        strict_error = exc
    loaded, diags = load_fleet(source)
    if loaded is None or any(d.severity is Severity.ERROR for d in diags):
        raise strict_error
    res = resolve_all(loaded)
    if any(d.severity is Severity.ERROR for d in res.diagnostics):
        raise strict_error
    try:
        documents = compile_loaded(loaded, res).documents()
    except (KeyError, ValueError, TypeError, AttributeError, IndexError):
        raise strict_error from None
    count = len(strict_error.diagnostics)
    return documents, (
        f"warning: the base revision has {count} validation error(s) "
        "(rules newer than it?); diffing its compiled form anyway"
    )


# One side's outcome as plain data, so it can come back from a worker process:
# (documents or None on error, diagnostic lines, error or warning message).
Side = tuple[list[dict[str, Any]] | None, list[str], str]


def _side(label: str, top: Path, rev: str | None, sub: str, path: Path) -> Side:
    """Compile the base (``label == "base"``) or head side of the diff."""
    from fleet.compile import compile_fleet
    from fleet.errors import GitError, SpecError
    from fleet.gitsource import GitSource
    from fleet.load import FLEET_FILE
    from fleet.source import DirSource

    try:
        if label == "base":
            assert rev is not None
            source = GitSource(top, rev, sub, missing_ok=True)
            if source.read(FLEET_FILE) is None:
                # A fleet directory that the base does not have yet: every loop is added.
                return [], [], ""
            documents, warning = _compile_base(source)
            return documents, [], warning
        head_source = GitSource(top, rev, sub) if rev else DirSource(path, str(path))
        return compile_fleet(head_source, lock=False).documents(), [], ""
    except SpecError as exc:
        lines = [d.format() for d in exc.diagnostics[:20]]
        return None, lines, f"the {label} revision is not a valid fleet"
    except GitError as exc:
        return None, [], str(exc)


def _both_sides(top: Path, base: str, head: str | None, sub: str, path: Path) -> list[Side]:
    """Base and head, compiled side by side when there is a second core to use."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return [_side("base", top, base, sub, path), _side("head", top, head, sub, path)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        base_future = pool.submit(_side, "base", top, base, sub, path)
        head_side = _side("head", top, head, sub, path)
        return [base_future.result(), head_side]


def diff(
    path: Path = typer.Argument(Path("."), help="The fleet directory, inside a git repository."),
    base: str = typer.Option(..., "--base", help="Base revision, e.g. origin/main."),
    head: str = typer.Option(None, "--head", help="Head revision (default: the working tree)."),
    output: DiffOutput = typer.Option(
        DiffOutput.text, "--output", "-o", help="text, json or markdown (a PR comment)."
    ),
    fail_on: Risk = typer.Option(
        None, "--fail-on", help="Exit 1 only when a change at or above this risk exists."
    ),
) -> None:
    """Semantic, per-loop diff between two revisions of a fleet, with risk classes."""
    from fleet.diff import diff_fleets
    from fleet.errors import GitError
    from fleet.gitsource import locate

    if not path.is_dir():
        fail(f"no such directory: {path}", "give the fleet directory")
    try:
        top, sub = locate(path)
    except GitError as exc:
        fail(str(exc))
    documents: list[list[dict[str, Any]]] = []
    for docs, lines, message in _both_sides(top, base, head, sub, path):
        for line in lines:
            typer.echo(line, err=True)
        if docs is None:
            fail(message, "fix it first: `fleetctl validate`" if lines else "")
        if message:
            typer.echo(message, err=True)
        documents.append(docs)
    result = diff_fleets(documents[0], documents[1])
    head_label = head or "working tree"
    if output is DiffOutput.json:
        typer.echo(
            json.dumps(
                {"base": base, "head": head_label, **result.to_json()}, indent=2, default=str
            )
        )
    elif output is DiffOutput.markdown:
        typer.echo(render_markdown(result, base, head_label), nl=False)
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        colors = {"high": "red", "medium": "yellow", "low": "green"}
        console = Console(highlight=False)
        for line in render_text(result).splitlines():
            risk = line.split()[0] if line.startswith("    ") else None
            text = f"[{colors[risk]}]{escape(line)}[/]" if risk in colors else escape(line)
            console.print(text, soft_wrap=True)
    else:
        typer.echo(render_text(result))
    if result.empty:
        raise typer.Exit(EXIT_OK)
    if fail_on is not None:
        raise typer.Exit(EXIT_INVALID if result.at_least(fail_on.value) else EXIT_OK)
    raise typer.Exit(EXIT_INVALID)
