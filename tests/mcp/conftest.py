"""MCP test fixtures: the fake github server (official SDK) behind the gateway, on
loopback ports, and the SDK's client as the loop."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
import redis
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.store import open_store
from tests.gateway.conftest import redis_server  # noqa: F401  (a fixture)
from tests.gateway.fakes import ServerThread
from tests.mcp import fakegithub
from tests.mcp.asgiauth import require_bearer

GITHUB_KEY = "ghp-server-credential-never-shown"
TOKENS = {
    "triage": "tok-triage",
    "triage/reviewer": "tok-triage-reviewer",
    "release": "tok-release",
}
APPROVER = "tok-approver-alice"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config(github_url: str, **overrides: Any) -> dict[str, Any]:
    def loop(token: str, mcp: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
        return {
            "token_sha256": [sha(token)],
            "models": [],
            "mcp": mcp,
            "owner": "team-a",
            "team": "platform",
            "stage": "production",
            **extra,
        }

    cfg: dict[str, Any] = {
        "fleet": "testfleet",
        "guardrails": {
            "mcp_pre_tool": [
                {"detector": "prompt-injection", "action": "block"},
                {"detector": "secrets", "action": "block"},
            ],
            "mcp_post_tool": [
                {"detector": "prompt-injection", "action": "block"},
                {"detector": "secrets", "action": "redact"},
                {"detector": "pii", "action": "redact"},
            ],
        },
        "destructive_tools": ["delete_*"],
        "mcp_servers": {
            "github": {
                "url": github_url + "/mcp",
                "tools": {
                    "read": ["get_*", "list_*"],
                    "write": ["create_pr", "comment"],
                    "destructive": ["merge_pr"],
                },
                "credentials": {"secret": "github-mcp", "env": "TEST_GITHUB_MCP_KEY"},
            }
        },
        "loops": {
            "triage": loop(
                TOKENS["triage"],
                {"github": ["read", "comment"]},
                subagents={
                    # A checker whose config wrongly grants write: the role still forbids it.
                    "reviewer": {
                        "token_sha256": [sha(TOKENS["triage/reviewer"])],
                        "models": [],
                        "mcp": {"github": ["read", "write"]},
                        "role": "checker",
                    }
                },
            ),
            "release": loop(
                TOKENS["release"], {"github": ["read", "write", "destructive", "delete_*"]}
            ),
        },
        "approvers": [{"name": "alice", "token_sha256": [sha(APPROVER)]}],
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServerThread, list[dict[str, Any]]]]:
    monkeypatch.setenv("TEST_GITHUB_MCP_KEY", GITHUB_KEY)
    server = fakegithub.build()
    stall: dict[int, threading.Event] = server.stall  # type: ignore[attr-defined]
    thread = ServerThread(require_bearer(server.streamable_http_app(), GITHUB_KEY))
    thread.stall = stall  # type: ignore[attr-defined]
    with thread:
        try:
            yield thread, server.executed  # type: ignore[attr-defined]
        finally:
            for hold in stall.values():
                hold.set()


@dataclass
class Stack:
    """The fake server, and a way to start (and restart) the gateway on one store file."""

    github: ServerThread
    executed: list[dict[str, Any]]
    config_path: Path
    store_path: Path
    gateway: ServerThread | None = None
    store_url: str = ""

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def start(self) -> ServerThread:
        gw = Gateway(
            ConfigHolder.from_file(self.config_path),
            open_store(self.store_url or f"sqlite:{self.store_path}"),
            watch_interval=0,
        )
        self.gateway = ServerThread(gw).__enter__()
        return self.gateway

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.__exit__(None, None, None)
            self.gateway = None

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [e for e in self.executed if e["tool"] == tool]


@pytest.fixture
def stack(tmp_path: Path, github: tuple[ServerThread, list[dict[str, Any]]]) -> Iterator[Stack]:
    thread, executed = github
    path = tmp_path / "gateway.json"
    path.write_bytes(orjson.dumps(config(thread.url)))
    s = Stack(thread, executed, path, tmp_path / "gw.sqlite3")
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def redis_stack(
    tmp_path: Path,
    github: tuple[ServerThread, list[dict[str, Any]]],
    request: pytest.FixtureRequest,
) -> Iterator[Stack]:
    """The same stack on a Redis store (what gateway replicas share)."""
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    thread, executed = github
    path = tmp_path / "gateway.json"
    path.write_bytes(orjson.dumps(config(thread.url)))
    s = Stack(thread, executed, path, tmp_path / "unused.sqlite3", store_url=url)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@contextlib.asynccontextmanager
async def mcp_session(
    url: str, token: str, *, elicitation: Any = None, **headers: str
) -> AsyncIterator[ClientSession]:
    """The official SDK client, as a loop would use it, through the gateway."""
    async with (
        httpx2.AsyncClient(
            headers={"authorization": f"Bearer {token}", **headers}, timeout=30
        ) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, elicitation_callback=elicitation) as session,
    ):
        await session.initialize()
        yield session


async def traces(stack: Stack, run: str | None) -> list[dict[str, Any]]:
    """Trace steps in the gateway's store file, as ``fleetctl runs show`` reads them."""
    store = open_store(f"sqlite:{stack.store_path}")
    try:
        return await store.query_traces(run=run)
    finally:
        await store.close()


Session = Callable[..., contextlib.AbstractAsyncContextManager[ClientSession]]
