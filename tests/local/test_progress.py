"""What ``fleetctl run`` prints for a stream of harness events."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from fleetctl.local.progress import Progress, Result


def render(events: list[dict[str, Any]], result: Result | None = None) -> str:
    out = io.StringIO()
    p = Progress(replay="a title", console=Console(file=out, width=200, highlight=False))
    p.banner()
    with p:
        for ev in events:
            p.event(ev)
    if result is not None:
        p.result(result)
    return out.getvalue()


def step(n: int, member: str, *tools: str, replayed: bool = False) -> dict[str, Any]:
    return {
        "event": "step",
        "step": n,
        "member": member,
        "tokens": 100 * n,
        "cost_usd": 0.001 * n,
        "tool_calls": list(tools),
        "replayed": replayed,
    }


def tool(n: int, name: str, outcome: str = "ok") -> dict[str, Any]:
    return {"event": "tool", "step": n, "member": "l", "name": name, "outcome": outcome}


def test_a_resumed_run_sums_up_its_replayed_steps() -> None:
    text = render(
        [
            {"event": "start", "run": "r1", "loop": "l", "attempt": 2, "resumed": True},
            step(1, "l", "github__get_issue", replayed=True),
            tool(1, "github__get_issue"),
            step(2, "l/reviewer", "verdict", replayed=True),
            {"event": "verdict", "round": 1, "verdict": "fail", "reasons": ["no link"]},
            step(3, "l", "github__merge_pr", replayed=True),
            tool(3, "github__merge_pr"),  # the approved call's result, fetched now: live
            step(4, "l", "finish"),
            {"event": "verdict", "round": 2, "verdict": "pass", "reasons": ["ok"]},
            {"event": "end", "run": "r1", "outcome": "done", "steps": 4, "tokens": 400},
        ]
    )
    assert text.splitlines() == [
        "REPLAY of a title: model output is a recorded transcript, not a live model",
        "run r1 · loop l · attempt 2 (resumed)",
        "  steps 1–3 replayed from the journal: no model or tool call sent again",
        "  step 3   l  github__merge_pr  ok",
        "  checker round 2: pass: ok",
    ]


def test_a_live_run_and_its_result() -> None:
    text = render(
        [
            {"event": "start", "run": "r1", "loop": "l", "attempt": 1, "resumed": False},
            step(1, "l", "github__merge_pr"),
            tool(1, "github__merge_pr", "pending"),
            {"event": "end", "run": "r1", "outcome": "awaiting_approval", "steps": 1},
        ],
        Result(
            "r1", "l", "awaiting_approval", 1, 1234, 0.0042, "waits", None, "ap_1", "a title",
            ["fleetctl approvals approve ap_1 --local x"],
        ),
    )  # fmt: skip
    assert text.splitlines()[2:] == [
        "  step 1   l  github__merge_pr  pending approval",
        "",
        "awaiting_approval · 1 step · 1,234 tokens · $0.0042 · run r1",
        "  waits",
        "REPLAY of a title: model output is a recorded transcript, not a live model",
        "next:",
        "  fleetctl approvals approve ap_1 --local x",
    ]
