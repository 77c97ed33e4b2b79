"""``fleetctl doctor``: dead and failing loops, from the fleet's files and the gateway's
store; the checks are :mod:`fleet.doctor`, this module reads and prints."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fleetctl.output import EXIT_INVALID, fail, fleet_source, print_diagnostics, read_store

if TYPE_CHECKING:
    from gateway.store import Store
    from gateway.store.report import Reports


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


async def read_sums(
    st: Store, start: float, now: float
) -> tuple[list[dict[str, Any]], dict[str, tuple[float, float]], set[str]]:
    """The window's run records (the fields the checks read), each loop's spend in the
    two weeks compared, and the runs that wrote: sums, not every call of the window."""
    from fleet.doctor import WEEK

    def read(r: Reports) -> tuple[list[dict[str, Any]], dict[str, tuple[float, float]], set[str]]:
        spend = r.loop_spend(max(start, now - 2 * WEEK), now - WEEK)
        return r.run_heads(start), spend, r.written_runs(start)

    return await st.read_report(start, read)


def doctor(
    path: Path = typer.Argument(Path("."), help="The fleet directory."),
    store: str = typer.Option(
        "sqlite:gateway.sqlite3", "--store", help="The gateway's store: sqlite:PATH or redis://…"
    ),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
    days: int = typer.Option(
        14, "--days", min=2, max=400, help="Days of records to read (spend compares two weeks)."
    ),
    streak: int = typer.Option(
        5, "--streak", min=1, help="Runs in a row without a useful outcome."
    ),
    stamp_runs: int = typer.Option(
        10, "--stamp-runs", min=1, help="Runs a checker passed with no useful outcome."
    ),
    budget_runs: int = typer.Option(
        3, "--budget-runs", min=1, help="budget_exceeded runs that count as repeated."
    ),
    approval_hours: float = typer.Option(
        24.0, "--approval-hours", min=0, help="Hours an approval may wait."
    ),
    spend_ratio: float = typer.Option(
        2.0, "--spend-ratio", min=1.0, help="This week's spend over last week's that is a jump."
    ),
) -> None:
    """Find loops that look dead or wasteful: a deprecated model (past its date or within 30
    days), a missed heartbeat (no run within twice its schedule's longest gap), runs in a
    row without a useful outcome (done, with a successful write for a loop that may write),
    a checker that passes runs that achieve nothing, repeated budget_exceeded, approvals
    left waiting, spend up 2x week over week. Each finding names the loop, its owner, the
    evidence and an action. Exit 1 when a finding is at error level."""
    from fleet.doctor import ERROR, Thresholds, as_dicts, diagnose_sums
    from fleet.errors import Severity
    from fleet.load import load_fleet
    from fleetctl.output import Output

    if output not in ("text", "json"):
        fail(f"unknown --output '{output}'", "use text or json")
    source, _, _ = fleet_source([path])
    loaded, diags = load_fleet(source)
    if loaded is None or any(d.severity is Severity.ERROR for d in diags):
        print_diagnostics([d for d in diags if d.severity is Severity.ERROR], Output.text)
        raise typer.Exit(EXIT_INVALID)
    thresholds = Thresholds(
        useless_streak=streak,
        rubber_stamp_runs=stamp_runs,
        budget_exceeded=budget_runs,
        approval_wait_s=approval_hours * 3600,
        spend_ratio=spend_ratio,
    )
    now = time.time()
    start = now - days * 86400
    # Many small acyclic records: the cycle collector would walk them over and over.
    gc.disable()
    try:
        runs, spend, wrote = read_store(store, lambda st: read_sums(st, start, now))
        agents = [la.agent for la in loaded.agents]
        findings = diagnose_sums(
            loaded.fleet, agents, runs, spend, wrote, now=now, since=start, thresholds=thresholds
        )
    finally:
        gc.enable()
    if output == "json":
        typer.echo(json.dumps({"findings": as_dicts(findings)}, indent=2))
    elif not findings:
        typer.echo(f"{len(agents)} loops, no findings")
    else:
        for f in findings:
            typer.echo(f"{f.level}: {f.loop} ({f.owner}): {f.check}: {f.evidence}")
            typer.echo(f"    -> {f.action}")
        errors = sum(1 for f in findings if f.level == ERROR)
        typer.echo(
            f"{len(findings)} findings ({errors} errors) in {len({f.loop for f in findings})} "
            f"of {len(agents)} loops"
        )
    if any(f.level == ERROR for f in findings):
        raise typer.Exit(EXIT_INVALID)
