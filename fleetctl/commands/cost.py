"""``fleetctl cost``: spend rolled up from the gateway's traces, by loop, team or model."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

import typer

from fleetctl.output import fail, read_store

if TYPE_CHECKING:
    from gateway.store import Store


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)


def parse_since(text: str) -> float:
    match = re.fullmatch(r"(\d+)([mhdw])", text)
    if not match:
        fail(f"cannot read --since '{text}'", "use e.g. 30m, 24h, 7d or 4w")
    seconds = {"m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return time.time() - int(match.group(1)) * seconds


def cost(
    by: str = typer.Option("loop", "--by", help="loop, team or model."),
    since: str = typer.Option("7d", "--since", help="Window: 30m, 24h, 7d, 4w."),
    store: str = typer.Option(
        "sqlite:gateway.sqlite3", "--store", help="The gateway's store: sqlite:PATH or redis://…"
    ),
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
) -> None:
    """Spend, tokens, requests, cache hits and errors per loop, team or model."""
    if by not in ("loop", "team", "model"):
        fail(f"cannot group by '{by}'", "use loop, team or model")
    from gateway.rollup import rollup

    start = parse_since(since)

    async def run(st: Store) -> list[dict[str, object]]:
        return rollup(await st.query_traces(since=start), by)

    rows = read_store(store, run)
    if output == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    header = [
        by.upper(),
        "REQUESTS",
        "TOOL CALLS",
        "TOKENS IN",
        "TOKENS OUT",
        "COST USD",
        "CACHE HITS",
        "ERRORS",
    ]
    lines = [header] + [
        [
            str(r["key"]),
            str(r["requests"]),
            str(r["tool_calls"]),
            str(r["tokens_in"]),
            str(r["tokens_out"]),
            f"{r['cost_usd']:.4f}",
            str(r["cache_hits"]),
            str(r["errors"]),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
