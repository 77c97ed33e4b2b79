"""Risk classes for the changes a fleet diff finds: the rules a reviewer would apply.

* **high**: a grant widened (new server, tool, class; a destructive tool),
  an approval removed or switched to auto, a guardrail removed or weakened,
  a budget, rate limit or harness bound raised or lifted, the model (or its
  targets, fallbacks or provider endpoint) changed, a new owner of an artifact,
  sandbox isolation changed;
* **medium**: a pin bumped, schedule or time zone changed, suspension
  toggled, owner, team or stage changed;
* **low**: the rest (descriptions, narrowed grants, tightened limits...).

Each classifier takes a snake_case field path, the kind of change (``added``,
``removed``, ``changed``, ``item_added``, ``item_removed``), the values before
and after, and returns ``(risk, reason)``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

RISKS = ("low", "medium", "high")
RANK = {r: i for i, r in enumerate(RISKS)}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


_LIMIT_NAMES = {
    "limit_usd": "budget",
    "requests_per_minute": "rate limit (requests/min)",
    "tokens_per_minute": "rate limit (tokens/min)",
    "max_steps": "step ceiling",
    "max_tokens_per_run": "tokens-per-run ceiling",
    "max_run_minutes": "run time ceiling",
    "stall_after_steps": "stall threshold",
    "max_checker_rounds": "checker rounds ceiling",
}
_RAISE_FIELDS = {
    "limit_usd",
    "requests_per_minute",
    "tokens_per_minute",
    "max_steps",
    "max_tokens_per_run",
    "max_run_minutes",
    "stall_after_steps",
    "max_checker_rounds",
}


def classify_loop(
    path: list[str], kind: str, before: Any, after: Any, ctx: dict[str, Any]
) -> tuple[str, str]:
    head = path[0] if path else ""
    last = path[-1] if path else ""
    added = kind in ("added", "item_added")
    removed = kind in ("removed", "item_removed")
    if head == "subagents":
        if len(path) == 2:
            if added:
                return (
                    ("high", "new sub-agent with grants")
                    if (after or {}).get("mcpServers")
                    else ("medium", "new sub-agent")
                )
            if removed:
                return "low", "sub-agent removed"
        sub_path = path[2:]
        if sub_path[:1] == ["role"]:
            return (
                ("high", "checker became a maker")
                if after == "maker"
                else ("low", "role narrowed to checker")
            )
        if sub_path[:1] == ["model"]:
            return "high", "sub-agent model changed"
        if sub_path[:1] == ["mcp_servers"]:
            return _grant_risk(added, removed, ctx, sub_path, after)
        if sub_path[:1] in (["skills"], ["instructions"]):
            return "medium", "sub-agent pin changed"
        return "low", "sub-agent changed"
    if head == "mcp_servers":
        return _grant_risk(added, removed, ctx, path, after)
    if head == "approvals":
        if removed or after == "auto":
            return "high", "approval gate removed"
        return "low", "approval gate added" if added else "approval gate changed"
    if head == "owns":
        return ("high", "new owner of an artifact") if added else ("low", "artifact released")
    if head in ("model", "models"):
        if head == "models" and removed:
            return "low", "model no longer reachable"
        return "high", "model changed" if head == "model" else "may call another model"
    if head == "done":
        return _done_risk(path, added, removed)
    if head in ("budget", "rate_limits", "harness"):
        if head == "budget" and last == "window":
            return "high", "budget window changed"
        if head == "budget" and last == "alert_at":
            return "low", "budget alerts changed"
        what = _LIMIT_NAMES.get(last, last.replace("_", " "))
        if removed and len(path) == 1:
            return "high", f"{head.replace('_', ' ')} removed"
        if removed or (before is not None and after is None):
            return "high", f"{what} lifted"
        b, a = _num(before), _num(after)
        if last in _RAISE_FIELDS and b is not None and a is not None:
            return ("high", f"{what} raised") if a > b else ("low", f"{what} lowered")
        return "low", f"{head.replace('_', ' ')} set" if path == [head] else f"{what} set"
    if head in ("instructions", "skills"):
        what = "skill" if head == "skills" else "instructions"
        if len(path) == 1 or added or removed:
            return "medium", f"{what} added" if added else f"{what} removed"
        if str(before).split(" ", 1)[0] == str(after).split(" ", 1)[0]:
            return "high", "content changed under the same version (versions are immutable)"
        return "medium", "pin bumped"
    if head == "trigger":
        return "medium", {
            "schedule": "schedule changed",
            "timezone": "time zone changed",
            "suspend": "suspension toggled",
        }.get(last, "trigger changed")
    if head == "sandbox":
        if last == "runtime_class":
            return "high", "sandbox isolation changed"
        return (
            ("medium", "sandbox image changed")
            if last == "image"
            else ("low", "sandbox resources changed")
        )
    if head in ("owner", "team", "stage"):
        return "medium", f"{head} changed"
    return "low", f"{head.replace('_', ' ')} changed"


def _done_risk(path: list[str], added: bool, removed: bool) -> tuple[str, str]:
    # What decides that a run is done: losing a check lets unchecked claims through.
    if len(path) == 1:
        if removed:
            return "high", "done condition removed"
        return ("low", "done condition added") if added else ("medium", "done condition changed")
    what = {"checker": "done checker", "command": "done command"}.get(path[1])
    if what is None:
        return "low", "done command timeout changed"
    if removed:
        return "high", f"{what} removed"
    return ("low", f"{what} added") if added else ("medium", f"{what} changed")


def _grant_risk(
    added: bool, removed: bool, ctx: dict[str, Any], path: list[str], after: Any
) -> tuple[str, str]:
    if removed:
        return "low", "grant narrowed"
    server = path[1] if len(path) > 1 else ""
    granted: list[tuple[str, str]] = []
    if len(path) == 1 and isinstance(after, dict):
        granted = [(s, t) for s, grant in after.items() for t in grant.get("tools", [])]
    elif len(path) == 2 and isinstance(after, dict):
        granted = [(server, t) for t in after.get("tools", [])]
    elif isinstance(after, str):
        granted = [(server, after)]
    if any(opens_destructive(ctx, s, t) for s, t in granted):
        return "high", "destructive tool granted"
    return "high", "new MCP server granted" if len(path) <= 2 else "grant widened"


def opens_destructive(ctx: dict[str, Any], server: str, entry: str) -> bool:
    """Whether granting ``entry`` (a class, tool or glob) on ``server`` reaches a destructive tool.

    Classes expand against the catalog; a glob counts when it covers a destructive
    name (``*_pr`` covers ``merge_pr``) or a destructive glob covers it.
    """
    if entry == "destructive":
        return True
    classes: dict[str, list[str]] = ctx.get("catalog", {}).get(server, {})
    patterns = set(classes.get("destructive", [])) | ctx.get("org_destructive", set())
    names = classes.get(entry, [entry])
    return any(fnmatchcase(n, p) or fnmatchcase(p, n) for n in names for p in patterns)


def classify_policy(
    path: list[str], kind: str, before: Any, after: Any, ctx: dict[str, Any] | None = None
) -> tuple[str, str]:
    """``ctx`` (the head's catalog, see :func:`context`) tells a renamed pattern from a lost one."""
    added = kind in ("added", "item_added")
    removed = kind in ("removed", "item_removed")
    head = path[0] if path else ""
    if path[:2] == ["gateway", "guardrails"]:
        if removed:
            return "high", "guardrail removed"
        if before == "block" and after == "redact":
            return "high", "guardrail weakened (block → redact)"
        return "low", "guardrail added" if added else "guardrail tightened"
    if path[:2] == ["gateway", "destructive_tools"]:
        return (
            ("high", "tool no longer behind the org-wide approval gate")
            if removed
            else ("low", "approval gate widened")
        )
    if path[:2] in (["gateway", "budgets"], ["gateway", "rate_limits"]) or head == "harness_limits":
        b, a = _num(before), _num(after)
        if removed:
            return "high", "limit removed"
        if b is not None and a is not None:
            return ("high", "limit raised") if a > b else ("low", "limit lowered")
        return "low", "limit set"
    if head == "mcp_servers":
        if len(path) >= 4 and path[2] == "tools":
            if path[3] == "destructive" and removed:
                if ctx is not None and opens_destructive(ctx, path[1], str(before)):
                    return "low", "destructive pattern replaced; the tool is still covered"
                return "high", "tool no longer classed destructive"
            if added and path[3] == "destructive":
                return "medium", "tool classed destructive (always behind approval)"
            if added:
                return "high", "catalog widened: loops granted this class get the tool"
            return "low", "catalog narrowed"
        if len(path) == 2:
            return ("medium", "MCP server added") if added else ("low", "MCP server removed")
        return "medium", "MCP server changed"
    if head == "models":
        if len(path) >= 3 and path[2] == "deprecated":
            return "medium", "deprecation changed"
        return "high", "virtual model routing changed"
    if head == "providers":
        # A new endpoint means the same virtual model now talks to someone else.
        if path[2:3] == ["base_url"] or (path[2:3] == ["api"]):
            return "high", "provider endpoint changed"
        return "medium", "provider changed"
    if head == "sandbox" and path[-1:] == ["runtime_class"]:
        return "high", "sandbox isolation changed"
    return "low", f"{' '.join(path[:2]).replace('_', ' ')} changed"


def context(policy: dict[str, Any] | None) -> dict[str, Any]:
    spec = (policy or {}).get("spec", {})
    return {
        "catalog": {
            name: dict(s.get("tools", {})) for name, s in spec.get("mcpServers", {}).items()
        },
        "org_destructive": set(spec.get("gateway", {}).get("destructiveTools", [])),
    }
