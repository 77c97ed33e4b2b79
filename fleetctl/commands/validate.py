"""``fleetctl validate``: every mistake in a fleet at once, each at file:line:col."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, EXIT_OK, Output, fleet_source, print_diagnostics


def register(app: typer.Typer) -> None:
    app.command()(validate)


def validate(
    paths: list[Path] = typer.Argument(
        None, help="A fleet directory (default .), or fleet.yaml and agent files."
    ),
    output: Output = typer.Option(
        Output.text, "--output", "-o", help="text, json, or github annotations."
    ),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too."),
    lock: bool = typer.Option(True, "--lock/--no-lock", help="Check pins against fleet.lock."),
) -> None:
    """Validate a fleet: schema, lint rules, pins and the lockfile."""
    import orjson

    from fleet.resolve import check

    source, agent_files, fleet_file = fleet_source(paths or [])
    report = check(source, agent_files=agent_files, fleet_file=fleet_file, lock=lock)
    ok = report.ok(strict)
    if output is Output.json:
        payload = {
            "ok": ok,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "loops": len(report.fleet.agents) if report.fleet else None,
            "diagnostics": [d.to_json() for d in report.diagnostics],
        }
        typer.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
    else:
        print_diagnostics(report.diagnostics, output)
        if output is Output.text:
            n = len(report.fleet.agents) if report.fleet else 0
            summary = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
            if ok:
                typer.echo(
                    f"ok: {report.fleet.fleet.fleet if report.fleet else ''}: {n} loop(s) valid"
                    + (f", {summary}" if report.warnings else "")
                )
            else:
                typer.echo(f"invalid: {summary}", err=True)
    raise typer.Exit(EXIT_OK if ok else EXIT_INVALID)
