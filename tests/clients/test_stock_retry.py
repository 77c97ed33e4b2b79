"""A stock client's own retry runs a write once. Between the Agents SDK's
``MCPServerStreamableHttp`` and the gateway stands a load balancer on loopback that loses
the answer of the first ``tools/call`` (the gateway ran it; the client sees a 504), so
the SDK's ``max_retry_attempts`` sends the call again as a new JSON-RPC request. With the
run id header the doc's snippet sends, the re-sent write is answered from the
idempotency ledger; without it, each request is a call of its own (why the snippet sends
it). A re-send of the same JSON-RPC request is tests/mcp/test_retries.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from agents.mcp import MCPServerStreamableHttp

from tests.clients.conftest import TOKEN, Fleet
from tests.gateway.fakes import ServerThread

HOP = {b"content-length", b"transfer-encoding", b"connection", b"host"}


@dataclass
class LossyBalancer:
    """Forwards POST and DELETE to the gateway; the first ``tools/call`` of a tool named in
    ``lose`` reaches the gateway, but its answer is replaced by a 504. GET (the optional
    server stream) is 405, which the MCP transport takes as "no stream"."""

    upstream: str
    lose: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":
            await self._answer(send, 405, [], b"")
            return
        lost = False
        if b'"tools/call"' in body:
            call = orjson.loads(body)
            self.calls.append(call)
            lost = call["params"]["name"] in self.lose
            self.lose.discard(call["params"]["name"])
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k not in HOP]
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as http:
            answer = await http.request(
                scope["method"], scope["path"], headers=headers, content=body
            )
        if lost:
            await self._answer(send, 504, [(b"content-type", b"text/plain")], b"upstream timed out")
            return
        kept = [
            (k.encode(), v.encode()) for k, v in answer.headers.items() if k.encode() not in HOP
        ]
        await self._answer(send, answer.status_code, kept, answer.content)

    @staticmethod
    async def _answer(
        send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def balancer(fleet: Fleet) -> Iterator[tuple[LossyBalancer, str]]:
    lb = LossyBalancer(fleet.url)
    with ServerThread(lb) as served:
        yield lb, served.url


async def retried_create_pr(url: str, title: str, headers: dict[str, str]) -> str:
    async with MCPServerStreamableHttp(
        params={"url": url + "/mcp", "headers": {"authorization": f"Bearer {TOKEN}", **headers}},
        name="fleet",
        max_retry_attempts=1,
        retry_backoff_seconds_base=0.01,
    ) as server:
        result = await server.call_tool("github__create_pr", {"title": title})
    assert not result.is_error
    (part,) = result.content
    return str(part.text)  # type: ignore[union-attr]


async def test_retried_write_runs_once_under_a_run_id(
    world: Fleet, balancer: tuple[LossyBalancer, str]
) -> None:
    lb, url = balancer
    lb.calls.clear()
    lb.lose.add("github__create_pr")
    run = world.open_run()
    text = await retried_create_pr(url, "fix the red build", {"x-fleet-run-id": run})
    assert text == "opened PR 'fix the red build'"
    first, second = lb.calls
    assert first["id"] != second["id"]  # the SDK's retry is a new request, not a re-send
    assert [c for c in world.calls("create_pr") if c["args"]["title"] == "fix the red build"] == [
        {"tool": "create_pr", "args": {"title": "fix the red build"}}
    ]
    steps = [s for s in await world.read_traces(run) if s.get("tool") == "create_pr"]
    assert len(steps) == 2 and steps[0]["outcome"] == "ok", steps


async def test_without_a_run_id_each_request_is_a_call(
    world: Fleet, balancer: tuple[LossyBalancer, str]
) -> None:
    lb, url = balancer
    lb.calls.clear()
    lb.lose.add("github__create_pr")
    assert await retried_create_pr(url, "unkeyed", {}) == "opened PR 'unkeyed'"
    assert len(lb.calls) == 2
    assert len([c for c in world.calls("create_pr") if c["args"]["title"] == "unkeyed"]) == 2
