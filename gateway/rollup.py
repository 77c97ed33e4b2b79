"""Roll traces up by loop, team or model: what ``fleetctl cost`` prints."""

from __future__ import annotations

from typing import Any


def rollup(traces: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    field = {"loop": "loop", "team": "team", "model": "virtual_model"}[by]
    rows: dict[str, dict[str, Any]] = {}
    for t in traces:
        key = str(t.get(field) or (t.get("server") if by == "model" else None) or "-")
        row = rows.setdefault(
            key,
            {
                "key": key,
                "requests": 0,
                "tool_calls": 0,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost_usd": 0.0,
                "cache_hits": 0,
                "errors": 0,
            },
        )
        if t.get("kind") == "tool":
            row["tool_calls"] += 1
        else:
            row["requests"] += 1
        row["tokens_in"] += int(t.get("tokens_in") or 0)
        row["tokens_out"] += int(t.get("tokens_out") or 0)
        row["cost_usd"] += float(t.get("cost_usd") or 0.0)
        row["cache_hits"] += 1 if t.get("cache_hit") else 0
        row["errors"] += 1 if t.get("error") else 0
    return sorted(rows.values(), key=lambda r: (-r["cost_usd"], r["key"]))
