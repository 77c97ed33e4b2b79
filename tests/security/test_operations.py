"""Operational mistakes get one clear error, never silence and never a traceback.

A store URL with an unknown scheme, or a SQLite path with nothing there, used to
become a new empty database; a Redis that is down made ``fleetctl cost`` print a
traceback; a credential variable missing from the gateway's environment sent
requests upstream with no auth and no word; the operator without a cluster retried
its login forever. The CLI cases run the installed ``fleetctl`` entry point in a
subprocess, so what is proven is what a user sees, top-level handler included.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from gateway.config import load_runtime
from gateway.server import build
from gateway.store import open_store
from gateway.store.base import StoreNotFound, StoreURLError
from tests.gateway.conftest import base_config
from tests.gateway.fakes import free_port

FLEETCTL = Path(sys.executable).with_name("fleetctl")
READERS = [
    ["cost"],
    ["runs", "show", "run-1"],
    ["runs", "list"],
]


def fleetctl(*args: str, cwd: Path) -> tuple[int, str, str]:
    result = subprocess.run(
        [str(FLEETCTL), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )
    return result.returncode, result.stdout, result.stderr


def one_error_line(err: str) -> str:
    """The single line a failing command prints, after checking it is just that."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "url", ["postgres://x", "mysql:fleet", "sqlite3:gw.db", "http://redis:6379"]
)
def test_an_unknown_store_scheme_is_refused_with_the_accepted_forms(
    url: str, tmp_path: Path
) -> None:
    with pytest.raises(StoreURLError) as caught:
        open_store(url)
    for form in ("sqlite:PATH", "redis://", "rediss://", "unix://"):
        assert form in str(caught.value)
    code, _, err = fleetctl("cost", "--store", url, cwd=tmp_path)
    assert code == 2
    assert f"unknown store URL scheme '{url.partition(':')[0]}:'" in one_error_line(err)
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_the_gateway_refuses_an_unknown_store_scheme_before_serving(tmp_path: Path) -> None:
    config = tmp_path / "gateway.json"
    config.write_bytes(orjson.dumps(base_config("http://127.0.0.1:9")))
    port = str(free_port())
    for argv in (
        [sys.executable, "-m", "gateway", "--config", str(config), "--port", port],
        [str(FLEETCTL), "gateway", "serve", "--config", str(config), "--port", port],
    ):
        try:
            result = subprocess.run(
                [*argv, "--store", "postgres://db/fleet"],
                capture_output=True,
                text=True,
                timeout=30,
                cwd=tmp_path,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{argv[1:3]} served on a store it made up from postgres://db/fleet")
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "unknown store URL scheme 'postgres:'" in result.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.json"]


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c))
def test_a_mistyped_sqlite_path_is_not_created_and_suggests_the_store(
    command: list[str], tmp_path: Path
) -> None:
    asyncio.run(open_store(f"sqlite:{tmp_path / 'gateway.sqlite3'}").close())
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = fleetctl(*command, "--store", "sqlite:gatway.sqlite3", cwd=tmp_path)
    assert code == 2
    assert one_error_line(err) == (
        "error: no store at gatway.sqlite3; the gateway creates it at first start "
        "(did you mean gateway.sqlite3?)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_default_store_path_missing_is_said_so(tmp_path: Path) -> None:
    code, _, err = fleetctl("cost", cwd=tmp_path)
    assert code == 2
    assert one_error_line(err).startswith("error: no store at gateway.sqlite3; the gateway creates")
    assert not (tmp_path / "gateway.sqlite3").exists()
    with pytest.raises(StoreNotFound):
        open_store(f"sqlite:{tmp_path / 'gateway.sqlite3'}", create=False)


def test_the_gateway_says_when_it_creates_a_new_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "gateway.json"
    config.write_bytes(orjson.dumps(base_config("http://127.0.0.1:9")))
    path = tmp_path / "state" / "gw.sqlite3"
    created = "created a new, empty store at"
    for _ in range(2):
        with caplog.at_level(logging.INFO, logger="fleet.gateway"):
            app = build(config, f"sqlite:{path}", watch_interval=0)
        asyncio.run(app.store.close())
    lines = [r.getMessage() for r in caplog.records if created in r.getMessage()]
    # Once, with where, at the first start only: a restart on the same store is silent.
    assert lines == [f"{created} {path} (none was there)"]


@pytest.fixture
def dead_redis(tmp_path: Path) -> Iterator[str]:
    """A redis:// URL where a real redis-server ran and was killed: Redis is down."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/install-redis (make test does)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    client.close()
    proc.kill()
    proc.wait(timeout=10)
    yield f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c))
def test_redis_down_is_one_red_line_and_exit_2(
    command: list[str], dead_redis: str, tmp_path: Path
) -> None:
    code, out, err = fleetctl(*command, "--store", dead_redis, cwd=tmp_path)
    assert code == 2, out + err
    line = one_error_line(err)
    assert line.startswith(f"error: cannot read the store at {dead_redis}: ")
    port = dead_redis.rsplit(":", 1)[1].split("/")[0]
    assert f"connecting to 127.0.0.1:{port}" in line and line.endswith("the gateway was given?)")


def test_a_missing_credential_variable_is_warned_once_per_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = base_config("http://127.0.0.1:9")
    cfg["providers"]["p1"]["credentials"]["env"] = "PROVIDER_P1_KEY_UNSET"
    cfg["providers"]["p2"]["credentials"]["env"] = "PROVIDER_P1_KEY_UNSET"
    cfg["mcp_servers"] = {
        "github": {
            "url": "http://127.0.0.1:9/mcp",
            "credentials": {"secret": "gh", "env": "MCP_GITHUB_TOKEN_UNSET"},
        },
        "docs": {
            "url": "http://127.0.0.1:9/mcp",
            "credentials": {"secret": "d", "env": "MCP_DOCS"},
        },
    }
    monkeypatch.delenv("PROVIDER_P1_KEY_UNSET", raising=False)
    monkeypatch.setenv("MCP_GITHUB_TOKEN_UNSET", "")  # set but empty is no credential either
    monkeypatch.setenv("MCP_DOCS", "docs-key")
    path = tmp_path / "gateway.json"
    path.write_bytes(orjson.dumps(cfg))
    with caplog.at_level(logging.WARNING, logger="fleet.gateway"):
        load_runtime(path)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [
        "credential variable PROVIDER_P1_KEY_UNSET is not set: provider p1, provider p2 gets no "
        "credentials (set it in the gateway's environment)",
        "credential variable MCP_GITHUB_TOKEN_UNSET is not set: MCP server github gets no "
        "credentials (set it in the gateway's environment)",
    ]


def test_the_operator_without_a_cluster_says_so_once_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "FLEET_"))}
    env |= {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "fleet_operator"],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the operator kept retrying its login: {exc.stderr!r}"[:2000])
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    assert line.startswith("error: no Kubernetes cluster to run against: not in a pod")
    assert str(tmp_path / "no-such-kubeconfig") in line


def test_no_fleet_yaml_and_usage_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = fleetctl("validate", cwd=tmp_path)
    assert code == 2
    assert one_error_line(err).startswith("error: no fleet.yaml in this directory")
    code, _, err = fleetctl("cost", "--no-such-option", cwd=tmp_path)
    assert code == 2 and "No such option" in err and "Traceback" not in err
    code, _, err = fleetctl("cost", "--since", "yesterday", cwd=tmp_path)
    assert code == 2 and one_error_line(err).startswith("error: cannot read --since 'yesterday'")
