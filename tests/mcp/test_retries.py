"""Stock clients send no idempotency key and no run id: a tools/call re-sent in the same
MCP session with the same JSON-RPC id, tool and arguments is a retry, answered from the
ledger (also after a gateway restart) and run once. The first call goes through the
official ``mcp`` client; the re-send replays its exact bytes in its session over HTTP,
as a transport that lost the answer would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import orjson
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.conftest import TOKENS, Stack


class Recorder:
    """What the SDK client sent: its session id and the body of each tools/call."""

    def __init__(self) -> None:
        self.session = ""
        self.calls: list[bytes] = []

    async def request(self, request: httpx2.Request) -> None:
        body = request.content
        if body and b'"tools/call"' in body:
            self.calls.append(body)

    async def response(self, response: httpx2.Response) -> None:
        self.session = response.headers.get("mcp-session-id") or self.session


@contextlib.asynccontextmanager
async def recorded(url: str) -> AsyncIterator[tuple[ClientSession, Recorder]]:
    rec = Recorder()
    async with (
        httpx2.AsyncClient(
            headers={"authorization": f"Bearer {TOKENS['release']}"},
            timeout=30,
            event_hooks={"request": [rec.request], "response": [rec.response]},
        ) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session, rec


def resend(url: str, session: str, body: bytes) -> dict[str, Any]:
    answer = httpx.post(
        url,
        content=body,
        headers={
            "authorization": f"Bearer {TOKENS['release']}",
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-session-id": session,
            "mcp-protocol-version": "2025-11-25",
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return orjson.loads(answer.content)  # type: ignore[no-any-return]


def other_args(body: bytes, **args: Any) -> bytes:
    msg = orjson.loads(body)
    msg["params"]["arguments"] = {**msg["params"]["arguments"], **args}
    return orjson.dumps(msg)


@pytest.mark.parametrize(
    ("path", "tool"), [("/mcp/github", "create_pr"), ("/mcp", "github__create_pr")]
)
async def test_resent_request_runs_once(stack: Stack, path: str, tool: str) -> None:
    url = stack.url + path
    async with recorded(url) as (session, rec):
        first = await session.call_tool(tool, {"title": "retry me"})
        assert first.content[0].text == "opened PR 'retry me'"  # type: ignore[union-attr]
        (body,) = rec.calls
        again = resend(url, rec.session, body)
        assert again["result"]["content"][0]["text"] == "opened PR 'retry me'"
        assert again["id"] == orjson.loads(body)["id"]
        assert len(stack.calls("create_pr")) == 1
        # The same id with other arguments is another call, and so is a new id.
        resend(url, rec.session, other_args(body, title="another"))
        await session.call_tool(tool, {"title": "retry me"})
    assert [c["args"]["title"] for c in stack.calls("create_pr")] == [
        "retry me",
        "another",
        "retry me",
    ]


async def test_resent_while_running_waits_for_the_first(stack: Stack) -> None:
    url = stack.url + "/mcp"
    body = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": 41,
            "method": "tools/call",
            "params": {"name": "github__create_pr", "arguments": {"title": "slow", "delay_s": 0.5}},
        }
    )
    async with recorded(url) as (session, rec):
        await session.call_tool("github__get_issue", {"number": 1})
        answers = await asyncio.gather(
            *(asyncio.to_thread(resend, url, rec.session, body) for _ in range(3))
        )
    assert [a["result"]["content"][0]["text"] for a in answers] == ["opened PR 'slow'"] * 3
    assert len(stack.calls("create_pr")) == 1


async def test_resent_after_a_restart_is_answered_from_the_ledger(stack: Stack) -> None:
    url = stack.url + "/mcp/github"
    async with recorded(url) as (session, rec):
        await session.call_tool("comment", {"number": 3, "body": "on it"})
        (body,) = rec.calls
        stack.stop()
        stack.start()
        # The restarted gateway knows the session (its key is in the store) and the call.
        again = resend(stack.url + "/mcp/github", rec.session, body)
        assert again["result"]["content"][0]["text"] == "commented on #3"
    assert stack.calls("comment") == [{"tool": "comment", "args": {"number": 3, "body": "on it"}}]
