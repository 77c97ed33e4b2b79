"""``fleetctl runs list``: the runs newest first, filtered by loop, outcome, status and age,
as a table or JSON, from the gateway's runs API (an approver's token from the environment)
or straight from its store with the same read functions; errors as one line, exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetctl.cli import app
from gateway.runs import records
from gateway.store import open_store
from tests.gateway.conftest import (  # noqa: F401  (fixtures)
    APPROVER_TOKEN,
    GatewayFactory,
    gateway,
    provider,
)

runner = CliRunner()


def fill(store_url: str) -> None:
    async def go() -> None:
        store = open_store(store_url)
        try:
            for run, loop, outcome in (
                ("r1", "alpha", "done"),
                ("r2", "beta", "max_steps"),
                ("r3", "alpha", "error"),
                ("r4", "alpha", None),
            ):
                await records.open_run(store, run, loop, "webhook" if run == "r3" else "cron", None)
                found = await records.get(store, run)
                assert found is not None
                fields = {"steps": 3, "cost_usd": 0.5}
                if outcome:
                    fields.update(status="ended", outcome=outcome)
                await records.update(store, found, fields)
                await asyncio.sleep(0.01)
        finally:
            await store.close()

    asyncio.run(go())


def listing(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["runs", "list", *args], env=env)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:{tmp_path / 'gw.sqlite3'}"
    fill(url)
    return url


def test_list_from_the_store(store_url: str) -> None:
    code, out = listing("--store", store_url)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == [
        "RUN", "LOOP", "TRIGGER", "STATUS", "OUTCOME", "STEPS", "COST", "STARTED", "(UTC)", "TOOK",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["r4", "r3", "r2", "r1"]
    assert "running" in lines[1] and "$0.5000" in lines[1]
    code, out = listing("--store", store_url, "--loop", "alpha", "--outcome", "error")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["r3"]
    code, out = listing("--store", store_url, "--status", "ended", "--since", "1h", "-o", "json")
    runs = json.loads(out)["runs"]
    assert [r["id"] for r in runs] == ["r3", "r2", "r1"] and runs[0]["trigger"] == "webhook"
    code, out = listing("--store", store_url, "--loop", "gamma")
    assert (code, out.strip()) == (0, "no runs match")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--outcome", "great"], "outcome='great' is not valid"),
        (["--since", "yesterday"], "--since 'yesterday' is not valid"),
        (["--limit", "5000"], "--limit '5000' is not valid"),
        (["--status", "paused"], "status='paused' is not valid"),
    ],
)
def test_list_refuses_bad_filters(store_url: str, args: list[str], says: str) -> None:
    code, out = listing("--store", store_url, *args)
    assert code == 2 and says in out and "Traceback" not in out


def test_list_from_the_gateway(gateway: GatewayFactory, tmp_path: Path) -> None:  # noqa: F811
    url = f"sqlite:{tmp_path / 'gw.sqlite3'}"
    fill(url)
    with gateway(url) as (base, _, _):
        env = {"FLEET_APPROVER_TOKEN": APPROVER_TOKEN}
        code, out = listing("--gateway", base, "--loop", "alpha", "-o", "json", env=env)
        assert code == 0, out
        assert [r["id"] for r in json.loads(out)["runs"]] == ["r4", "r3", "r1"]
        code, out = listing("--gateway", base, "--outcome", "max_steps", env=env)
        assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["r2"]
        code, out = listing("--gateway", base, env={"FLEET_APPROVER_TOKEN": ""})
        assert code == 2 and "no approver token in $FLEET_APPROVER_TOKEN" in out
        code, out = listing("--gateway", base, env={"FLEET_APPROVER_TOKEN": "wrong"})
        assert code == 2 and "unknown or revoked token" in out
