"""``fleetctl lock``: resolve every pin and write ``fleet.lock``; never re-digest a locked version."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from fleetctl.output import EXIT_INVALID, Output, fail, fleet_source, print_diagnostics


def register(app: typer.Typer) -> None:
    app.command()(lock)


def lock(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    check: bool = typer.Option(
        False, "--check", help="Only report whether fleet.lock is current (exit 1 if not)."
    ),
    rehash: list[str] = typer.Option(
        [],
        "--rehash",
        metavar="REF",
        help="Accept changed content for this already-locked version (repeatable). "
        "Versions are immutable: publish a new version instead, unless this one never ran.",
    ),
) -> None:
    """Resolve skills and prompts to content digests and write fleet.lock."""
    from fleet.errors import Diagnostic, ReadError
    from fleet.lockfile import LOCK_FILE, dump, relock
    from fleet.resolve import check as validate_fleet
    from fleet.resolve import lock_entries, resolve_all

    source, _, _ = fleet_source([path])
    report = validate_fleet(source, lock=False)
    if report.fleet is None or report.errors:
        print_diagnostics(report.diagnostics, Output.text)
        raise typer.Exit(EXIT_INVALID)
    res = resolve_all(report.fleet)
    shown = f"{source.label.rstrip('/')}/{LOCK_FILE}" if source.label else LOCK_FILE
    try:
        old = source.read(LOCK_FILE)
    except ReadError as exc:
        print_diagnostics([Diagnostic(shown, 0, 0, "", exc.message, exc.hint)], Output.text)
        raise typer.Exit(EXIT_INVALID) from None
    plan = relock(lock_entries(res), old, shown, rehash)
    if plan.unknown:
        ref, hint = next(iter(plan.unknown.items()))
        fail(f"--rehash {ref}: no locked version whose content changed", hint)
    if plan.diagnostics:
        print_diagnostics(plan.diagnostics, Output.text)
        why = (
            ": the lock on disk cannot be read, so changed versions cannot be told from new ones "
            "(restore it from version control, or delete it and run `fleetctl lock` to lock "
            "every pin afresh)"
            if plan.unreadable
            else ""
        )
        typer.echo(f"{shown}: not written{why}", err=True)
        raise typer.Exit(EXIT_INVALID)
    text = dump(plan.entries)
    current = old.decode("utf-8", "replace") if old is not None else None
    target = path / LOCK_FILE
    if check:
        if current != text:
            typer.echo(f"{target}: out of date (run `fleetctl lock`)", err=True)
            raise typer.Exit(EXIT_INVALID)
        typer.echo(f"{target}: up to date ({len(res.pins)} pins)")
        return
    for key, (before, after) in sorted(plan.rehashed.items()):
        typer.echo(f"rehashed {key}: {before[:19]}… → {after[:19]}…")
    if current != text:
        _write(target, text)
        typer.echo(f"wrote {target} ({len(res.pins)} pins)")
    else:
        typer.echo(f"{target}: unchanged ({len(res.pins)} pins)")


def _write(target: Path, text: str) -> None:
    """Replace the file atomically: a reader sees the old lock or the new, and a link is replaced, not written through."""
    fd, tmp = tempfile.mkstemp(prefix=".fleet.lock.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
