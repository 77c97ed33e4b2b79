"""At most once: a retried write (same run, step, tool and arguments, or the same
explicit key) runs once — after a dropped connection mid-call, concurrently, and
after completion."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from tests.mcp.conftest import TOKENS, Stack, mcp_session

RUN = {"x-fleet-run-id": "run-42", "x-fleet-step": "3"}


async def test_retry_after_dropped_connection_runs_once(stack: Stack) -> None:
    url = stack.url + "/mcp/github"
    headers = {
        "authorization": f"Bearer {TOKENS['release']}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        **RUN,
    }
    args = {"title": "fix flake", "delay_s": 0.8}
    async with httpx.AsyncClient() as client:
        init = await client.post(
            url,
            headers=headers,
            content=orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "loop", "version": "1"},
                    },
                }
            ),
        )
        headers["mcp-session-id"] = init.headers["mcp-session-id"]
        headers["mcp-protocol-version"] = "2025-06-18"
        await client.post(
            url, headers=headers, content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        )
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "create_pr", "arguments": args},
        }
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, headers=headers, content=orjson.dumps(call), timeout=0.2)

    # The loop comes back with the SDK while the first call is still running upstream.
    async with mcp_session(url, TOKENS["release"], **RUN) as session:
        retried = await session.call_tool("create_pr", args)
        later = await session.call_tool("create_pr", args)
    assert retried.content[0].text == later.content[0].text == "opened PR 'fix flake'"  # type: ignore[union-attr]
    assert stack.calls("create_pr") == [{"tool": "create_pr", "args": {"title": "fix flake"}}]


async def test_concurrent_duplicates_wait_for_the_first(stack: Stack) -> None:
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"], **RUN) as session:
        results = await asyncio.gather(
            *(session.call_tool("create_pr", {"title": "same", "delay_s": 0.3}) for _ in range(8))
        )
    assert {r.content[0].text for r in results} == {"opened PR 'same'"}  # type: ignore[union-attr]
    assert len(stack.calls("create_pr")) == 1


@pytest.mark.parametrize(
    ("headers", "calls", "runs"),
    [
        (
            {"idempotency-key": "open-pr-1"},
            [("a", "1"), ("a", "2")],
            1,
        ),  # explicit key wins over the step
        ({}, [("a", "1"), ("a", "1")], 1),  # same run, step, arguments
        ({}, [("a", "1"), ("a", "2")], 2),  # a new step is a new call
        ({}, [("a", "1"), ("b", "1")], 2),  # a new run too
    ],
)
async def test_keys(
    stack: Stack, headers: dict[str, str], calls: list[tuple[str, str]], runs: int
) -> None:
    for run, step in calls:
        async with mcp_session(
            stack.url + "/mcp/github",
            TOKENS["release"],
            **{"x-fleet-run-id": run, "x-fleet-step": step},
            **headers,
        ) as session:
            result = await session.call_tool("create_pr", {"title": "t"})
            assert not result.is_error
    assert len(stack.calls("create_pr")) == runs


async def test_reads_without_key_are_not_deduplicated(stack: Stack) -> None:
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"], **RUN) as session:
        for _ in range(2):
            await session.call_tool("get_issue", {"number": 1})
    assert len(stack.calls("get_issue")) == 2
