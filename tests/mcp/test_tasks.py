"""Approvals as MCP tasks on ``/mcp``: the official ``mcp`` client (its transport and
session, with the 2025-11-25 ``tasks`` capability declared in its initialize) against
the fake github, an approver deciding over HTTP, and the store kept across a restart
on SQLite and on Redis."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import mcp.types as types
import orjson
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcp.conftest import APPROVER, TOKENS, Stack, config, mcp_session, traces

CAPS = types.ClientCapabilities(
    tasks=types.ClientTasksCapability(
        list=types.TasksListCapability(), cancel=types.TasksCancelCapability()
    )
)


@contextlib.asynccontextmanager
async def tasks_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    """The SDK's client session, initialized by hand to declare the tasks capability
    (its own initialize() declares none)."""
    async with (
        httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        params = types.InitializeRequestParams(
            protocol_version="2025-11-25",
            capabilities=CAPS,
            client_info=types.Implementation(name="tasks-test", version="1"),
        )
        result = await session.send_request(
            types.InitializeRequest(params=params), types.InitializeResult
        )
        assert result.capabilities.tasks is not None
        session.adopt(result)
        await session.send_notification(types.InitializedNotification())
        yield session


async def call_as_task(session: ClientSession, tool: str, args: dict[str, Any]) -> types.Task:
    request = types.CallToolRequest(
        params=types.CallToolRequestParams(
            name=tool, arguments=args, task=types.TaskMetadata(ttl=60_000)
        )
    )
    created = await session.send_request(request, types.CreateTaskResult)
    return created.task


async def get(session: ClientSession, task_id: str) -> types.GetTaskResult:
    return await session.send_request(
        types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)),
        types.GetTaskResult,
    )


async def payload(session: ClientSession, task_id: str) -> types.CallToolResult:
    return await session.send_request(
        types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id)),
        types.CallToolResult,
    )


async def listed(session: ClientSession) -> list[str]:
    result = await session.send_request(types.ListTasksRequest(), types.ListTasksResult)
    return [t.task_id for t in result.tasks]


async def cancel(session: ClientSession, task_id: str) -> types.CancelTaskResult:
    return await session.send_request(
        types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task_id)),
        types.CancelTaskResult,
    )


def decide(stack: Stack, approval_id: str, action: str, reason: str = "") -> httpx.Response:
    return httpx.post(
        f"{stack.url}/approvals/{approval_id}/{action}",
        headers={"authorization": f"Bearer {APPROVER}"},
        json={"reason": reason} if reason else None,
        timeout=10,
    )


async def test_gated_call_is_a_task_completed_on_approval(stack: Stack) -> None:
    async with tasks_session(stack.url + "/mcp", TOKENS["release"]) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["github__merge_pr"].execution is not None
        assert tools["github__merge_pr"].execution.task_support == "optional"
        assert tools["github__get_issue"].execution is None
        task = await call_as_task(session, "github__merge_pr", {"number": 21})
        assert task.task_id.startswith("ap_") and task.status == "working"
        assert "waiting for a human to approve" in (task.status_message or "")
        assert await listed(session) == [task.task_id]
        assert (await get(session, task.task_id)).status == "working"
        assert stack.calls("merge_pr") == []

        assert decide(stack, task.task_id, "approve").json()["state"] == "executed"
        done = await get(session, task.task_id)
        assert done.status == "completed" and "ran after approval by alice" in (
            done.status_message or ""
        )
        for _ in range(2):  # the stored result, never a second run
            result = await payload(session, task.task_id)
            assert not result.is_error and result.content[0].text == "merged #21"  # type: ignore[union-attr]
            assert result.meta is not None
            assert result.meta["io.modelcontextprotocol/related-task"] == {"taskId": task.task_id}
    assert stack.calls("merge_pr") == [{"tool": "merge_pr", "args": {"number": 21}}]


async def test_denied_fails_and_cancelled_never_runs(stack: Stack) -> None:
    async with tasks_session(stack.url + "/mcp", TOKENS["release"]) as session:
        denied = await call_as_task(session, "github__merge_pr", {"number": 22})
        decide(stack, denied.task_id, "deny", "not on a Friday")
        failed = await get(session, denied.task_id)
        assert failed.status == "failed"
        assert (
            failed.status_message == "denied by alice: not on a Friday; github.merge_pr did not run"
        )
        refusal = await payload(session, denied.task_id)
        assert refusal.is_error and "was denied by alice" in refusal.content[0].text  # type: ignore[union-attr]

        withdrawn = await call_as_task(session, "github__delete_branch", {"name": "old"})
        cancelled = await cancel(session, withdrawn.task_id)
        assert cancelled.status == "cancelled"
        assert decide(stack, withdrawn.task_id, "approve").status_code == 409
        assert (await get(session, withdrawn.task_id)).status == "cancelled"
        with pytest.raises(MCPError) as again:
            await cancel(session, withdrawn.task_id)
        assert "is cancelled (cancelled): it already ended" in again.value.error.message
        with pytest.raises(MCPError) as ended:
            await cancel(session, denied.task_id)
        assert "is failed (denied)" in ended.value.error.message
    assert stack.calls("merge_pr") == [] and stack.calls("delete_branch") == []


async def test_tasks_of_another_identity_are_unknown(stack: Stack) -> None:
    async with tasks_session(stack.url + "/mcp", TOKENS["release"]) as session:
        task = await call_as_task(session, "github__merge_pr", {"number": 23})
    async with tasks_session(stack.url + "/mcp", TOKENS["triage"]) as other:
        assert await listed(other) == []
        for made_up in (task.task_id, "ap_0000000000000000"):
            with pytest.raises(MCPError) as info:
                await get(other, made_up)
            assert info.value.error.code == -32602
            assert f"no task '{made_up}' of 'triage'" in info.value.error.message
            with pytest.raises(MCPError):
                await cancel(other, made_up)
    assert decide(stack, task.task_id, "deny").status_code == 200


async def test_tasks_result_waits_for_the_decision(stack: Stack) -> None:
    async with tasks_session(stack.url + "/mcp", TOKENS["release"]) as session:
        task = await call_as_task(session, "github__merge_pr", {"number": 24})
        later = threading.Timer(0.5, decide, (stack, task.task_id, "approve"))
        later.start()
        started = time.monotonic()
        result = await payload(session, task.task_id)
        later.join()
        assert result.content[0].text == "merged #24"  # type: ignore[union-attr]
        assert time.monotonic() - started >= 0.4


async def test_without_tasks_a_gated_call_is_not_done(stack: Stack) -> None:
    # A client that declares no tasks capability: a task field is ignored, the notice is given.
    async with mcp_session(stack.url + "/mcp", TOKENS["release"]) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["github__merge_pr"].execution is None
        pending = await session.call_tool("github__merge_pr", {"number": 25})
        assert pending.is_error
        assert pending.content[0].text.startswith("NOT DONE: github.merge_pr has not run")  # type: ignore[union-attr]
        approval = pending.meta["fleet/approval"]["id"]  # type: ignore[index]
        decide(stack, approval, "approve")
        fetched = await session.call_tool("fleet_approval_result", {"approval_id": approval})
        assert fetched.content[0].text == "merged #25"  # type: ignore[union-attr]
    # Traced (and counted) under the approval's server, as on /mcp/github.
    steps = [s for s in await traces(stack, None) if s["tool"] == "fleet_approval_result"]
    assert [(s["server"], s["outcome"]) for s in steps] == [("github", "fetched")]


def _post(url: str, sid: str | None, msg: dict[str, Any]) -> httpx.Response:
    headers = {
        "authorization": f"Bearer {TOKENS['release']}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    if sid:
        headers["mcp-session-id"] = sid
    return httpx.post(url + "/mcp", content=orjson.dumps(msg), headers=headers, timeout=30)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
async def test_tasks_survive_a_restart(store: str, request: pytest.FixtureRequest) -> None:
    stack: Stack = request.getfixturevalue("stack" if store == "sqlite" else "redis_stack")
    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {"tasks": {"list": {}, "cancel": {}}},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    sid = _post(
        stack.url, None, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}
    )
    session = sid.headers["mcp-session-id"]
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "github__merge_pr", "arguments": {"number": 26}, "task": {}},
    }
    task_id = _post(stack.url, session, call).json()["result"]["task"]["taskId"]
    stack.stop()
    stack.start()
    # The same session, through the restarted gateway: its row and the task are in the store.
    got = _post(
        stack.url,
        session,
        {"jsonrpc": "2.0", "id": 3, "method": "tasks/get", "params": {"taskId": task_id}},
    ).json()
    assert got["result"]["status"] == "working"
    assert decide(stack, task_id, "approve").status_code == 200
    listed_now = _post(stack.url, session, {"jsonrpc": "2.0", "id": 4, "method": "tasks/list"})
    assert [(t["taskId"], t["status"]) for t in listed_now.json()["result"]["tasks"]] == [
        (task_id, "completed")
    ]
    result = _post(
        stack.url,
        session,
        {"jsonrpc": "2.0", "id": 5, "method": "tasks/result", "params": {"taskId": task_id}},
    ).json()["result"]
    assert result["content"][0]["text"] == "merged #26"
    assert stack.calls("merge_pr") == [{"tool": "merge_pr", "args": {"number": 26}}]


async def test_an_expired_request_is_a_failed_task(stack: Stack) -> None:
    stack.reconfigure(config(stack.github.url, approval_ttl_s=0.5))
    async with tasks_session(stack.url + "/mcp", TOKENS["release"]) as session:
        task = await call_as_task(session, "github__merge_pr", {"number": 27})
        assert task.ttl == 500
        time.sleep(0.7)
        expired = await get(session, task.task_id)
        assert expired.status == "failed"
        assert (
            expired.status_message
            == "expired before anyone approved it; github.merge_pr did not run"
        )
        assert decide(stack, task.task_id, "approve").status_code == 409
        result = await payload(session, task.task_id)
        assert result.is_error and "was expired" in result.content[0].text  # type: ignore[union-attr]
    assert stack.calls("merge_pr") == []


async def test_tasks_on_a_single_server_route(stack: Stack) -> None:
    async with tasks_session(stack.url + "/mcp/github", TOKENS["release"]) as session:
        caps = session.server_capabilities
        assert caps is not None and caps.tasks is not None  # the gateway's, on github's answer
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["merge_pr"].execution is not None
        assert tools["merge_pr"].execution.task_support == "optional"
        task = await call_as_task(session, "merge_pr", {"number": 28})
        assert (await get(session, task.task_id)).status == "working"
        assert await listed(session) == [task.task_id]
        decide(stack, task.task_id, "approve")
        assert (await payload(session, task.task_id)).content[0].text == "merged #28"  # type: ignore[union-attr]
        # A task id that is not one of the caller's approvals is the server's to answer.
        with pytest.raises(MCPError):
            await get(session, "ap_0000000000000000")
    assert stack.calls("merge_pr") == [{"tool": "merge_pr", "args": {"number": 28}}]
