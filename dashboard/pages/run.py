"""The run page: the timeline ``fleetctl runs show`` prints (model steps, tool calls,
guardrail verdicts, checker verdicts, approvals, the outcome) with the cost of each
step, built by that command's own functions so the page and the CLI never disagree."""

from __future__ import annotations

from typing import Any

from fleetctl.commands.runs import by_member, clock, event, timeline

HEAD = ["Time (UTC)", "Step", "Kind", "Who", "What", "Outcome", "ms", "Detail"]


def context(
    run_id: str,
    record: dict[str, Any] | None,
    logged: list[Any],
    traces: list[dict[str, Any]],
) -> dict[str, Any]:
    traces = sorted(traces, key=lambda t: float(t.get("ts") or 0))
    entries = [(e.at, e.entry()) for e in logged]
    rows: list[tuple[float, str, list[str]]] = [
        (ts, "tool" if row[2] == "tool" else "llm", row) for ts, row in timeline(traces)
    ]
    if record is not None:
        for at, entry in entries:
            found = event(record, entry)
            if found is not None:
                kind = str(entry["kind"])
                rows.append((at, kind, [clock(at), "-", kind, found[0], found[1], "", "", ""]))
    rows.sort(key=lambda r: r[0])
    lines = [(kind, row) for _, kind, row in rows]
    tools = sum(1 for t in traces if t.get("kind") == "tool")
    cost = sum(float(t.get("cost_usd") or 0) for t in traces)
    return {
        "title": f"Run {run_id}",
        "run_id": run_id,
        "record": record,
        "members": by_member(record, traces, [e for _, e in entries]) if record else "",
        "steps": f"{len(traces) - tools} model steps, {tools} tool calls, ${cost:.4f}",
        "head": HEAD,
        "lines": lines,
    }
