"""Shared CLI plumbing: where a fleet is, how diagnostics print, and the fixed exit codes.

Exit codes: 0 ok / no change, 1 invalid / changes found, 2 usage or internal error.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer

from fleet.errors import Diagnostic, Severity
from fleet.source import DirSource

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class Output(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def fail(message: str, hint: str = "") -> NoReturn:
    """One red line on stderr and exit 2: for usage errors, never for findings."""
    text = f"error: {message}" + (f" ({hint})" if hint else "")
    if sys.stderr.isatty():
        typer.secho(text, fg="red", err=True)
    else:
        typer.echo(text, err=True)
    raise typer.Exit(EXIT_USAGE)


def fleet_source(paths: list[Path]) -> tuple[DirSource, list[str] | None, str]:
    """A fleet from a directory, or from files named explicitly (``fleet.yaml`` plus agent files)."""
    if not paths:
        paths = [Path(".")]
    if len(paths) == 1 and paths[0].is_dir():
        root = paths[0]
        if not os.path.lexists(root / "fleet.yaml"):
            where = "this directory" if str(root) == "." else str(root)
            fail(
                f"no fleet.yaml in {where}",
                "a fleet is a directory with fleet.yaml and agents/*.yaml; see examples/minimal",
            )
        return DirSource(root, "" if str(root) == "." else str(root)), None, "fleet.yaml"
    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(
            f"no such file or directory: {missing[0]}",
            "give a fleet directory, or fleet.yaml and agent files",
        )
    dirs = [p for p in paths if p.is_dir()]
    if dirs:
        fail(f"{dirs[0]} is a directory", "give one fleet directory, or files only")
    fleets = [p for p in paths if p.name in ("fleet.yaml", "fleet.yml")]
    if len(fleets) != 1:
        fail(
            "name exactly one fleet.yaml among the files",
            "the fleet file holds the policy every loop inherits",
        )
    root = fleets[0].parent
    label = "" if str(root) == "." else str(root)
    agents = [
        str(Path(p).resolve().relative_to(root.resolve()))
        if p.resolve().is_relative_to(root.resolve())
        else str(p.resolve())
        for p in paths
        if p != fleets[0]
    ]
    # Files named on the command line are read where they are; the fleet's own files stay inside.
    explicit = [p for p in paths if p != fleets[0]]
    return DirSource(root, label, explicit=explicit), agents, fleets[0].name


def print_diagnostics(diags: list[Diagnostic], output: Output) -> None:
    if output is Output.github:
        for d in diags:
            level = "error" if d.severity is Severity.ERROR else "warning"
            title = d.rule or "fleetctl"
            msg = f"{d.path}: {d.message}" + (f" ({d.hint})" if d.hint else "")
            msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            typer.echo(
                f"::{level} file={d.file},line={max(d.line, 1)},col={max(d.col, 1)},title={title}::{msg}"
            )
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markup import escape

        console = Console(highlight=False)
        for d in diags:
            color = "red" if d.severity is Severity.ERROR else "yellow"
            console.print(f"[{color}]{escape(d.format())}[/{color}]")
    else:
        for d in diags:
            typer.echo(d.format())
