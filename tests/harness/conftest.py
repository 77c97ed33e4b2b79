"""Harness test stack: the scripted provider, the fake github MCP server (official SDK), and
the real gateway between them and the harness, all on loopback; a pod's content layout in a
temporary directory. The harness runs in-process (``stack.run``) or as a ``fleet-harness``
process (``stack.spawn``), the way the sandbox pod runs it, for the kill -9 tests."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from fleet.gwconfig import GatewayConfig
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.store import open_store
from harness import settings as harness_settings
from harness.events import Events
from harness.runner import End, run
from tests.gateway.conftest import redis_server  # noqa: F401  (a fixture)
from tests.gateway.fakes import ServerThread
from tests.harness.scripted import Scripted
from tests.mcp import fakegithub
from tests.mcp.asgiauth import require_bearer

LOOP = "triage"
GITHUB_KEY = "ghp-server-credential"
TOKENS = {
    "triage": "tok-triage",
    "triage/reviewer": "tok-triage-reviewer",
    "triage/helper": "tok-triage-helper",
    "other": "tok-other",
}
APPROVER = "tok-approver-alice"
ROOT = Path(__file__).resolve().parents[2]


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def gateway_config(provider: str, github: str, **loop_extra: Any) -> dict[str, Any]:
    def ident(token: str, mcp: dict[str, list[str]], role: str) -> dict[str, Any]:
        return {"token_sha256": [sha(token)], "models": ["m"], "mcp": mcp, "role": role}

    def loop(token: str, **extra: Any) -> dict[str, Any]:
        return {
            **ident(token, {"github": ["read", "write", "destructive"]}, "loop"),
            "owner": "team-a",
            "team": "platform",
            "stage": "production",
            **extra,
        }

    return {
        "fleet": "testfleet",
        "providers": {"scripted": {"base_url": provider + "/v1", "timeout_s": 10.0}},
        "models": {"m": {"targets": [{"provider": "scripted", "model": "fake-1"}]}},
        "pricing": {"scripted/fake-1": {"input": 1.0, "output": 4.0}},
        "retries": {"attempts": 1, "on_status_codes": [500, 502, 503], "backoff_ms": 0},
        "caching": {"type": "none"},
        "destructive_tools": ["delete_*"],
        "mcp_servers": {
            "github": {
                "url": github + "/mcp",
                "tools": {
                    "read": ["get_*", "list_*"],
                    "write": ["create_pr", "comment"],
                    "destructive": ["merge_pr"],
                },
                "credentials": {"secret": "github-mcp", "env": "TEST_GITHUB_MCP_KEY"},
            }
        },
        "loops": {
            LOOP: loop(
                TOKENS[LOOP],
                subagents={
                    # Granted write by mistake: the checker role still forbids it at the gateway.
                    "reviewer": ident(
                        TOKENS["triage/reviewer"], {"github": ["read", "write"]}, "checker"
                    ),
                    "helper": ident(TOKENS["triage/helper"], {"github": ["read"]}, "maker"),
                },
                **loop_extra,
            ),
            "other": loop(TOKENS["other"]),
        },
        "approvers": [{"name": "alice", "token_sha256": [sha(APPROVER)]}],
    }


def definition(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "m",
        "instructions": {"name": "triage"},
        "skills": [{"name": "runbook"}],
        "mcpServers": {"github": {"tools": ["read", "write", "destructive"]}},
        "subagents": [
            {
                "name": "reviewer",
                "role": "checker",
                "instructions": {"name": "review"},
                "mcpServers": {"github": {"tools": ["read"]}},
            },
            {"name": "helper", "role": "maker", "mcpServers": {"github": {"tools": ["read"]}}},
        ],
        "harness": {"maxSteps": 40, "maxTokensPerRun": 1_000_000, "stallAfterSteps": 4},
        "done": {"checker": "reviewer"},
    }
    base.update(spec)
    return {"name": LOOP, "fleet": "testfleet", "spec": base}


def write_content(root: Path, doc: dict[str, Any]) -> Path:
    """The pod's /etc/fleet for ``doc``, as the operator mounts it."""
    (root / "loop").mkdir(parents=True, exist_ok=True)
    path = root / "loop" / "definition.json"
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    prompts = {
        "instructions/triage": "# Triage\n\nRead the issue, fix it, open a PR.\n",
        "subagents/reviewer/instructions/review": "# Review\n\nBe strict.\n",
    }
    for where, text in prompts.items():
        (root / where).mkdir(parents=True, exist_ok=True)
        (root / where / "PROMPT.md").write_text(text)
    skill = root / "skills" / "runbook"
    skill.mkdir(parents=True, exist_ok=True)
    (skill / "SKILL.md").write_text("# Runbook\n\nHow to label an issue.\n\nLabel by area.\n")
    (skill / "labels__areas.md").write_text("area/api, area/web\n")
    tokens = root / "tokens"
    tokens.mkdir(exist_ok=True)
    for name in ("reviewer", "helper"):
        (tokens / name).write_text(TOKENS[f"{LOOP}/{name}"] + "\n")
    return path


@dataclass
class Stack:
    tmp: Path
    scripted: Scripted
    provider: ServerThread
    github: ServerThread
    executed: list[dict[str, Any]]
    store_url: str
    config_path: Path
    gateway: ServerThread | None = None
    runs: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def start(self) -> None:
        gw = Gateway(
            ConfigHolder.from_file(self.config_path), open_store(self.store_url), watch_interval=0
        )
        self.gateway = ServerThread(gw).__enter__()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.__exit__(None, None, None)
            self.gateway = None

    def reconfigure(self, **overrides: Any) -> None:
        """Restart the gateway on the same store with a changed config (loop fields or top-level)."""
        cfg = gateway_config(self.provider.url, self.github.url)
        for key, value in overrides.items():
            if key in {f.name for f in fields(GatewayConfig)}:
                cfg[key] = value
            else:
                cfg["loops"][LOOP][key] = value
        self.config_path.write_bytes(orjson.dumps(cfg))
        self.stop()
        self.start()

    def content(self, **spec: Any) -> Path:
        """A fresh content root for a definition (spec fields override the default)."""
        self.runs += 1
        return write_content(self.tmp / f"etc-{self.runs}", definition(**spec))

    def env(
        self, run_id: str, definition: Path, payload: Any = None, **extra: str
    ) -> dict[str, str]:
        env = {
            "FLEET_GATEWAY_URL": self.url,
            "FLEET_GATEWAY_TOKEN": TOKENS[LOOP],
            "FLEET_LOOP": LOOP,
            "FLEET_RUN_ID": run_id,
            "FLEET_DEFINITION": str(definition),
            "FLEET_CONTENT_DIR": str(definition.parent.parent),
            "FLEET_WORKSPACE": str(self.tmp / f"ws-{run_id}"),
            "FLEET_TRIGGER": "manual",
            **self.extra_env,
            **extra,
        }
        if payload is not None:
            env["FLEET_INPUT"] = orjson.dumps(payload).decode()
        return env

    async def run(
        self, run_id: str, definition: Path, payload: Any = None, *, resume: bool = False
    ) -> End:
        s = harness_settings.load(
            str(definition), run_id if resume else None, self.env(run_id, definition, payload)
        )
        return await run(s, Events("none"))

    def spawn(
        self,
        run_id: str,
        definition: Path,
        payload: Any = None,
        *,
        resume: bool = False,
        **extra: str,
    ) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env(run_id, definition, payload, **extra)}
        args = [sys.executable, "-m", "harness", "run", "--definition", str(definition)]
        if resume:
            args += ["--resume", run_id]
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def record(self, run_id: str, token: str = TOKENS[LOOP]) -> httpx.Response:
        return httpx.get(
            f"{self.url}/v1/fleet/runs/{run_id}",
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        r = self.record(run_id)
        r.raise_for_status()
        return list(r.json()["journal"])

    def state(self, loop: str = LOOP, token: str = TOKENS[LOOP]) -> httpx.Response:
        return httpx.get(
            f"{self.url}/v1/fleet/loops/{loop}/state",
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )

    def decide(self, approval_id: str, action: str, reason: str = "ok") -> dict[str, Any]:
        r = httpx.post(
            f"{self.url}/approvals/{approval_id}/{action}",
            headers={"authorization": f"Bearer {APPROVER}"},
            json={"reason": reason},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [e for e in self.executed if e["tool"] == tool]


def _stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Iterator[Stack]:
    monkeypatch.setenv("TEST_GITHUB_MCP_KEY", GITHUB_KEY)
    tmp_path.mkdir(parents=True, exist_ok=True)
    scripted = Scripted()
    server = fakegithub.build()
    with (
        ServerThread(scripted) as provider,
        ServerThread(require_bearer(server.streamable_http_app(), GITHUB_KEY)) as github,
    ):
        config = tmp_path / "gateway.json"
        config.write_bytes(orjson.dumps(gateway_config(provider.url, github.url)))
        stack = Stack(
            tmp_path,
            scripted,
            provider,
            github,
            server.executed,
            store_url,
            config,  # type: ignore[attr-defined]
        )
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    yield from _stack(tmp_path, monkeypatch, f"sqlite:{tmp_path / 'gw.sqlite3'}")


@pytest.fixture
def redis_stack(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    yield from _stack(tmp_path / "redis", monkeypatch, url)


@pytest.fixture(params=["sqlite", "redis"])
def any_stack(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """The same stack on each store."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_server")
        redis.Redis.from_url(url).flushdb()
    else:
        url = f"sqlite:{tmp_path / 'gw.sqlite3'}"
    yield from _stack(tmp_path, monkeypatch, url)


def wait(
    proc: subprocess.Popen[bytes], timeout: float = 60
) -> tuple[int, list[dict[str, Any]], str]:
    out, err = proc.communicate(timeout=timeout)
    events = [orjson.loads(line) for line in out.splitlines() if line.startswith(b"{")]
    return proc.returncode, events, err.decode()


__all__ = ["Stack", "asyncio", "wait"]
