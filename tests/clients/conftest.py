"""The stock-client matrix's world: one gateway per test module on a loopback port, a
scripted OpenAI-compatible provider behind it (chat completions whole and streamed, tool
calls, embeddings) and the SDK-built fake github MCP server (a read tool, a write tool and
a destructive one that waits for a human).

Every client under test is used unchanged: only its base URL, its API key (the loop's
gateway token) and default headers for run correlation are set. The model's answers are
the scripts' own words, never a model's. The libraries are kept off the network: tracing
and telemetry are switched off, and any name lookup or connection that is not loopback is
refused and counted, and a module that made one fails (``offline``).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.store import open_store
from tests.gateway.conftest import APPROVER_TOKEN, TOKENS, base_config
from tests.gateway.fakes import PROVIDER_KEY, FakeProvider, ServerThread, Step
from tests.gateway.test_responses import Scripted, Turn
from tests.mcp.conftest import GITHUB_KEY, serve_github
from tests.mcp.conftest import config as mcp_config

__all__ = ["Step", "Turn"]  # what scripts are written with

# Set for each module before its tests import a client library (they import them inside
# the tests): no tracing exporters, no price table fetched at import, no hub lookups; and
# the credentials the gateway gives the provider and the MCP server.
ENV = {
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "HF_HUB_OFFLINE": "1",
    "TEST_PROVIDER_KEY": PROVIDER_KEY,
    "TEST_GITHUB_MCP_KEY": GITHUB_KEY,
}

TOKEN = TOKENS["alpha"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Provider:
    """Chat completions and Responses from the scripted provider; embeddings from the
    gateway tests' fake provider (they each speak what the other lacks)."""

    chat: Scripted
    embed: FakeProvider

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/embeddings"):
            await self.embed(scope, receive, send)
        else:
            await self.chat(scope, receive, send)


def fleet_config(provider_url: str, github_url: str) -> dict[str, Any]:
    """The gateway tests' fleet plus the doc's virtual models and the fake github on loop alpha:
    read, write and destructive grants (``merge_pr`` waits for a human). No answer is cached,
    so each call reaches the script."""
    github = mcp_config(github_url)["mcp_servers"]
    return base_config(
        provider_url,
        **{
            "caching": {"type": "none"},
            # The names docs/clients.md uses, so its snippets run as printed.
            "models.triage-default": {"targets": [{"provider": "p1", "model": "m-main"}]},
            "models.embed-small": {"targets": [{"provider": "p1", "model": "m-embed"}]},
            "pricing.p1/m-embed": {"input": 1.0, "output": 0.0, "embedding": 0.1},
            "loops.alpha.models": ["backup", "main", "triage-default", "embed-small"],
            "loops.alpha.mcp": {"github": ["read", "write", "destructive"]},
            "mcp_servers": github,
        },
    )


@dataclass
class Fleet:
    """One running gateway and what stands behind it, as the tests see them."""

    url: str
    app: Gateway
    provider: Provider
    executed: list[dict[str, Any]]
    store_path: Path

    @property
    def scripted(self) -> Scripted:
        return self.provider.chat

    def script(self, *turns: Turn) -> None:
        """The next answers of virtual models ``main`` and ``triage-default`` (upstream
        ``m-main``)."""
        self.scripted.script("m-main", *turns)

    def calls(self, tool: str) -> list[dict[str, Any]]:
        """Executions of a github tool, as the MCP server counted them."""
        return [e for e in self.executed if e["tool"] == tool]

    def open_run(self) -> str:
        """A run of the loop, opened the way docs/clients.md tells a stock client to."""
        answer = httpx.post(
            self.url + "/v1/fleet/runs",
            headers={"authorization": f"Bearer {TOKEN}"},
            json={"trigger": "manual"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        run: str = answer.json()["headers"]["x-fleet-run-id"]
        return run

    def approve(self, approval_id: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/approvals/{approval_id}/approve",
            headers={"authorization": f"Bearer {APPROVER_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        row: dict[str, Any] = answer.json()
        return row

    def pending(self) -> list[dict[str, Any]]:
        answer = httpx.get(
            self.url + "/approvals",
            headers={"authorization": f"Bearer {APPROVER_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["approvals"]
        return [r for r in rows if r["state"] == "pending"]

    async def read_traces(self, run: str | None = None) -> list[dict[str, Any]]:
        """Trace steps in the gateway's store file, as ``fleetctl runs show`` reads them."""
        store = open_store(f"sqlite:{self.store_path}")
        try:
            return list(await store.query_traces(run=run))
        finally:
            await store.close()

    def traces(self, run: str | None = None) -> list[dict[str, Any]]:
        """:meth:`read_traces` for a test that runs no event loop."""
        return asyncio.run(self.read_traces(run))

    def env(self, monkeypatch: pytest.MonkeyPatch, run: str) -> None:
        """What the sandbox pod's environment holds, which the doc's snippets read."""
        monkeypatch.setenv("FLEET_GATEWAY_URL", self.url)
        monkeypatch.setenv("FLEET_GATEWAY_TOKEN", TOKEN)
        monkeypatch.setenv("FLEET_RUN_ID", run)


@pytest.fixture(scope="module")
def offline() -> Iterator[list[str]]:
    """Refuse (and count) every name lookup and connection that is not loopback while the
    module runs, with :data:`ENV` set; a library that tried to phone home fails the module
    at teardown."""
    tried: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK:
            tried.append(f"lookup {name}")
            raise socket.gaierror(socket.EAI_NONAME, f"offline test: no lookup of {name}")
        return real_getaddrinfo(host, *args, **kw)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            tried.append(f"connect {address[0]}")
            raise OSError(f"offline test: no connection to {address[0]}")
        return real_connect(self, address)

    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV.items():
            mp.setenv(name, value)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        mp.setattr(socket.socket, "connect", connect)
        yield tried
    assert tried == [], f"a client library reached for the network: {tried}"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, offline: list[str]) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("clients")
    provider = Provider(Scripted(), FakeProvider())
    github = serve_github()
    with ServerThread(provider) as upstream, github:
        path = tmp / "gateway.json"
        path.write_bytes(orjson.dumps(fleet_config(upstream.url, github.url)))
        store = tmp / "gw.sqlite3"
        app = Gateway(ConfigHolder.from_file(path), open_store(f"sqlite:{store}"), watch_interval=0)
        with ServerThread(app, loop="uvloop") as gw:
            yield Fleet(gw.url, app, provider, github.executed, store)  # type: ignore[attr-defined]


@pytest.fixture
def world(fleet: Fleet) -> Fleet:
    """The module's gateway with fresh scripts: what one test scripted never reaches the next."""
    fleet.scripted.turns.clear()
    fleet.scripted.seen.clear()
    fleet.provider.embed.scripts.clear()
    fleet.provider.embed.seen.clear()
    return fleet
