"""Risk rules, one row per rule: field path, kind of change, before, after → risk and reason."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.risk import classify_loop, classify_policy, opens_destructive

CTX: dict[str, Any] = {
    "catalog": {
        "github": {
            "read": ["get_*"],
            "write": ["create_pr", "comment"],
            "destructive": ["merge_pr", "delete_*"],
        },
        "ci": {"read": ["get_log"], "write": ["retry_build", "cancel_pipeline"]},
    },
    "org_destructive": {"cancel_*", "deploy_*"},
}


@pytest.mark.parametrize(
    ("server", "entry", "expected"),
    [
        ("github", "destructive", True),  # the class itself
        ("github", "merge_pr", True),  # a destructive name
        ("github", "delete_branch", True),  # under a destructive glob
        ("github", "*_pr", True),  # a glob that covers merge_pr
        ("github", "write", False),  # the write class holds nothing destructive
        ("ci", "write", True),  # ... here it does, through the org-wide list
        ("github", "get_*", False),
        ("unknown", "deploy_prod", True),  # org-wide list applies to any server
    ],
)
def test_opens_destructive(server: str, entry: str, expected: bool) -> None:
    assert opens_destructive(CTX, server, entry) is expected


LOOP_RULES = [
    (["mcp_servers", "github", "tools"], "item_removed", "comment", None, "low", "grant narrowed"),
    (
        ["mcp_servers", "ci", "tools"],
        "item_added",
        None,
        "write",
        "high",
        "destructive tool granted",
    ),
    (["approvals", "create_pr"], "added", None, "pause_for_human", "low", "approval gate added"),
    (
        ["approvals", "create_pr"],
        "changed",
        "pause_for_human",
        "auto",
        "high",
        "approval gate removed",
    ),
    (["owns"], "item_removed", "labels", None, "low", "artifact released"),
    (["models"], "item_removed", "reasoning", None, "low", "model no longer reachable"),
    (["budget", "window"], "changed", "day", "month", "high", "budget window changed"),
    (["budget", "alert_at"], "item_added", None, 50, "low", "budget alerts changed"),
    (["budget"], "removed", {"limit_usd": 5}, None, "high", "budget removed"),
    (
        ["rate_limits", "tokens_per_minute"],
        "changed",
        100,
        50,
        "low",
        "rate limit (tokens/min) lowered",
    ),
    (["harness", "max_run_minutes"], "changed", 30, None, "high", "run time ceiling lifted"),
    (["skills", "runbook"], "changed", "v1 @ sha256:aa", "v2 @ sha256:bb", "medium", "pin bumped"),
    (["skills", "runbook"], "added", None, "v1 @ sha256:aa", "medium", "skill added"),
    (["trigger", "timezone"], "changed", "UTC", "Europe/Berlin", "medium", "time zone changed"),
    (["sandbox", "runtime_class"], "removed", "gvisor", None, "high", "sandbox isolation changed"),
    (
        ["subagents", "fixer", "role"],
        "changed",
        "checker",
        "maker",
        "high",
        "checker became a maker",
    ),
    (["subagents", "fixer", "model"], "changed", "a", "b", "high", "sub-agent model changed"),
    (["subagents", "fixer"], "removed", {"role": "maker"}, None, "low", "sub-agent removed"),
    (["stage"], "changed", "staging", "production", "medium", "stage changed"),
    (["done"], "removed", {"checker": "reviewer"}, None, "high", "done condition removed"),
    (["done"], "added", None, {"command": "pytest -q"}, "low", "done condition added"),
    (["done", "checker"], "removed", "reviewer", None, "high", "done checker removed"),
    (["done", "command"], "removed", "pytest -q", None, "high", "done command removed"),
    (["done", "command"], "added", None, "pytest -q", "low", "done command added"),
    (["done", "command"], "changed", "pytest -q", "true", "medium", "done command changed"),
    (["done", "checker"], "changed", "reviewer", "editor", "medium", "done checker changed"),
    (
        ["done", "command_timeout"],
        "changed",
        "10m",
        "20m",
        "low",
        "done command timeout changed",
    ),
    (
        ["harness", "max_checker_rounds"],
        "changed",
        3,
        5,
        "high",
        "checker rounds ceiling raised",
    ),
]


@pytest.mark.parametrize(("path", "kind", "before", "after", "risk", "reason"), LOOP_RULES)
def test_loop_rules(
    path: list[str], kind: str, before: Any, after: Any, risk: str, reason: str
) -> None:
    assert classify_loop(path, kind, before, after, CTX) == (risk, reason)


POLICY_RULES = [
    (
        ["gateway", "guardrails", "llm_output", "pii"],
        "added",
        None,
        "block",
        "low",
        "guardrail added",
    ),
    (
        ["gateway", "guardrails", "llm_output", "pii"],
        "changed",
        "redact",
        "block",
        "low",
        "guardrail tightened",
    ),
    (
        ["gateway", "destructive_tools"],
        "item_added",
        None,
        "drop_*",
        "low",
        "approval gate widened",
    ),
    (["gateway", "budgets", "fleet", "limit_usd"], "changed", 100, 200, "high", "limit raised"),
    (["harness_limits", "max_steps"], "changed", 100, 80, "low", "limit lowered"),
    (
        ["mcp_servers", "github", "tools", "destructive"],
        "item_removed",
        "merge_pr",
        None,
        "high",
        "tool no longer classed destructive",
    ),
    (
        ["mcp_servers", "github", "tools", "write"],
        "item_removed",
        "comment",
        None,
        "low",
        "catalog narrowed",
    ),
    (["mcp_servers", "jira"], "added", None, {"url": "x"}, "medium", "MCP server added"),
    (
        ["models", "triage", "fallback"],
        "item_added",
        None,
        "big",
        "high",
        "virtual model routing changed",
    ),
    (
        ["models", "old", "deprecated"],
        "added",
        None,
        {"after": "2027-01-01"},
        "medium",
        "deprecation changed",
    ),
    (["providers", "openai", "credentials"], "changed", "a", "b", "medium", "provider changed"),
    (["gateway", "caching", "ttl"], "changed", "1h", "2h", "low", "gateway caching changed"),
]


@pytest.mark.parametrize(("path", "kind", "before", "after", "risk", "reason"), POLICY_RULES)
def test_policy_rules(
    path: list[str], kind: str, before: Any, after: Any, risk: str, reason: str
) -> None:
    assert classify_policy(path, kind, before, after) == (risk, reason)


@pytest.mark.parametrize(
    ("removed", "risk"),
    [
        ("merge_pr", "high"),  # nothing in the head covers it any more
        ("delete_branch", "low"),  # the head's delete_* still does
    ],
)
def test_destructive_pattern_removed_with_head_catalog(removed: str, risk: str) -> None:
    path = ["mcp_servers", "github", "tools", "destructive"]
    head = {**CTX, "catalog": {"github": {"destructive": ["delete_*"]}}}
    assert classify_policy(path, "item_removed", removed, None, head)[0] == risk
