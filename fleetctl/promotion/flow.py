"""The path a promotion and a rollback share once the pins are chosen: print the risk-classed
diff, write the loop file and ``fleet.lock``, commit them on a new branch, and end.

Nothing is written before every check has passed (the fleet so changed validates and
locks, the files to commit have no local changes), so a refusal leaves the tree as it was.
How it ends (:func:`guarded`): a fleet that would not validate prints its findings like
``fleetctl validate`` (exit 1); a refusal (unknown loop, dirty files, no git history) is one
red line naming the file (exit 2); nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from fleet.lifecycle.pins import fingerprint
from fleet.lifecycle.plan import Planned
from fleetctl.output import EXIT_INVALID, EXIT_USAGE, Output, error_line, print_diagnostics
from fleetctl.promotion.git import (
    FleetRepo,
    check_branch,
    commit_on_branch,
    open_repo,
    refuse_dirty,
)


@dataclass
class Request:
    """What the user asked for, beyond the pins: from the command's options."""

    path: Path
    output: str = "text"
    dry_run: bool = False
    commit: bool = False
    branch: str | None = None
    message: str | None = None


@dataclass
class Result:
    """What was done, for ``-o json`` and for tests."""

    written: list[str] = field(default_factory=list)
    branch: str | None = None
    commit: str | None = None


def repo_for_commit(req: Request) -> FleetRepo | None:
    """The fleet's repository when ``--commit`` asks for one; a located error when there is none."""
    if not req.commit or req.dry_run:
        return None
    return open_repo(
        req.path,
        "--commit needs the fleet in a git repository; without it the files are only written",
    )


def preflight(req: Request, fr: FleetRepo | None, planned: Planned, kind: str) -> str | None:
    """Refuse, before anything is written, what the commit could not do; returns the branch."""
    if fr is None or not planned.writes:
        return None
    shown = {rel: str(req.path / rel) for rel in planned.writes}
    refuse_dirty(fr, sorted(planned.writes), shown)
    branch = req.branch or f"{kind}/{planned.loop}-{fingerprint(planned.after)}"
    check_branch(fr, branch, kind)
    return branch


def write_atomic(target: Path, data: bytes) -> None:
    """Replace a file so a reader sees the old bytes or the new; its mode is kept."""
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_plan(planned: Planned, head: str, req: Request) -> None:
    """The pins that change and the risk-classed diff, as ``fleetctl diff`` prints it."""
    from fleetctl.commands.diff import render_text

    if req.output == "json":
        return
    typer.echo(head)
    for c in planned.changes:
        typer.echo(f"  {c.describe()}")
    for w in planned.warnings:
        typer.echo(w.format(), err=True)
    if planned.changes:
        typer.echo(render_text(planned.diff))


def apply(
    req: Request, fr: FleetRepo | None, planned: Planned, branch: str | None, message: str
) -> Result:
    """Write the files and, with ``--commit``, commit them on ``branch``."""
    out = Result()
    if req.dry_run or not planned.writes:
        if req.output != "json" and planned.writes:
            typer.echo("dry run: nothing written")
        return out
    for rel, data in sorted(planned.writes.items()):
        write_atomic(req.path / rel, data)
        out.written.append(rel)
    if req.output != "json":
        typer.echo("wrote " + ", ".join(str(req.path / r) for r in out.written))
    if fr is not None and branch is not None:
        out.commit = commit_on_branch(fr, branch, out.written, message)
        out.branch = branch
        if req.output != "json":
            typer.echo(
                f"committed {out.commit[:12]} on branch {branch}; "
                f"push it to open the pull request: git push -u origin {branch}"
            )
    return out


def report_json(planned: Planned, result: Result, extra: dict[str, Any], req: Request) -> None:
    if req.output != "json":
        return
    doc = {
        **extra,
        "loop": planned.loop,
        "file": planned.file,
        "changes": [c.to_json() for c in planned.changes],
        "diff": planned.diff.to_json(),
        "dry_run": req.dry_run,
        "written": result.written,
        "branch": result.branch,
        "commit": result.commit,
        "warnings": [w.to_json() for w in planned.warnings],
    }
    typer.echo(json.dumps(doc, indent=2, default=str))


def pin_lines(planned: Planned) -> list[str]:
    return [f"  {c.describe()}" for c in planned.changes]


def echo_json(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc, indent=2, default=str))


def guarded(req: Any, work: Callable[[], int]) -> int:
    """Run ``work``; turn the errors it may raise on purpose into output and an exit code."""
    from fleet.errors import FleetError, SpecError
    from fleet.lifecycle import LifecycleError
    from fleetctl.local.errors import LocalError

    try:
        return work()
    except SpecError as exc:
        if req.output == "json":
            echo_json({"error": "invalid", "diagnostics": [d.to_json() for d in exc.diagnostics]})
        else:
            print_diagnostics(exc.diagnostics, Output.text)
            typer.echo("nothing changed: the fleet must validate before and after", err=True)
        return EXIT_INVALID
    except LifecycleError as exc:
        error_line(exc.diagnostic.format())
        return EXIT_USAGE
    except FleetError as exc:
        error_line(str(exc))
        return EXIT_USAGE
    except LocalError as exc:
        # The eval gate's own errors (a case file, a transcript): each located line, exit 2.
        found = getattr(exc, "diagnostics", None)
        lines = [d.format() for d in found] if found else [str(exc)]
        for line in lines:
            error_line(line)
        return EXIT_USAGE
