"""``fleetctl cost``: spend next to outcome, from a real gateway's store (SQLite and Redis)
filled by real model calls through the gateway (the official openai client, a maker and its
checker on their own tokens) and runs opened and ended through the runs API with httpx."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis
from typer.testing import CliRunner

from fleet.economics import cost_report
from fleetctl.cli import app
from tests.gateway.conftest import (  # noqa: F401  (fixtures)
    TOKENS,
    GatewayFactory,
    gateway,
    provider,
    redis_server,
)

MAIN = 11 * 1e-6 + 7 * 2e-6  # one call of 'main' (the fake provider's 11 in, 7 out)
BACKUP = 11 * 0.5e-6 + 7 * 1e-6


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'gw.sqlite3'}"
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    return url


def _calls(base: str, member: str, model: str, run: str, n: int) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=TOKENS[member], max_retries=0)
    for i in range(n):
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"{member} {run} {i}"}],  # no cache hits
            extra_headers={"x-fleet-run-id": run},
        )


def _run(http: httpx.Client, loop: str, run: str, outcome: str) -> None:
    auth = {"authorization": f"Bearer {TOKENS[loop]}"}
    assert http.put(f"/v1/fleet/runs/{run}", json={"trigger": "cron"}, headers=auth).is_success
    # The record's own running total is deliberately wrong: cost must come from the calls.
    patch = {"status": "ended", "outcome": outcome, "cost_usd": 5.0, "steps": 3}
    assert http.patch(f"/v1/fleet/runs/{run}", json=patch, headers=auth).is_success


@pytest.fixture
def filled(store: str, gateway: GatewayFactory) -> Iterator[str]:  # noqa: F811
    with gateway(store) as (base, _, _), httpx.Client(base_url=base) as http:
        _run(http, "alpha", "a1", "done")
        _calls(base, "alpha", "main", "a1", 2)
        _calls(base, "alpha/checker", "backup", "a1", 1)
        _run(http, "alpha", "a2", "max_steps")
        _calls(base, "alpha", "main", "a2", 1)
        _run(http, "beta", "b1", "done")
        _calls(base, "beta", "backup", "b1", 1)
    yield store


def cost(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["cost", *args])
    return result.exit_code, result.stdout + result.stderr


def groups(store: str, by: str) -> dict[str, dict[str, object]]:
    code, out = cost("--store", store, "--by", by, "--window", "day", "-o", "json")
    assert code == 0, out
    return {g["key"]: g for g in json.loads(out)}


def test_cost_by_loop_splits_maker_and_checker(filled: str) -> None:
    by_loop = groups(filled, "loop")
    alpha, beta = by_loop["alpha"], by_loop["beta"]
    assert (alpha["runs"], alpha["useful"], alpha["requests"]) == (2, 1, 4)
    assert alpha["cost_usd"] == pytest.approx(3 * MAIN + BACKUP)
    assert alpha["maker_usd"] == pytest.approx(3 * MAIN)
    assert alpha["subagent_usd"] == pytest.approx(BACKUP)
    assert alpha["per_useful_usd"] == pytest.approx(3 * MAIN + BACKUP)
    assert (beta["runs"], beta["useful"]) == (1, 1)
    assert beta["cost_usd"] == pytest.approx(BACKUP)
    total = 3 * MAIN + 2 * BACKUP
    assert alpha["share"] == pytest.approx((3 * MAIN + BACKUP) / total)
    assert not alpha["dominant"]  # two loops: there are not four after it


def test_cost_by_role_model_team_and_run(filled: str) -> None:
    role = groups(filled, "role")
    assert role["maker"]["cost_usd"] == pytest.approx(3 * MAIN + BACKUP)
    assert (role["maker"]["runs"], role["maker"]["useful"]) == (3, 2)
    assert role["sub-agent"]["cost_usd"] == pytest.approx(BACKUP)
    assert (role["sub-agent"]["runs"], role["sub-agent"]["useful"]) == (1, 1)
    model = groups(filled, "model")
    assert (model["main"]["runs"], model["main"]["useful"]) == (2, 1)
    assert (model["backup"]["runs"], model["backup"]["useful"]) == (2, 2)
    assert model["backup"]["per_useful_usd"] == pytest.approx(BACKUP)
    team = groups(filled, "team")
    assert set(team) == {"platform", "product"} and team["platform"]["runs"] == 2
    run = groups(filled, "run")
    assert run["a2"]["useful"] == 0 and run["a2"]["per_useful_usd"] is None
    assert run["a1"]["cost_usd"] == pytest.approx(2 * MAIN + BACKUP)


def test_cost_text_and_csv(filled: str) -> None:
    code, out = cost("--store", filled, "--since", "1h")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["LOOP", "RUNS", "USEFUL", "COST"]
    assert lines[1].split()[:3] == ["alpha", "2", "1"]
    assert lines[-1].startswith("total 0.0001 USD over 3 runs, 2 useful")
    code, out = cost("--store", filled, "--by", "team", "--window", "week", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["team"] for r in rows] == ["platform", "product"]
    assert float(rows[0]["maker_usd"]) == pytest.approx(3 * MAIN)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--by", "owner"], "cannot group by 'owner'"),
        (["--window", "year"], "unknown --window 'year'"),
        (["--window", "day", "--since", "1h"], "give --window or --since, not both"),
        (["-o", "xml"], "unknown --output 'xml'"),
    ],
)
def test_cost_refuses_bad_options(tmp_path: Path, args: list[str], says: str) -> None:
    code, out = cost("--store", f"sqlite:{tmp_path / 'none.sqlite3'}", *args)
    assert code == 2 and says in out


def test_a_loop_spending_more_than_the_next_four_is_flagged() -> None:
    spend = {"big": 10.0, "b": 2.0, "c": 2.0, "d": 2.0, "e": 2.0, "f": 1.0}
    calls = [{"loop": k, "member": k, "run": f"{k}-1", "cost_usd": v} for k, v in spend.items()]
    runs = [{"id": f"{k}-1", "loop": k, "outcome": "done"} for k in spend]
    report = cost_report(calls, runs, "loop")
    assert [(g.key, g.dominant) for g in report.groups][:2] == [("big", True), ("b", False)]
    calls[0]["cost_usd"] = 8.0  # exactly the next four: not more
    assert not cost_report(calls, runs, "loop").groups[0].dominant
