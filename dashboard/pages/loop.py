"""The loop page: its health and the findings behind it, the definition in the author's
terms (the YAML fields they wrote, not the compiled resource) and the loop's runs with
outcome, steps, cost and trigger."""

from __future__ import annotations

from typing import Any

from dashboard.attention import Finding
from dashboard.pages.fleet import LoopRow


def definition(agent: Any) -> list[tuple[str, str]]:
    """(field, value) for what the author set, in the file's order; unset fields left out."""
    data = agent.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
    out = []
    for key, value in data.items():
        out.append((key, _text(value)))
    return out


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) if value else "-"
    return str(value)


def context(
    agent: Any, row: LoopRow, runs: list[dict[str, Any]], findings: list[Finding] | None = None
) -> dict[str, Any]:
    return {
        "title": f"Loop {agent.name}",
        "findings": findings or [],
        "agent": agent,
        "row": row,
        "definition": definition(agent),
        "subagents": [
            (s.name, s.role, s.model or agent.model, definition(s)) for s in agent.subagents
        ],
        "runs": runs,
    }
