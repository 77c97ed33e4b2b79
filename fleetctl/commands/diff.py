"""``fleetctl diff``: what a change does to the fleet, per loop, with a risk class per change.

Both sides are compiled from git objects (the head may be the working tree).
A fleet directory the base revision does not have yet diffs as every loop added.

Exit codes: 0 no change; 1 changes (with ``--fail-on LEVEL``: 1 only when a
change at or above LEVEL exists, else 0, changes still printed); 2 usage error
or an unreadable or invalid revision.
"""

from __future__ import annotations

import json
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


def render_markdown(result: Any, base: str, head: str) -> str:
    out = [MARKER, f"**fleetctl diff** `{base}` → `{head}`: {result.summary()}", ""]
    if result.empty:
        return "\n".join(out).rstrip() + "\n"
    out += ["| loop | status | risk | changes |", "|---|---|---|---|"]
    for lp in result.loops:
        name = "fleet policy" if lp.name == "(fleet)" else f"`{lp.name}`"
        out.append(f"| {name} | {lp.status} | {_ICON[lp.risk]} | {len(lp.changes)} |")
    for lp in result.loops:
        name = "fleet policy" if lp.name == "(fleet)" else lp.name
        out += [
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
            out.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


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
    from fleet.compile import compile_fleet
    from fleet.diff import diff_fleets
    from fleet.errors import GitError, SpecError
    from fleet.gitsource import GitSource, locate
    from fleet.load import FLEET_FILE
    from fleet.source import DirSource

    if not path.is_dir():
        fail(f"no such directory: {path}", "give the fleet directory")
    try:
        top, sub = locate(path)
        # A fleet directory that the base does not have yet: every loop is added.
        base_source = GitSource(top, base, sub, missing_ok=True)
        head_source = GitSource(top, head, sub) if head else DirSource(path, str(path))
        documents: list[list[dict[str, Any]]] = []
        for label, source in (("base", base_source), ("head", head_source)):
            if label == "base" and source.read(FLEET_FILE) is None:
                documents.append([])
                continue
            try:
                documents.append(compile_fleet(source, lock=False).documents())
            except SpecError as exc:
                for d in exc.diagnostics[:20]:
                    typer.echo(d.format(), err=True)
                fail(
                    f"the {label} revision is not a valid fleet",
                    "fix it first: `fleetctl validate`",
                )
    except GitError as exc:
        fail(str(exc))
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
            console.print(f"[{colors[risk]}]{escape(line)}[/]" if risk in colors else escape(line))
    else:
        typer.echo(render_text(result))
    if result.empty:
        raise typer.Exit(EXIT_OK)
    if fail_on is not None:
        raise typer.Exit(EXIT_INVALID if result.at_least(fail_on.value) else EXIT_OK)
    raise typer.Exit(EXIT_INVALID)
