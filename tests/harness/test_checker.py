"""The checker: a fresh conversation under its own read-only token, a verdict that must be
clear, and delegation to a maker sub-agent that returns only its final answer."""

from __future__ import annotations

from tests.harness.conftest import LOOP, Stack
from tests.harness.scripted import call, plan

MAKER = LOOP
REVIEWER = f"{LOOP}/reviewer"
HELPER = f"{LOOP}/helper"
FINISH = call("finish", summary="fixed", artifacts=["pr:1"])


async def test_a_reply_without_a_verdict_is_a_fail(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(FINISH, FINISH)
    answers = iter(
        [
            {"content": "Looks great to me, ship it!"},
            call("verdict", verdict="pass", reasons=["ok"]),
        ]
    )
    stack.scripted.policies[REVIEWER] = lambda req: next(answers)
    end = await stack.run("r-nv", stack.content())
    assert end.outcome == "done"
    verdicts = [e for e in stack.journal("r-nv") if e["kind"] == "verdict"]
    assert [(v["verdict"], v["clear"]) for v in verdicts] == [("fail", False), ("pass", True)]
    assert "no clear verdict" in stack.scripted.requests(MAKER)[1].last_tool_result()


async def test_the_checker_reviews_in_its_own_context(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(call("github__get_issue", number=3), FINISH)
    stack.scripted.policies[REVIEWER] = plan(
        call("github__list_prs"), call("verdict", verdict="pass", reasons=["PR open"])
    )
    end = await stack.run("r-ctx", stack.content())
    assert end.outcome == "done"
    first = stack.scripted.requests(REVIEWER)[0]
    assert first.messages[0]["role"] == "system" and "Be strict" in first.messages[0]["content"]
    assert "issue 3: the build is red" in first.messages[1]["content"]  # the evidence
    assert "Read the issue, fix it" in first.messages[0]["content"]  # the task it judges
    assert "verdict" in first.tools and "finish" not in first.tools
    assert "github__create_pr" not in first.tools  # the gateway lists read tools only


async def test_a_checker_cannot_write_even_when_its_model_asks(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(FINISH)
    stack.scripted.policies[REVIEWER] = plan(
        call("github__create_pr", title="checker sneaks a PR"),
        call("github__comment", number=1, body="checker comments"),
        call("verdict", verdict="pass", reasons=["fine"]),
    )
    end = await stack.run("r-cw", stack.content())
    assert end.outcome == "done"
    assert stack.calls("create_pr") == [] and stack.calls("comment") == []
    results = [e for e in stack.journal("r-cw") if e["kind"] == "tool"]
    assert [r["result"]["is_error"] for r in results] == [True, True]
    assert "no tool 'github__create_pr' is offered" in results[0]["result"]["content"]


async def test_delegate_returns_only_the_final_answer(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(
        call("delegate", agent="helper", task="Summarise issue 9"), FINISH
    )
    stack.scripted.policies[HELPER] = plan(
        call("github__get_issue", number=9), {"content": "Issue 9: the build is red."}
    )
    stack.scripted.policies[REVIEWER] = plan(call("verdict", verdict="pass", reasons=["ok"]))
    end = await stack.run("r-del", stack.content())
    assert end.outcome == "done"
    second = stack.scripted.requests(MAKER)[1]
    assert second.last_tool_result() == "Issue 9: the build is red."
    # The helper's own context: its system prompt and the task, nothing of the maker's.
    helper = stack.scripted.requests(HELPER)[0]
    assert helper.messages[1]["content"] == "Summarise issue 9"
    assert "delegate" not in helper.tools and "finish" not in helper.tools
    scopes = {e["scope"] for e in stack.journal("r-del")}
    assert any(s.startswith("delegate:") for s in scopes)


async def test_done_command_decides_with_its_exit_code(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(FINISH, call("run_command", command="touch ok"), FINISH)
    end = await stack.run("r-cmd", stack.content(done={"command": "test -f ok"}, subagents=[]))
    assert end.outcome == "done"
    commands = [e for e in stack.journal("r-cmd") if e["kind"] == "command"]
    assert [c["exit_code"] for c in commands] == [1, 0]
    assert "exited 1" in stack.scripted.requests(MAKER)[1].last_tool_result()
