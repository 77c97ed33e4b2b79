"""Approving a call whose server's credential the gateway lacks: refused before anything
is claimed or sent (as every other MCP call is), the request left pending for a later
approval once the credential is set."""

from __future__ import annotations

import httpx
import pytest

from tests.mcp.conftest import APPROVER, GITHUB_KEY, TOKENS, Stack, mcp_session


async def test_approval_without_the_servers_credential_runs_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with mcp_session(stack.url + "/mcp", TOKENS["release"]) as session:
        pending = await session.call_tool("github__merge_pr", {"number": 31})
    approval = pending.meta["fleet/approval"]["id"]  # type: ignore[index]
    monkeypatch.delenv("TEST_GITHUB_MCP_KEY")
    reached = len(stack.seen)
    refused = httpx.post(
        f"{stack.url}/approvals/{approval}/approve",
        headers={"authorization": f"Bearer {APPROVER}"},
        timeout=10,
    )
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "credentials_missing"
    assert "set TEST_GITHUB_MCP_KEY in the gateway's environment" in error["message"]
    assert len(stack.seen) == reached and stack.calls("merge_pr") == []
    shown = httpx.get(
        f"{stack.url}/approvals/{approval}",
        headers={"authorization": f"Bearer {APPROVER}"},
        timeout=10,
    ).json()
    assert shown["state"] == "pending"

    monkeypatch.setenv("TEST_GITHUB_MCP_KEY", GITHUB_KEY)
    approved = httpx.post(
        f"{stack.url}/approvals/{approval}/approve",
        headers={"authorization": f"Bearer {APPROVER}"},
        timeout=10,
    )
    assert approved.json()["state"] == "executed"
    assert stack.calls("merge_pr") == [{"tool": "merge_pr", "args": {"number": 31}}]
