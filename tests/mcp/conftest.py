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
    # A loop of the fleet with no grant on any MCP server.
    "outsider": "tok-outsider",
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
            "outsider": loop(TOKENS["outsider"], {}),
        },
        "approvers": [{"name": "alice", "token_sha256": [sha(APPROVER)]}],
    }
    cfg.update(overrides)
    return cfg


def serve_github(leak: bool = False) -> ServerThread:
    """The fake github behind its bearer check, not started; ``thread.seen`` logs every
    request that reaches it. With ``leak``, it has tools that echo its credential."""
    server = fakegithub.build(leak=GITHUB_KEY if leak else None)
    seen: list[dict[str, Any]] = []
    thread = ServerThread(require_bearer(server.streamable_http_app(), GITHUB_KEY, seen))
    thread.stall = server.stall  # type: ignore[attr-defined]
    thread.seen = seen  # type: ignore[attr-defined]
    thread.executed = server.executed  # type: ignore[attr-defined]
    return thread


@contextlib.contextmanager
def running_github(
    monkeypatch: pytest.MonkeyPatch, leak: bool = False
) -> Iterator[tuple[ServerThread, list[dict[str, Any]]]]:
    monkeypatch.setenv("TEST_GITHUB_MCP_KEY", GITHUB_KEY)
    thread = serve_github(leak)
    stall: dict[int, threading.Event] = thread.stall  # type: ignore[attr-defined]
    with thread:
        try:
            yield thread, thread.executed  # type: ignore[attr-defined]
        finally:
            for hold in stall.values():
                hold.set()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServerThread, list[dict[str, Any]]]]:
    with running_github(monkeypatch) as served:
        yield served


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

    @property
    def seen(self) -> list[dict[str, Any]]:
        """Every request that reached the MCP server (method, session, body)."""
        return self.github.seen  # type: ignore[attr-defined, no-any-return]

    def reconfigure(self, cfg: dict[str, Any]) -> None:
        """Restart the gateway on another config (same store)."""
        self.stop()
        self.config_path.write_bytes(orjson.dumps(cfg))
        self.start()


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
def leaky_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The stack with a careless github whose tools, progress, errors, resources and prompts
    echo its credential."""
    with running_github(monkeypatch, leak=True) as (thread, executed):
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
