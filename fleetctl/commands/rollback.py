"""``fleetctl rollback LOOP [--to REV]``: give a loop back the pins it had before its last
promotion, read from git history, through the same diff, lock and commit path as promote.

Without ``--to``, the loop file's history is walked for the newest promotion commit (its
``Fleet-Promotion`` trailer) not already rolled back, and the pins of that commit's parent
are restored; a file with no promotion in its history goes back to its newest revision
whose pins differ. Only pins change (model, instructions, skills, and the sub-agents'):
whatever else the file says now stays. No gate: a rollback returns to pins that ran.

Exit codes: 0 rolled back (or already there); 1 the fleet so changed would not validate;
2 usage errors (unknown loop, no git history, unknown revision, dirty files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fleetctl.output import EXIT_OK


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback)


def rollback(
    loop: str = typer.Argument(..., help="The loop whose pins go back."),
    to: str | None = typer.Option(
        None, "--to", metavar="REV", help="Restore the loop's pins at this revision instead."
    ),
    fleet: Path = typer.Option(Path("."), "--fleet", "-f", help="The fleet directory."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff; write nothing."),
    commit: bool = typer.Option(
        False, "--commit", help="Commit the loop file and fleet.lock on a new branch."
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="The new branch (default rollback/<loop>-<pins digest>)."
    ),
    message: str | None = typer.Option(
        None, "--message", "-m", help="The commit's subject line (the body is always written)."
    ),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Restore a loop's pins from before its last promotion (or at --to REV)."""
    from fleetctl.promotion.flow import Request, guarded

    if output not in ("text", "json"):
        from fleetctl.output import fail

        fail(f"--output {output!r}: expected text or json")
    req = Request(fleet, output, dry_run, commit, branch, message)
    raise typer.Exit(guarded(req, lambda: run_rollback(req, loop, to)))


def run_rollback(req: Any, loop: str, to: str | None) -> int:
    from fleet.lifecycle.pins import pins_of
    from fleet.lifecycle.plan import current, find_loop, plan, relative
    from fleet.source import DirSource
    from fleetctl.promotion.flow import (
        apply,
        echo_json,
        pin_lines,
        preflight,
        print_plan,
        report_json,
    )
    from fleetctl.promotion.git import ROLLBACK, Earlier, open_repo, pins_at, previous_pins

    source = DirSource(req.path, "" if str(req.path) == "." else str(req.path))
    report = current(source)
    prod = find_loop(report, loop)
    fr = open_repo(req.path, "rollback reads the loop's earlier pins from git history")
    rel = relative(source, prod.file)
    now = pins_of(prod.raw)
    if to is not None:
        earlier = Earlier(to, pins_at(fr, to, rel, loop), f"the pins at {to}")
    else:
        earlier = previous_pins(fr, rel, loop, now)
    planned = plan(source, report, prod, earlier.pins, remove=True)
    head = f"rollback {loop} to {earlier.reason}"
    if not planned.changes:
        if req.output == "json":
            echo_json({"loop": loop, "to": earlier.rev, "changes": []})
        else:
            typer.echo(f"rollback {loop}: it already has {earlier.reason}; nothing to do")
        return EXIT_OK
    fr_commit = fr if req.commit and not req.dry_run else None
    branch = preflight(req, fr_commit, planned, "rollback")
    print_plan(planned, head, req)
    subject = req.message or f"Roll back {loop} to the pins of {earlier.rev}"
    undone = earlier.undoes or f"to:{earlier.rev}"
    body = [
        f"Restores {earlier.reason}.",
        "",
        *pin_lines(planned),
        "",
        f"{ROLLBACK}: {loop} {undone}",
    ]
    done = apply(req, fr_commit, planned, branch, subject + "\n\n" + "\n".join(body) + "\n")
    report_json(planned, done, {"to": earlier.rev, "reason": earlier.reason}, req)
    return EXIT_OK
