"""Every way a run ends, each through the real gateway with the official clients: the scripted
provider plays the models, the fake github server (official mcp SDK) the tools."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.harness.conftest import LOOP, Stack
from tests.harness.scripted import call, plan

MAKER = LOOP
REVIEWER = f"{LOOP}/reviewer"


def finish(summary: str = "fixed #1", **extra: Any) -> dict[str, Any]:
    return call("finish", summary=summary, artifacts=["pr:fix"], **extra)


PASS = call("verdict", verdict="pass", reasons=["the PR fixes the issue"])
FAIL = call("verdict", verdict="fail", reasons=["the PR does not link the issue"])


async def gateway_traces(stack: Stack, run: str) -> list[dict[str, Any]]:
    from gateway.store import open_store

    st = open_store(stack.store_url)
    try:
        return await st.query_traces(run=run)
    finally:
        await st.close()


async def test_done_after_the_checker_passes(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(
        call("github__get_issue", number=1),
        call("github__create_pr", title="Fix #1"),
        finish(),
    )
    stack.scripted.policies[REVIEWER] = plan(PASS)
    end = await stack.run("r-done", stack.content())
    assert end.outcome == "done", end
    assert end.summary == "fixed #1"
    assert [c["args"]["title"] for c in stack.calls("create_pr")] == ["Fix #1"]
    journal = stack.journal("r-done")
    kinds = [(e["kind"], e["scope"]) for e in journal]
    assert kinds == [
        ("context", "main"),
        ("model", "main"),
        ("tool", "main"),
        ("model", "main"),
        ("tool", "main"),
        ("model", "main"),
        ("model", "check:1"),
        ("verdict", "check:1"),
        ("outcome", "main"),
    ]
    record = stack.record("r-done").json()["run"]
    assert record["status"] == "ended" and record["outcome"] == "done"
    assert record["steps"] == 4 and record["tokens"] == 4 * 120
    assert record["cost_usd"] == pytest.approx(4 * (100 * 1.0 + 20 * 4.0) / 1e6)
    # Every call carried the run id, its step and the caller's own identity.
    seen = await gateway_traces(stack, "r-done")
    llm = [t for t in seen if t["kind"] == "llm"]
    tools = [t for t in seen if t["kind"] == "tool"]
    assert [(t["member"], t["step"]) for t in llm] == [
        (MAKER, 1),
        (MAKER, 2),
        (MAKER, 3),
        (REVIEWER, 4),
    ]
    assert [(t["tool"], t["step"]) for t in tools] == [("get_issue", 1), ("create_pr", 2)]
    assert all(t["idempotency_key"] for t in tools)


async def test_rejected_when_the_checker_rounds_are_used_up(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(finish(), finish("again"), finish("third"))
    stack.scripted.policies[REVIEWER] = plan(FAIL)
    end = await stack.run("r-rej", stack.content(harness={"maxCheckerRounds": 2}))
    assert end.outcome == "rejected"
    assert "does not link" in (end.detail or "")
    verdicts = [e for e in stack.journal("r-rej") if e["kind"] == "verdict"]
    assert [(v["round"], v["verdict"]) for v in verdicts] == [(1, "fail"), (2, "fail")]
    # The first rejection went back to the maker with the reasons.
    second = stack.scripted.requests(MAKER)[1]
    assert "rejected the claim (round 1 of 2)" in second.last_tool_result()
    assert "does not link the issue" in second.last_tool_result()


async def test_max_steps(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = lambda req: call("github__get_issue", number=req.turn)
    end = await stack.run("r-steps", stack.content(harness={"maxSteps": 5}))
    assert end.outcome == "max_steps"
    assert end.usage.steps == 5
    assert len(stack.scripted.requests(MAKER)) == 5


async def test_max_tokens(stack: Stack) -> None:
    big = {"prompt_tokens": 4000, "completion_tokens": 1000}
    stack.scripted.policies[MAKER] = lambda req: {
        **call("github__get_issue", number=req.turn),
        "usage": big,
    }
    end = await stack.run("r-tok", stack.content(harness={"maxTokensPerRun": 12_000}))
    assert end.outcome == "max_tokens"
    assert end.usage.steps == 3 and end.usage.tokens == 15_000


async def test_timeout_counts_the_time_of_earlier_attempts(stack: Stack) -> None:
    # An earlier attempt ran 59 min 59.5 s of a 60-minute run; this one has half a second.
    token = {"authorization": "Bearer tok-triage"}
    base = f"{stack.url}/v1/fleet/runs/r-time"
    assert httpx.put(base, json={"trigger": "manual"}, headers=token).status_code in (200, 201)
    ctx = {
        "seq": 1,
        "kind": "context",
        "scope": "main",
        "attempt": 1,
        "t": 3599.5,
        "state": {},
        "state_version": 0,
    }
    r = httpx.put(f"{base}/journal/1", json={"entry": ctx}, headers=token)
    assert r.status_code == 201, r.text
    stack.scripted.policies[MAKER] = lambda req: call("github__get_issue", number=req.turn)
    stack.scripted.delay_s = 0.3
    end = await stack.run("r-time", stack.content(harness={"maxRunMinutes": 60}), resume=True)
    assert end.outcome == "timeout"
    assert "60 minutes" in (end.detail or "")


async def test_stalled_on_a_repeated_call(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = lambda req: call("github__get_issue", number=7)
    end = await stack.run("r-stall", stack.content(harness={"stallAfterSteps": 3}))
    assert end.outcome == "stalled"
    # The first call is progress (a new result); the next three repeat it.
    assert end.usage.steps == 4
    assert len(stack.calls("get_issue")) == 4


async def test_stalled_on_replies_without_tool_calls(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = lambda req: {"content": "thinking about it"}
    end = await stack.run("r-idle", stack.content(harness={"stallAfterSteps": 3}))
    assert end.outcome == "stalled" and end.usage.steps == 3


async def test_budget_exceeded(stack: Stack) -> None:
    stack.reconfigure(budget={"limit_usd": 0.000001, "window": "day"})
    stack.scripted.policies[MAKER] = plan(call("github__get_issue", number=1))
    end = await stack.run("r-budget", stack.content())
    assert end.outcome == "budget_exceeded"
    assert "budget" in (end.detail or "")
    assert stack.scripted.requests(MAKER) == []


async def test_guardrail_blocked(stack: Stack) -> None:
    stack.reconfigure(
        guardrails={"llm_input": [{"detector": "prompt-injection", "action": "block"}]}
    )
    # Issue 666 carries a prompt injection; the next model call would send it on.
    stack.scripted.policies[MAKER] = plan(call("github__get_issue", number=666), finish())
    end = await stack.run("r-guard", stack.content())
    assert end.outcome == "guardrail_blocked"
    assert len(stack.scripted.requests(MAKER)) == 1


async def test_provider_unavailable(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = lambda req: {"status": 503, "content": "overloaded"}
    end = await stack.run("r-down", stack.content())
    assert end.outcome == "provider_unavailable"
    # The gateway's one attempt, then the harness's own bounded retries.
    assert len(stack.scripted.requests(MAKER)) == 3


async def test_error_when_the_model_is_not_granted(stack: Stack) -> None:
    end = await stack.run("r-err", stack.content(model="not-in-the-fleet"))
    assert end.outcome == "error"
    assert "not-in-the-fleet" in (end.detail or "")
    record = stack.record("r-err").json()["run"]
    assert record["outcome"] == "error" and record["status"] == "ended"


async def test_an_ended_run_is_not_run_again(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(finish())
    stack.scripted.policies[REVIEWER] = plan(PASS)
    path = stack.content()
    first = await stack.run("r-once", path)
    again = await stack.run("r-once", path, resume=True)
    assert first.outcome == again.outcome == "done"
    assert len(stack.scripted.requests(MAKER)) == 1


async def test_a_loop_token_cannot_read_another_loops_runs_or_state(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(call("state", action="set", value={"next": 2}), finish())
    stack.scripted.policies[REVIEWER] = plan(PASS)
    end = await stack.run("r-mine", stack.content())
    assert end.outcome == "done"
    assert stack.state().json()["value"] == {"next": 2}
    other = "tok-other"
    assert stack.record("r-mine", token=other).status_code == 404
    assert stack.state(token=other).status_code == 403
    listed = httpx.get(
        f"{stack.url}/v1/fleet/runs?loop={LOOP}", headers={"authorization": f"Bearer {other}"}
    ).json()["runs"]
    assert listed == []
    # The checker's own token may read its loop's run, and cannot write to it.
    reviewer = "tok-triage-reviewer"
    assert stack.record("r-mine", token=reviewer).status_code == 200
    r = httpx.patch(
        f"{stack.url}/v1/fleet/runs/r-mine",
        json={"summary": "forged"},
        headers={"authorization": f"Bearer {reviewer}"},
    )
    assert r.status_code == 403


async def test_state_over_the_limit_is_the_tools_error(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(
        call("state", action="set", value={"blob": "x" * 70_000}), finish()
    )
    stack.scripted.policies[REVIEWER] = plan(PASS)
    end = await stack.run("r-big", stack.content())
    assert end.outcome == "done"
    tool = next(e for e in stack.journal("r-big") if e["kind"] == "tool")
    assert tool["result"]["is_error"] and "state not written" in tool["result"]["content"]
    assert stack.state().json()["version"] == 0
