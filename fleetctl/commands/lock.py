"""``fleetctl lock``: resolve every pin and write ``fleet.lock``."""

from __future__ import annotations

from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, Output, fleet_source, print_diagnostics


def register(app: typer.Typer) -> None:
    app.command()(lock)


def lock(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    check: bool = typer.Option(
        False, "--check", help="Only report whether fleet.lock is current (exit 1 if not)."
    ),
) -> None:
    """Resolve skills and prompts to content digests and write fleet.lock."""
    from fleet.lockfile import LOCK_FILE, dump
    from fleet.resolve import check as validate_fleet
    from fleet.resolve import lock_entries, resolve_all

    source, _, _ = fleet_source([path])
    report = validate_fleet(source, lock=False)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    res = resolve_all(report.fleet)
    text = dump(lock_entries(res))
    target = path / LOCK_FILE
    current = target.read_text() if target.exists() else None
    if check:
        if current != text:
            typer.echo(f"{target}: out of date (run `fleetctl lock`)", err=True)
            raise typer.Exit(EXIT_INVALID)
        typer.echo(f"{target}: up to date ({len(res.pins)} pins)")
        return
    if current != text:
        target.write_text(text)
        typer.echo(f"wrote {target} ({len(res.pins)} pins)")
    else:
        typer.echo(f"{target}: unchanged ({len(res.pins)} pins)")
