"""Gateway test fixtures: a fake provider, real redis-server, and gateways on loopback ports."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from fleet.gwconfig import load
from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.store import open_store
from tests.gateway.fakes import PROVIDER_KEY, FakeProvider, ServerThread, free_port

TOKENS = {"alpha": "tok-alpha", "alpha/checker": "tok-alpha-checker", "beta": "tok-beta"}
APPROVER_TOKEN = "tok-approver-alice"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def base_config(provider_url: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "fleet": "testfleet",
        "timezone": "Europe/Berlin",
        "providers": {
            "p1": {
                "base_url": provider_url + "/v1",
                "timeout_s": 2.0,
                "credentials": {"secret": "p1", "env": "TEST_PROVIDER_KEY"},
            },
            "p2": {
                "base_url": provider_url + "/v1",
                "timeout_s": 2.0,
                "credentials": {"secret": "p2", "env": "TEST_PROVIDER_KEY"},
            },
        },
        "models": {
            "main": {
                "targets": [{"provider": "p1", "model": "m-main", "weight": 1}],
                "fallback": ["backup"],
            },
            "backup": {"targets": [{"provider": "p2", "model": "m-backup"}]},
            "split": {
                "targets": [
                    {"provider": "p1", "model": "m-a", "weight": 3},
                    {"provider": "p2", "model": "m-b", "weight": 1},
                ]
            },
        },
        "pricing": {
            "p1/m-main": {"input": 1.0, "output": 2.0},
            "p2/m-backup": {"input": 0.5, "output": 1.0},
            "p1/m-a": {"input": 1.0, "output": 1.0},
            "p2/m-b": {"input": 1.0, "output": 1.0},
        },
        "retries": {"attempts": 2, "on_status_codes": [429, 500, 502, 503], "backoff_ms": 5},
        "caching": {"type": "exact", "ttl_s": 60, "namespace_per": "agent"},
        "guardrails": {
            "llm_input": [{"detector": "prompt-injection", "action": "block"}],
            "llm_output": [{"detector": "pii", "action": "redact"}],
        },
        "loops": {
            "alpha": {
                "token_sha256": [sha(TOKENS["alpha"])],
                "models": ["backup", "main", "split"],
                "owner": "team-a",
                "team": "platform",
                "stage": "production",
                "budget": {"limit_usd": 100.0, "window": "day", "alert_at": [50, 100]},
                "harness": {"max_steps": 50, "max_tokens_per_run": 100000},
                "subagents": {
                    "checker": {
                        "token_sha256": [sha(TOKENS["alpha/checker"])],
                        "models": ["backup"],
                        "role": "checker",
                    }
                },
            },
            "beta": {
                "token_sha256": [sha(TOKENS["beta"])],
                "models": ["backup"],
                "owner": "team-b",
                "team": "product",
                "stage": "staging",
            },
        },
        "approvers": [{"name": "alice", "token_sha256": [sha(APPROVER_TOKEN)]}],
    }
    for dotted, value in overrides.items():
        node = cfg
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    load(cfg)
    return cfg


@pytest.fixture(scope="session")
def provider() -> Iterator[tuple[FakeProvider, str]]:
    os.environ["TEST_PROVIDER_KEY"] = PROVIDER_KEY
    fake = FakeProvider()
    with ServerThread(fake) as server:
        yield fake, server.url


@pytest.fixture
def fake(provider: tuple[FakeProvider, str]) -> FakeProvider:
    fake_provider = provider[0]
    fake_provider.scripts.clear()
    fake_provider.seen.clear()
    fake_provider.auth.clear()
    return fake_provider


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/install-redis (make test does)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "sqlite-full", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'gateway.sqlite3'}"
    if request.param == "sqlite-full":
        # an fsync of the journal per group of settlements, from a worker thread.
        return f"sqlite:{tmp_path / 'gateway.sqlite3'}?synchronous=full"
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    return url


GatewayFactory = Callable[..., contextlib.AbstractContextManager[tuple[str, Gateway, Path]]]


@pytest.fixture
def gateway(provider: tuple[FakeProvider, str], tmp_path: Path) -> GatewayFactory:
    """``with gateway(store_url, **config_overrides) as (url, app, config_path)``."""

    @contextlib.contextmanager
    def start(store: str | None = None, **overrides: Any) -> Iterator[tuple[str, Gateway, Path]]:
        path = tmp_path / "gateway.json"
        path.write_bytes(orjson.dumps(base_config(provider[1], **overrides)))
        app = Gateway(
            ConfigHolder.from_file(path),
            open_store(store or f"sqlite:{tmp_path / 'gw.sqlite3'}"),
            watch_interval=0.05,
        )
        with ServerThread(app, loop="uvloop") as server:
            yield server.url, app, path

    return start
