"""``fleetctl promote CANDIDATE``: move a staging loop's pins to its production loop, behind the
eval gate.

The candidate (a loop with ``promotes_to:``) and its production loop are replayed on the
recorded cases (``fleetctl eval``); only when no case regresses are the production loop's
pins rewritten in its YAML (every other byte kept), ``fleet.lock`` relocked as ``fleetctl
lock`` would, and the risk-classed diff printed; ``--commit`` commits both files on a new
branch whose message names the pins and the eval totals, and carries the trailer rollback
looks for. A regression names the cases and changes nothing. There is no way around the
gate: a promotion that did not pass it is not a promotion.

Exit codes: 0 promoted (or nothing to promote); 1 the gate failed, or the fleet so changed
would not validate; 2 usage errors (unknown loop, not a candidate, dirty files, no git).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import typer

from fleetctl.output import EXIT_INVALID, EXIT_OK


class GateResult(Protocol):
    """What :func:`fleetctl.evals.gate.gate` answers (read-only)."""

    @property
    def passed(self) -> bool: ...
    @property
    def regressed(self) -> list[str]: ...
    @property
    def report(self) -> dict[str, Any]: ...
    @property
    def table(self) -> str: ...


Gate = Callable[..., GateResult]


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)


def promote(
    loop: str = typer.Argument(..., help="The candidate: a staging loop with promotes_to."),
    fleet: Path = typer.Option(Path("."), "--fleet", "-f", help="The fleet directory."),
    provider: str | None = typer.Option(
        None, "--provider", help="The eval's model provider (as `fleetctl eval --provider`)."
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", help="Eval cases run at once."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Run the gate and print the diff; write nothing."
    ),
    commit: bool = typer.Option(
        False, "--commit", help="Commit the loop file and fleet.lock on a new branch."
    ),
    branch: str | None = typer.Option(
        None, "--branch", help="The new branch (default promote/<loop>-<pins digest>)."
    ),
    message: str | None = typer.Option(
        None, "--message", "-m", help="The commit's subject line (the body is always written)."
    ),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Promote a candidate loop's pins to its production loop when the eval gate passes."""
    from fleetctl.promotion.flow import Request, guarded

    if output not in ("text", "json"):
        from fleetctl.output import fail

        fail(f"--output {output!r}: expected text or json")
    req = Request(fleet, output, dry_run, commit, branch, message)
    code = guarded(req, lambda: run_promotion(req, loop, provider=provider, jobs=jobs))
    raise typer.Exit(code)


def real_gate(root: Path, loop: str, *, provider: str | None, jobs: int | None) -> GateResult:
    from fleetctl.evals.gate import gate

    return gate(root, loop, provider=provider, jobs=jobs)


def totals(result: GateResult) -> str:
    """``12 cases: 12 passed, 0 failed, 0 errors; 0 regressed`` from the eval report."""
    report = result.report if isinstance(result.report, dict) else {}
    t = report.get("totals")
    regressed = f"{len(result.regressed)} regressed"
    if not isinstance(t, dict) or "cases" not in t:
        return regressed
    text = f"{t['cases']} cases: " + ", ".join(
        f"{t[k]} {k}" for k in ("passed", "failed", "errors") if k in t
    )
    replay = f"; replayed: {report['replay']}" if report.get("replay") else ""
    return f"{text}; {regressed}{replay}"


def run_promotion(
    req: Any,
    loop: str,
    *,
    provider: str | None = None,
    jobs: int | None = None,
    gate: Gate | None = None,
) -> int:
    """The command without its option parsing: ``gate`` defaults to ``fleetctl eval``'s."""
    from fleet.lifecycle.pins import pins_of
    from fleet.lifecycle.plan import candidate_pair, current, plan
    from fleet.source import DirSource
    from fleetctl.promotion.flow import (
        apply,
        echo_json,
        pin_lines,
        preflight,
        print_plan,
        repo_for_commit,
        report_json,
    )
    from fleetctl.promotion.git import PROMOTION

    source = DirSource(req.path, "" if str(req.path) == "." else str(req.path))
    report = current(source)
    cand, prod = candidate_pair(report, loop)
    planned = plan(source, report, prod, pins_of(cand.raw), remove=False)
    head = f"promote {cand.agent.name} -> {prod.agent.name}"
    if not planned.changes:
        if req.output == "json":
            echo_json({"candidate": loop, "loop": prod.agent.name, "changes": [], "gate": None})
        else:
            typer.echo(f"{head}: nothing to promote, '{prod.agent.name}' runs the candidate's pins")
        return EXIT_OK
    fr = repo_for_commit(req)
    branch = preflight(req, fr, planned, "promote")
    result = (gate or real_gate)(req.path, loop, provider=provider, jobs=jobs)
    gate_doc = {
        "passed": result.passed,
        "regressed": list(result.regressed),
        "report": result.report,
    }
    if not result.passed:
        if req.output == "json":
            echo_json({"candidate": loop, "loop": prod.agent.name, "gate": gate_doc, "written": []})
        else:
            typer.echo(result.table.rstrip("\n"))
            cases = ", ".join(result.regressed) or "(none named)"
            typer.echo(
                f"{head}: the gate failed, {len(result.regressed)} case(s) regressed: {cases}; "
                "nothing changed",
                err=True,
            )
        return EXIT_INVALID
    if req.output != "json":
        typer.echo(result.table.rstrip("\n"))
    print_plan(planned, f"{head}: the gate passed ({totals(result)})", req)
    subject = req.message or f"Promote {prod.agent.name}: the pins of candidate {cand.agent.name}"
    body = [
        f"Candidate {cand.agent.name} passed the eval gate: {totals(result)}.",
        "",
        *pin_lines(planned),
        "",
        result.table.rstrip("\n"),
        "",
        f"{PROMOTION}: {prod.agent.name} {cand.agent.name}",
    ]
    done = apply(req, fr, planned, branch, subject + "\n\n" + "\n".join(body) + "\n")
    report_json(planned, done, {"candidate": loop, "gate": gate_doc}, req)
    return EXIT_OK
