"""``fleetctl runs show RUN``: one run's timeline from the gateway's store, LLM calls
and tool calls side by side (the traces), with outcomes, guardrail verdicts and
approvals, and, for a run the harness opened through the runs API, its record
(status, outcome, attempts, counters, cost by member) and the journal's checker
verdicts, paused approvals and outcome in their places on the timeline.

The record and the journal are read with :mod:`gateway.runs.records`, the module
the gateway writes them with, so the CLI and the API name the same rows.

``fleetctl runs list [--loop X] [--outcome Y] [--status S] [--since 7d]``: the runs,
newest first, from the gateway's runs API (``--gateway URL``, an approver's token from
``$FLEET_APPROVER_TOKEN`` as ``fleetctl approvals`` reads it) or straight from its store
(``--store``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import typer

from fleetctl.output import fail, read_store

if TYPE_CHECKING:
    from gateway.store import Store

runs_app = typer.Typer(help="Inspect agent runs recorded by the gateway.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")


def describe(t: dict[str, Any]) -> tuple[str, str, str]:
    """(what, outcome, detail) for one trace step."""
    verdicts = ",".join(f"{v.get('detector')}:{v.get('action')}" for v in t.get("guardrails") or [])
    if t.get("kind") == "tool":
        what = f"{t.get('server')}.{t.get('tool')}"
        detail = []
        if t.get("approval_id"):
            detail.append(
                f"approval {t['approval_id']}"
                + (f" by {t['approved_by']}" if t.get("approved_by") else "")
                + (f", attempt {t['attempt']}" if (t.get("attempt") or 0) > 1 else "")
            )
        if t.get("idempotency_key"):
            detail.append("keyed")
        if verdicts:
            detail.append(f"guardrails {verdicts}")
        return what, str(t.get("outcome") or "-"), "; ".join(detail)
    what = str(t.get("virtual_model") or "-")
    if t.get("target"):
        what += f" → {t['target']}"
    outcome = str(t.get("error") or ("cache" if t.get("cache_hit") else t.get("status") or "ok"))
    detail = [
        f"{int(t.get('tokens_in') or 0)}+{int(t.get('tokens_out') or 0)} tok",
        f"${float(t.get('cost_usd') or 0):.4f}",
    ]
    if verdicts:
        detail.append(f"guardrails {verdicts}")
    return what, outcome, "; ".join(detail)


def clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def timeline(traces: list[dict[str, Any]]) -> list[tuple[float, list[str]]]:
    """Each trace step as (time, table row), in order."""
    rows = []
    for t in sorted(traces, key=lambda t: float(t.get("ts") or 0)):
        what, outcome, detail = describe(t)
        ts = float(t.get("ts") or 0)
        step = t.get("step")
        row = [
            clock(ts),
            "-" if step is None else str(step),
            "tool" if t.get("kind") == "tool" else "llm",
            str(t.get("member") or t.get("loop") or "-"),
            what,
            outcome,
            f"{float(t.get('latency_ms') or 0):.1f}",
            detail,
        ]
        rows.append((ts, row))
    return rows


def event(record: dict[str, Any], entry: dict[str, Any]) -> tuple[str, str] | None:
    """(who, what happened) for the journal entries the timeline shows, else None."""
    kind = entry.get("kind")
    if kind == "verdict":
        reasons = entry.get("reasons") or []
        why = "; ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons)
        line = f"verdict {entry.get('verdict')} (round {entry.get('round')})"
        return str(entry.get("by") or "-"), line + (f": {why}" if why else "")
    if kind == "approval":
        return str(record["loop"]), (
            f"approval {entry.get('approval_id')} pending for {entry.get('name')} "
            f"(call {entry.get('call_id')}): the run pauses"
        )
    if kind == "outcome":
        summary = entry.get("summary")
        return str(record["loop"]), f"outcome {entry.get('outcome')}" + (
            f": {summary}" if summary else ""
        )
    return None


def by_member(
    record: dict[str, Any], traces: list[dict[str, Any]], entries: list[dict[str, Any]]
) -> str:
    """The run's cost split by member: the maker (the loop itself) first, then each
    sub-agent; from the gateway's traces, or the journal's model replies without them."""
    costs: dict[str, float] = {}
    for item in traces or [e for e in entries if e.get("kind") == "model"]:
        member = str(item.get("member") or item.get("loop") or record["loop"])
        costs[member] = costs.get(member, 0.0) + float(item.get("cost_usd") or 0)
    loop = record["loop"]
    costs.setdefault(loop, 0.0)
    order = [loop, *sorted(m for m in costs if m != loop)]
    return ", ".join(f"{m}{' (maker)' if m == loop else ''} ${costs[m]:.4f}" for m in order)


def header(record: dict[str, Any]) -> str:
    outcome = record.get("outcome") or "none yet"
    return (
        f"run {record['id']}: loop {record['loop']}, {record['status']}, outcome {outcome}, "
        f"attempts {record['attempts']}, steps {record['steps']}, tokens {record['tokens']}, "
        f"${float(record['cost_usd']):.4f}"
    )


def table(rows: list[tuple[float, list[str] | tuple[str, str, str]]]) -> list[str]:
    """Trace rows in aligned columns; a journal event aligned on time, step, kind and
    who, its sentence where the traces' WHAT column starts."""
    head = ["TIME (UTC)", "STEP", "KIND", "WHO", "WHAT", "OUTCOME", "MS", "DETAIL"]
    lines = [r if isinstance(r, list) else [clock(ts), "-", r[0], r[1], r[2]] for ts, r in rows]
    cells = [head, *(line if len(line) == len(head) else line[:4] for line in lines)]
    widths = [max(len(c[i]) for c in cells if i < len(c)) for i in range(len(head))]
    out = []
    for line in [head, *lines]:
        padded = [c.ljust(w) for c, w in zip(line[:4], widths, strict=False)]
        rest = (
            [c.ljust(w) for c, w in zip(line[4:], widths[4:], strict=True)]
            if len(line) == len(head)
            else line[4:]
        )
        out.append("  ".join([*padded, *rest]).rstrip())
    return out


@runs_app.command("show")
def show(
    run: str = typer.Argument(..., help="The run id (X-Fleet-Run-Id)."),
    store: str = typer.Option(
        "sqlite:gateway.sqlite3", "--store", help="The gateway's store: sqlite:PATH or redis://…"
    ),
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """The run's record and every LLM and tool step of RUN, in order."""
    from gateway.runs.records import Logged, read_run

    async def query(st: Store) -> tuple[dict[str, Any] | None, list[Logged], list[dict[str, Any]]]:
        record, logged = await read_run(st, run)
        return record, logged, await st.query_traces(run=run)

    record, logged, traces = read_store(store, query)
    if record is None and not traces:
        fail(
            f"no run '{run}' and no steps recorded for it",
            "the harness opens it through the gateway; a loop sends its run id as X-Fleet-Run-Id",
        )
    traces = sorted(traces, key=lambda t: float(t.get("ts") or 0))
    entries = [(e.at, e.entry()) for e in logged]
    if output == "json":
        if record is None:  # a run known only from traces: the list it always was
            typer.echo(json.dumps(traces, indent=2, sort_keys=True))
            return
        journal = [{**entry, "at": at} for at, entry in entries]
        typer.echo(
            json.dumps(
                {"run": record, "journal": journal, "traces": traces}, indent=2, sort_keys=True
            )
        )
        return
    tools = sum(1 for t in traces if t.get("kind") == "tool")
    cost = sum(float(t.get("cost_usd") or 0) for t in traces)
    steps = f"{len(traces) - tools} LLM steps, {tools} tool calls, ${cost:.4f}"
    rows: list[tuple[float, list[str] | tuple[str, str, str]]] = list(timeline(traces))
    if record is None:
        typer.echo(f"run {run}: {steps}")
    else:
        typer.echo(header(record))
        typer.echo(f"cost by member: {by_member(record, traces, [e for _, e in entries])}")
        if record.get("summary"):
            typer.echo(f"summary: {record['summary']}")
        typer.echo(f"traces: {steps}" if traces else "traces: none recorded for this run")
        for at, entry in entries:
            found = event(record, entry)
            if found is not None:
                rows.append((at, (str(entry["kind"]), *found)))
        rows.sort(key=lambda r: r[0])
    if len(rows):
        for line in table(rows):
            typer.echo(line)


def _when(ts: Any) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _took(record: dict[str, Any]) -> str:
    if not record.get("ended") or not record.get("started"):
        return "-"
    s = float(record["ended"]) - float(record["started"])
    return f"{s:.0f}s" if s < 120 else f"{s / 60:.0f}m" if s < 7200 else f"{s / 3600:.1f}h"


def list_table(records: list[dict[str, Any]]) -> list[str]:
    head = ["RUN", "LOOP", "TRIGGER", "STATUS", "OUTCOME", "STEPS", "COST", "STARTED (UTC)", "TOOK"]
    rows = [head] + [
        [
            str(r["id"]),
            str(r["loop"]),
            str(r.get("trigger") or "-"),
            str(r["status"]),
            str(r.get("outcome") or "-"),
            str(r.get("steps", 0)),
            f"${float(r.get('cost_usd') or 0):.4f}",
            _when(r.get("started")),
            _took(r),
        ]
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


@runs_app.command("list")
def list_runs(
    loop: str = typer.Option(None, "--loop", help="Only this loop's runs."),
    outcome: str = typer.Option(
        None, "--outcome", help="Only runs that ended so (done, error, …)."
    ),
    status: str = typer.Option(None, "--status", help="running, awaiting_approval or ended."),
    since: str = typer.Option(
        None, "--since", help="Opened since: 90s, 15m, 12h, 7d, 2w or epoch."
    ),
    limit: int = typer.Option(100, "--limit", help="At most this many (1-1000)."),
    gateway: str = typer.Option(
        "http://127.0.0.1:8080", "--gateway", envvar="FLEET_GATEWAY_URL", help="The gateway's URL."
    ),
    token_env: str = typer.Option(
        "FLEET_APPROVER_TOKEN",
        "--token-env",
        help="Environment variable holding an approver token.",
    ),
    store: str = typer.Option(
        None, "--store", help="Read the gateway's store instead: sqlite:PATH or redis://…"
    ),
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """The runs, newest first: loop, trigger, status, outcome, steps, cost, when."""
    from gateway.errors import GatewayError
    from gateway.runs import validate as check

    params = {
        k: v
        for k, v in {
            "loop": loop,
            "outcome": outcome,
            "status": status,
            "since": since,
            "limit": str(limit),
        }.items()
        if v is not None
    }
    try:
        args = check.listing(params)
    except GatewayError as exc:
        fail(exc.message.replace("limit=", "--limit ").replace("since=", "--since "))
    if store:
        from gateway.runs.records import select

        async def listing(st: Store) -> list[dict[str, Any]]:
            return await select(st, *args)

        records = read_store(store, listing)
    else:
        from urllib.parse import urlencode

        from fleetctl.commands.approvals import call

        records = call(gateway, token_env, "GET", "/v1/fleet/runs?" + urlencode(params))["runs"]
    if output == "json":
        typer.echo(json.dumps({"runs": records}, indent=2, sort_keys=True))
        return
    if not records:
        typer.echo("no runs" + (" match" if len(params) > 1 else " yet"))
        return
    for line in list_table(records):
        typer.echo(line)
