"""``fleetctl cost``: spend next to outcome, by loop, team, model, role or run, from the
gateway's store (its sums of the per-call traces and of the run records,
:meth:`gateway.store.Store.read_report`); the report is :mod:`fleet.economics`."""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import time
from typing import TYPE_CHECKING

import typer

from fleetctl.output import fail, read_store

if TYPE_CHECKING:
    from fleet.economics import CostReport
    from gateway.store import Store
    from gateway.store.report import Reports

WINDOW_S = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400}


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)


def parse_since(text: str) -> float:
    match = re.fullmatch(r"(\d+)([mhdw])", text)
    if not match:
        fail(f"cannot read --since '{text}'", "use e.g. 30m, 24h, 7d or 4w")
    seconds = {"m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return time.time() - int(match.group(1)) * seconds


def window_start(window: str | None, since: str | None) -> float:
    """Epoch seconds the window opens at: ``--window`` or ``--since``, a week by default."""
    if window is not None and since is not None:
        fail("give --window or --since, not both", "--window day|week|month, or --since 36h")
    if window is not None:
        if window not in WINDOW_S:
            fail(f"unknown --window '{window}'", "use day, week or month")
        return time.time() - WINDOW_S[window]
    return parse_since(since or "7d")


async def read_sums(st: Store, start: float, by: str) -> CostReport:
    """The window's report from the store's sums (never every record of the window)."""
    from fleet.economics import USEFUL, report_from_sums

    def read(r: Reports) -> CostReport:
        calls = r.call_groups(start, by, USEFUL)
        runs = r.run_groups(start, "run" if by == "run" else "loop", USEFUL)
        teams = r.loop_teams(start) if by == "team" else None
        return report_from_sums(by, calls, runs, teams)

    return await st.read_report(start, read)


def cost(
    by: str = typer.Option(
        "loop", "--by", help="loop, team, model, role (maker or sub-agent) or run."
    ),
    window: str | None = typer.Option(None, "--window", help="day, week or month (30 days)."),
    since: str | None = typer.Option(
        None, "--since", help="Or a window like 30m, 24h, 7d, 4w (default 7d)."
    ),
    store: str = typer.Option(
        "sqlite:gateway.sqlite3", "--store", help="The gateway's store: sqlite:PATH or redis://…"
    ),
    output: str = typer.Option("text", "--output", "-o", help="text, json or csv."),
) -> None:
    """Spend per loop, team, model, role or run, next to what it delivered.

    Cost is summed from the gateway's per-call records only (model and tool calls), never
    again from the runs that contain them. RUNS counts the runs opened in the window; USEFUL
    those whose outcome is done (the checker passed or the done command exited 0); PER
    USEFUL is cost divided by useful outcomes; SHARE is the part of the fleet's spend; a
    group marked '!' spends more than the next four together. MAKER and SUB-AGENT split
    the loop's own calls from its sub-agents' (checkers')."""
    from fleet.economics import GROUPS

    if by not in GROUPS:
        fail(f"cannot group by '{by}'", f"use {', '.join(GROUPS)}")
    if output not in ("text", "table", "json", "csv"):
        fail(f"unknown --output '{output}'", "use text, json or csv")
    start = window_start(window, since)
    # Many small acyclic records (Redis, or traces still in the journal, are summed from
    # decoded records): the cycle collector would walk them again and again, finding nothing.
    gc.disable()
    try:
        report = read_store(store, lambda st: read_sums(st, start, by))
    finally:
        gc.enable()
    if output == "json":
        # A list of groups, as before: the fleet's totals are the sums of its loops.
        typer.echo(json.dumps(report.as_dict()["groups"], indent=2))
    elif output == "csv":
        typer.echo(as_csv(report), nl=False)
    else:
        print_table(report)


COLUMNS = ("RUNS", "USEFUL", "COST USD", "PER USEFUL", "SHARE", "MAKER", "SUB-AGENT", "TOKENS")


def _cells(report: CostReport) -> list[list[str]]:
    out = []
    for g in report.groups:
        out.append(
            [
                g.key + (" !" if g.dominant else ""),
                str(g.runs),
                str(g.useful),
                f"{g.cost_usd:.4f}",
                "-" if g.per_useful_usd is None else f"{g.per_useful_usd:.4f}",
                f"{g.share * 100:.1f}%",
                f"{g.maker_usd:.4f}",
                f"{g.subagent_usd:.4f}",
                str(g.tokens_in + g.tokens_out),
            ]
        )
    return out


def print_table(report: CostReport) -> None:
    if not report.groups:
        typer.echo("no spend in the window")
        return
    lines = [[report.by.upper(), *COLUMNS], *_cells(report)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    per = f"{report.total_usd / report.useful:.4f}" if report.useful else "-"
    typer.echo(
        f"total {report.total_usd:.4f} USD over {report.runs} runs, {report.useful} useful "
        f"({per} USD per useful outcome)"
    )
    top = [g for g in report.groups if g.dominant]
    for g in top:
        typer.echo(f"! {g.key} spends more than the next four {report.by}s together")


def as_csv(report: CostReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fields = [
        "key", "runs", "useful", "cost_usd", "per_useful_usd", "share", "maker_usd",
        "subagent_usd", "requests", "tool_calls", "tokens_in", "tokens_out", "dominant",
    ]  # fmt: skip
    writer.writerow([report.by if f == "key" else f for f in fields])
    for g in report.groups:
        row = g.__dict__
        writer.writerow(["" if row[f] is None else row[f] for f in fields])
    return buf.getvalue()
