"""The official ``mcp`` client, unchanged, on ``/mcp`` with the run headers: without the
tasks capability a gated call answers ``NOT DONE`` and ``fleet_approval_result`` fetches
the outcome; declaring ``tasks`` (protocol 2025-11-25) the same call is a task that
completes once a human approves. Edge cases of each are tests/mcp/test_approvals.py and
tests/mcp/test_tasks.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import mcp.types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.clients.conftest import TOKEN, Fleet
from tests.mcp.conftest import mcp_session


def text(result: types.CallToolResult) -> str:
    (part,) = result.content
    assert isinstance(part, types.TextContent)
    return part.text


async def test_without_tasks_a_gated_call_waits_then_is_fetched(world: Fleet) -> None:
    run = world.open_run()
    async with mcp_session(world.url + "/mcp", TOKEN, **{"x-fleet-run-id": run}) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"github__get_issue", "github__merge_pr", "fleet_approval_result"} <= set(tools)
        assert tools["github__merge_pr"].execution is None  # no tasks offered to this client
        read = await session.call_tool("github__get_issue", {"number": 31})
        assert not read.is_error and text(read) == "issue 31: the build is red"
        gated = await session.call_tool("github__merge_pr", {"number": 31})
        assert gated.is_error and text(gated).startswith("NOT DONE")
        assert gated.structured_content is not None
        approval: dict[str, Any] = gated.structured_content["fleet_approval"]
        assert approval["state"] == "pending" and approval["fetch_with"] == "fleet_approval_result"
        assert {"number": 31} not in [c["args"] for c in world.calls("merge_pr")]
        waiting = await session.call_tool("fleet_approval_result", {"approval_id": approval["id"]})
        assert text(waiting).startswith("NOT DONE")
        assert world.approve(approval["id"])["state"] == "executed"
        fetched = await session.call_tool("fleet_approval_result", {"approval_id": approval["id"]})
        assert not fetched.is_error and text(fetched) == "merged #31"
    assert [c for c in world.calls("merge_pr") if c["args"] == {"number": 31}] == [
        {"tool": "merge_pr", "args": {"number": 31}}
    ]
    steps = await world.read_traces(run)
    assert [s["tool"] for s in steps][:2] == ["get_issue", "merge_pr"]


@contextlib.asynccontextmanager
async def tasks_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    """The SDK's session initialized by hand, as a client that declares ``tasks`` does
    (the SDK's own initialize() declares no tasks capability)."""
    caps = types.ClientCapabilities(
        tasks=types.ClientTasksCapability(
            list=types.TasksListCapability(), cancel=types.TasksCancelCapability()
        )
    )
    async with (
        httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        params = types.InitializeRequestParams(
            protocol_version="2025-11-25",
            capabilities=caps,
            client_info=types.Implementation(name="clients-matrix", version="1"),
        )
        result = await session.send_request(
            types.InitializeRequest(params=params), types.InitializeResult
        )
        session.adopt(result)
        await session.send_notification(types.InitializedNotification())
        yield session


async def test_with_tasks_a_gated_call_is_a_task(world: Fleet) -> None:
    async with tasks_session(world.url + "/mcp", TOKEN) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["github__merge_pr"].execution is not None
        assert tools["github__merge_pr"].execution.task_support == "optional"
        read = await session.call_tool("github__get_issue", {"number": 32})
        assert text(read) == "issue 32: the build is red"
        created = await session.send_request(
            types.CallToolRequest(
                params=types.CallToolRequestParams(
                    name="github__merge_pr",
                    arguments={"number": 32},
                    task=types.TaskMetadata(ttl=60_000),
                )
            ),
            types.CreateTaskResult,
        )
        task = created.task
        assert task.task_id.startswith("ap_") and task.status == "working"
        assert world.approve(task.task_id)["state"] == "executed"
        status = await session.send_request(
            types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task.task_id)),
            types.GetTaskResult,
        )
        assert status.status == "completed"
        result = await session.send_request(
            types.GetTaskPayloadRequest(
                params=types.GetTaskPayloadRequestParams(task_id=task.task_id)
            ),
            types.CallToolResult,
        )
        assert not result.is_error and text(result) == "merged #32"
    assert [c for c in world.calls("merge_pr") if c["args"] == {"number": 32}] == [
        {"tool": "merge_pr", "args": {"number": 32}}
    ]
