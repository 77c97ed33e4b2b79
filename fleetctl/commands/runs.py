"""``fleetctl runs show RUN``: one run's timeline from the gateway's traces, LLM
calls and tool calls side by side, with outcomes, guardrail verdicts and approvals."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import typer

from fleetctl.output import fail

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


def timeline(traces: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for t in sorted(traces, key=lambda t: float(t.get("ts") or 0)):
        what, outcome, detail = describe(t)
        ts = dt.datetime.fromtimestamp(float(t.get("ts") or 0), dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        step = t.get("step")
        rows.append(
            [
                ts,
                "-" if step is None else str(step),
                "tool" if t.get("kind") == "tool" else "llm",
                str(t.get("member") or t.get("loop") or "-"),
                what,
                outcome,
                f"{float(t.get('latency_ms') or 0):.1f}",
                detail,
            ]
        )
    return rows


@runs_app.command("show")
def show(
    run: str = typer.Argument(..., help="The run id (X-Fleet-Run-Id)."),
    store: str = typer.Option(
        "sqlite:gateway.sqlite3", "--store", help="The gateway's store: sqlite:PATH or redis://…"
    ),
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """Every LLM and tool step of RUN, in order."""
    from gateway.store import open_store

    async def query() -> list[dict[str, Any]]:
        st = open_store(store)
        try:
            return await st.query_traces(run=run)
        finally:
            await st.close()

    try:
        traces = asyncio.run(query())
    except Exception as exc:  # a driver error is a usage problem here: wrong path or URL
        fail(f"cannot read traces from {store}: {exc}", "point --store at the gateway's store")
    if not traces:
        fail(f"no steps recorded for run '{run}'", "the loop sends its run id as X-Fleet-Run-Id")
    if output == "json":
        typer.echo(
            json.dumps(
                sorted(traces, key=lambda t: float(t.get("ts") or 0)), indent=2, sort_keys=True
            )
        )
        return
    tools = sum(1 for t in traces if t.get("kind") == "tool")
    cost = sum(float(t.get("cost_usd") or 0) for t in traces)
    typer.echo(f"run {run}: {len(traces) - tools} LLM steps, {tools} tool calls, ${cost:.4f}")
    header = ["TIME (UTC)", "STEP", "KIND", "WHO", "WHAT", "OUTCOME", "MS", "DETAIL"]
    lines = [header, *timeline(traces)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
