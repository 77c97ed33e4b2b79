"""Inventory commands: ``fleetctl ls``, ``fleetctl who-touches``, ``fleetctl owners``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from fleetctl.output import EXIT_INVALID, Output, fleet_source, print_diagnostics


class TableOutput(StrEnum):
    table = "table"
    json = "json"


def register(app: typer.Typer) -> None:
    app.command("ls")(ls)
    app.command("who-touches")(who_touches)
    app.command("owners")(owners)


def _load(path: Path) -> Any:
    from fleet.validate import validate

    source, _, _ = fleet_source([path])
    report = validate(source)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    return report.fleet


def _table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_lines=False)
        for col in columns:
            table.add_column(col.upper().replace("_", " "), overflow="fold")
        for row in rows:
            table.add_row(
                *(
                    str(row[c]) if not isinstance(row[c], list) else ", ".join(row[c])
                    for c in columns
                )
            )
        Console().print(table)
        return
    cells = [[c.upper().replace("_", " ") for c in columns]]
    cells += [
        [", ".join(r[c]) if isinstance(r[c], list) else str(r[c]) for c in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for line in cells:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def ls(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    output: TableOutput = typer.Option(TableOutput.table, "--output", "-o", help="table or json."),
) -> None:
    """List every loop: owner, stage, model, schedule, budget, grants."""
    from fleet.inventory import as_dicts, loop_rows

    loaded = _load(path)
    rows = as_dicts(loop_rows(loaded.fleet, [a.agent for a in loaded.agents]))
    if output is TableOutput.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    _table(
        rows,
        ["loop", "owner", "stage", "model", "schedule", "budget", "grants"],
        f"fleet {loaded.fleet.fleet}",
    )


def who_touches(
    query: str = typer.Argument(
        ..., help="An MCP server, a tool (or server.tool), or an artifact."
    ),
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    output: TableOutput = typer.Option(TableOutput.table, "--output", "-o", help="table or json."),
) -> None:
    """Which loops own an artifact, are granted a server, or may call a tool."""
    from fleet.inventory import as_dicts
    from fleet.inventory import who_touches as query_fleet

    loaded = _load(path)
    rows = as_dicts(query_fleet(loaded.fleet, [a.agent for a in loaded.agents], query))
    if output is TableOutput.json:
        typer.echo(json.dumps(rows, indent=2))
    elif not rows:
        typer.echo(f"nothing in fleet {loaded.fleet.fleet} touches '{query}'")
    else:
        _table(rows, ["loop", "member", "kind", "detail", "cls"], f"who touches {query}")


def owners(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    output: TableOutput = typer.Option(TableOutput.table, "--output", "-o", help="table or json."),
) -> None:
    """Owners, their teams, loops and the artifacts they own."""
    from fleet.inventory import as_dicts
    from fleet.inventory import owners as list_owners

    loaded = _load(path)
    rows = as_dicts(list_owners(loaded.fleet, [a.agent for a in loaded.agents]))
    if output is TableOutput.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    _table(rows, ["owner", "team", "loops", "artifacts"], f"owners in fleet {loaded.fleet.fleet}")
