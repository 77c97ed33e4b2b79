"""A destructive call pauses the run (exit 0, no pod held), an approver decides, and the
resumed run fetches the result; a denial reaches the maker as that tool's error. The model
never sees "pending" as a result."""

from __future__ import annotations

from tests.harness.conftest import LOOP, Stack
from tests.harness.scripted import call, plan

MAKER = LOOP
REVIEWER = f"{LOOP}/reviewer"
PASS = call("verdict", verdict="pass", reasons=["merged"])


def story(stack: Stack) -> None:
    stack.scripted.policies[MAKER] = plan(
        call("github__create_pr", title="Fix #5"),
        call("github__merge_pr", number=5),
        call("finish", summary="merged the fix", artifacts=["pr:5"]),
    )
    stack.scripted.policies[REVIEWER] = plan(PASS)


async def test_pause_approve_resume_done(stack: Stack) -> None:
    story(stack)
    path = stack.content()
    paused = await stack.run("r-ap", path)
    assert paused.outcome == "awaiting_approval"
    assert paused.approval and paused.approval.startswith("ap_")
    record = stack.record("r-ap").json()["run"]
    assert record["status"] == "awaiting_approval"
    assert record["approval"]["approval_id"] == paused.approval
    assert stack.calls("merge_pr") == []
    assert [e["kind"] for e in stack.journal("r-ap")][-1] == "approval"

    # Resumed before anyone decided: still waiting, nothing new journalled or called.
    size = len(stack.journal("r-ap"))
    again = await stack.run("r-ap", path, resume=True)
    assert again.outcome == "awaiting_approval" and again.approval == paused.approval
    assert len(stack.journal("r-ap")) == size
    assert len(stack.scripted.requests(MAKER)) == 2

    stack.decide(paused.approval, "approve", "looks right")
    assert len(stack.calls("merge_pr")) == 1
    done = await stack.run("r-ap", path, resume=True)
    assert done.outcome == "done", done
    assert len(stack.calls("merge_pr")) == 1
    assert [c["args"]["title"] for c in stack.calls("create_pr")] == ["Fix #5"]
    # The maker's third turn saw the merge's real result, never the pending notice.
    third = stack.scripted.requests(MAKER)[2]
    assert "merged #5" in third.last_tool_result()
    assert all(
        "pending" not in str(m.get("content")) for m in third.messages if m["role"] == "tool"
    )
    record = stack.record("r-ap").json()["run"]
    assert record["outcome"] == "done" and record["attempts"] == 3
    assert record["approval"] is None


async def test_denied_reaches_the_maker_as_the_tools_error(stack: Stack) -> None:
    story(stack)
    path = stack.content()
    paused = await stack.run("r-deny", path)
    assert paused.approval
    stack.decide(paused.approval, "deny", "not on a Friday")
    done = await stack.run("r-deny", path, resume=True)
    assert done.outcome == "done"
    assert stack.calls("merge_pr") == []
    third = stack.scripted.requests(MAKER)[2]
    assert "denied" in third.last_tool_result() and "not on a Friday" in third.last_tool_result()
    tool = [e for e in stack.journal("r-deny") if e["kind"] == "tool"][-1]
    assert tool["name"] == "github__merge_pr" and tool["result"]["is_error"]
