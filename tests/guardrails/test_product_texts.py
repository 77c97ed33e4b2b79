"""The product's own texts never trip a guardrail: a loop whose first request is blocked
by its fleet's ``llm_input`` policy cannot run at all. The harness's built-in tools, its
task and nudge prompts, and the bundled examples' instructions and tool descriptions
are scanned as the gateway scans a request, with the northwind fleet's own rules."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import orjson
import pytest
from ruamel.yaml import YAML

from fleet.gwconfig import GwGuardrail
from fleet.runtime import prompts
from gateway.guardrails import SEPARATOR, apply_to_request, request_slots
from harness import builtins

ROOT = Path(__file__).resolve().parents[2]
RULES = [
    GwGuardrail(detector="prompt-injection", action="block"),
    GwGuardrail(detector="secrets", action="block"),
]
BUILTINS = [
    builtins.LOAD_SKILL,
    builtins.STATE,
    builtins.RUN_COMMAND,
    builtins.FINISH,
    builtins.VERDICT,
    builtins.delegate_tool({"reviewer": "a triage-default sub-agent"}),
]


def _demo_tools() -> list[dict[str, Any]]:
    """The fake GitHub server's tools as the harness offers them (name and docstring)."""
    tree = ast.parse((ROOT / "examples/northwind/demo/github_mcp.py").read_text())
    tools = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "tool"
            for d in node.decorator_list
        ):
            tools.append(
                builtins.function(
                    f"github__{node.name}",
                    ast.get_docstring(node) or "",
                    {"type": "object", "properties": {}},
                )
            )
    assert tools, "the demo server's tools were not found"
    return tools


# Eval cases whose tool results plant an attack on purpose (the loop must not follow it).
PLANTS_AN_ATTACK = {"examples/northwind/evals/bug-report-triage/planted-instruction.yaml"}


def eval_requests() -> list[tuple[str, dict[str, Any]]]:
    """Each request the harness makes in the bundled eval cases whose tool results are
    benign, step by step: its task, then each tool call and its result as the case scripts
    them, with the nudge and the tools offered. The gateway reads a request's texts
    joined, so the task and a tool result share windows."""
    out = []
    yaml = YAML(typ="safe")
    for path in sorted((ROOT / "examples").glob("*/evals/*/*.yaml")):
        name = path.relative_to(ROOT).as_posix()
        if name in PLANTS_AN_ATTACK:
            continue
        case = yaml.load(path.read_text(encoding="utf-8"))
        given = case.get("input") or {}
        loop = path.parent.name
        for trigger in ("manual", "webhook"):
            state = given.get("state")
            text = prompts.task(loop, trigger, given.get("payload"), state, 1 if state else 0)
            messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
            for i, step in enumerate(case.get("tools") or []):
                call = {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": step["call"],
                        "arguments": orjson.dumps(step.get("arguments") or {}).decode(),
                    },
                }
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": str(step["result"])}
                )
                body = {
                    "model": "m",
                    "messages": [*messages, {"role": "user", "content": prompts.NUDGE}],
                    "tools": BUILTINS + _demo_tools(),
                }
                out.append((f"{name} step {i + 1} ({trigger})", body))
    return out


def joined(body: dict[str, Any]) -> str:
    """A request's texts as the gateway's detectors read them."""
    return SEPARATOR.join(s.get() for s in request_slots(body))


def _blocked(body: dict[str, Any]) -> list[str]:
    verdicts, _ = apply_to_request(body, "llm_input", RULES)
    return [f"{v.detector}: {', '.join(v.kinds)}" for v in verdicts if v.action == "block"]


def test_builtin_tools_and_prompts_pass() -> None:
    task = prompts.task("bug-report-triage", "manual", None, {}, 0)
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": task},
            {"role": "assistant", "content": "Reading the issue first."},
            {"role": "user", "content": prompts.NUDGE},
        ],
        "tools": BUILTINS + _demo_tools(),
    }
    assert _blocked(body) == []


@pytest.mark.parametrize("tool", BUILTINS, ids=lambda t: t["function"]["name"])
def test_each_builtin_tool_passes(tool: dict[str, Any]) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "go"}], "tools": [tool]}
    assert _blocked(body) == []


@pytest.mark.parametrize(
    "prompt",
    sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.md")),
)
def test_example_texts_pass_as_user_content(prompt: str) -> None:
    """Instructions and skills as a model might be handed them in a user turn."""
    text = (ROOT / prompt).read_text()
    blocked = _blocked({"model": "m", "messages": [{"role": "user", "content": text}]})
    assert blocked == [], prompt


def test_eval_conversations_pass() -> None:
    """The harness's requests through the bundled eval cases, tool results included."""
    requests = eval_requests()
    assert len(requests) >= 8
    blocked = {name: b for name, body in requests if (b := _blocked(body))}
    assert blocked == {}
