"""Approval gates end to end: a destructive call becomes a durable pending request,
an approver (never a loop) decides over HTTP, the call runs exactly once, and the
run fetches the stored result — also across a gateway restart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.mcp.conftest import APPROVER, TOKENS, Stack, mcp_session


def api(stack: Stack, method: str, path: str, token: str = APPROVER, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, stack.url + path, headers={"authorization": f"Bearer {token}"}, timeout=10, **kw
    )


async def request_merge(stack: Stack, number: int) -> str:
    async with mcp_session(
        stack.url + "/mcp/github", TOKENS["release"], **{"x-fleet-run-id": "run-9"}
    ) as session:
        result = await session.call_tool("merge_pr", {"number": number})
    # Pending is not success: an error result naming the id and the fetch.
    assert result.is_error
    approval = result.meta["fleet/approval"]  # type: ignore[index]
    assert approval["state"] == "pending"
    assert result.structured_content == {"fleet_approval": approval}
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("NOT DONE: github.merge_pr has not run")
    assert approval["id"] in text and '"approval_id"' in text and "fleet_approval_result" in text
    return str(approval["id"])


async def fetch(stack: Stack, approval_id: str, token: str = TOKENS["release"]) -> Any:
    async with mcp_session(stack.url + "/mcp/github", token) as session:
        return await session.call_tool("fleet_approval_result", {"approval_id": approval_id})


async def test_pending_approved_executed_once_and_fetched(stack: Stack) -> None:
    approval_id = await request_merge(stack, 5)
    assert stack.calls("merge_pr") == []

    pending = api(stack, "GET", "/approvals").json()["approvals"]
    assert [(r["id"], r["loop"], r["run"], r["tool"], r["arguments"]) for r in pending] == [
        (approval_id, "release", "run-9", "merge_pr", {"number": 5})
    ]
    waiting = await fetch(stack, approval_id)
    assert waiting.is_error and waiting.content[0].text.startswith("NOT DONE")
    assert "still pending" in waiting.content[0].text

    approved = api(
        stack, "POST", f"/approvals/{approval_id}/approve", json={"reason": "release train"}
    )
    assert approved.status_code == 200
    row = approved.json()
    assert (row["state"], row["decided_by"], row["reason"]) == (
        "executed",
        "alice",
        "release train",
    )
    assert row["result"]["content"][0]["text"] == "merged #5"

    again = api(stack, "POST", f"/approvals/{approval_id}/approve")
    assert again.status_code == 409
    assert stack.calls("merge_pr") == [{"tool": "merge_pr", "args": {"number": 5}}]

    fetched = await fetch(stack, approval_id)
    assert not fetched.is_error
    assert fetched.content[0].text == "merged #5"


async def test_denied_call_never_runs(stack: Stack) -> None:
    approval_id = await request_merge(stack, 6)
    denied = api(
        stack, "POST", f"/approvals/{approval_id}/deny", json={"reason": "not on a Friday"}
    )
    assert denied.json()["state"] == "denied"
    fetched = await fetch(stack, approval_id)
    assert fetched.is_error
    assert "was denied by alice: not on a Friday" in fetched.content[0].text
    assert stack.calls("merge_pr") == []
    assert api(stack, "POST", f"/approvals/{approval_id}/approve").status_code == 409


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (TOKENS["release"], 403, "not_an_approver"),
        (TOKENS["triage/reviewer"], 403, "not_an_approver"),
        ("tok-nobody", 401, "invalid_token"),
    ],
)
async def test_loop_tokens_cannot_approve(stack: Stack, token: str, status: int, code: str) -> None:
    approval_id = await request_merge(stack, 7)
    response = api(stack, "POST", f"/approvals/{approval_id}/approve", token=token)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert api(stack, "GET", f"/approvals/{approval_id}").json()["state"] == "pending"
    assert stack.calls("merge_pr") == []


async def test_other_loops_cannot_fetch_the_result(stack: Stack) -> None:
    approval_id = await request_merge(stack, 8)
    api(stack, "POST", f"/approvals/{approval_id}/approve")
    fetched = await fetch(stack, approval_id, TOKENS["triage"])
    assert fetched.is_error
    assert f"no approval request '{approval_id}' for loop 'triage'" in fetched.content[0].text


async def test_org_wide_destructive_glob_needs_approval(stack: Stack) -> None:
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"]) as session:
        result = await session.call_tool("delete_branch", {"name": "old"})
    assert result.meta["fleet/approval"]["state"] == "pending"  # type: ignore[index]
    assert stack.calls("delete_branch") == []


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_pending_request_survives_a_restart(
    request: pytest.FixtureRequest, backend: str
) -> None:
    stack: Stack = request.getfixturevalue("stack" if backend == "sqlite" else "redis_stack")
    approval_id = await request_merge(stack, 11)
    stack.stop()
    stack.start()  # a new process view: new port, same store file
    listed = api(stack, "GET", "/approvals").json()["approvals"]
    assert [r["id"] for r in listed] == [approval_id]
    assert api(stack, "POST", f"/approvals/{approval_id}/approve").json()["state"] == "executed"
    fetched = await fetch(stack, approval_id)
    assert fetched.content[0].text == "merged #11"
    assert len(stack.calls("merge_pr")) == 1


async def test_retried_destructive_call_reuses_its_request(stack: Stack) -> None:
    first = await request_merge(stack, 12)
    second = await request_merge(stack, 12)  # same run, no step: same default key
    assert first == second
    assert len(api(stack, "GET", "/approvals").json()["approvals"]) == 1
