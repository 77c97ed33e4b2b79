"""``fleetctl runs show`` over a run the harness keeps through the runs API: the record's
header, the cost by member, the journal's verdicts, approvals and outcome on the trace
timeline, ``--output json``, a record without traces, and traces without a record."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
import redis
from typer.testing import CliRunner

from fleetctl.cli import app
from gateway.runs import records
from gateway.store import Store, open_store
from tests.gateway.conftest import (  # noqa: F401  (fixtures)
    TOKENS,
    GatewayFactory,
    fake,
    gateway,
    provider,
    redis_server,
)
from tests.gateway.fakes import FakeProvider, Step

runner = CliRunner()


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'gw.sqlite3'}"
        return
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    yield url


def show(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["runs", "show", *args])
    return result.exit_code, result.stdout + result.stderr


def llm(member: str, cost: float, step: int) -> dict[str, Any]:
    return {
        "id": f"t{time.time_ns()}",
        "ts": time.time(),
        "kind": "llm",
        "loop": "alpha",
        "member": member,
        "run": "run-9",
        "step": step,
        "virtual_model": "main",
        "target": "p1/m-main",
        "status": 200,
        "tokens_in": 100,
        "tokens_out": 20,
        "cost_usd": cost,
        "latency_ms": 12.5,
    }


async def put(
    store: Store, found: records.Stored, seq: int, entry: dict[str, Any], **run: Any
) -> records.Stored:
    """Append as the API does (same function), then give the clock a tick to order by."""
    text = orjson.dumps({**entry, "seq": seq}, option=orjson.OPT_SORT_KEYS)
    await records.append(store, found, seq, text, run or None)
    await asyncio.sleep(0.002)
    again = await records.get(store, "run-9")
    assert again is not None
    return again


async def stage(url: str, *, traces: bool = True) -> None:
    """A run of alpha: the maker's reply, a failed review, a second reply, a passed review
    and the outcome, with the gateway's trace of each model call beside the journal."""
    store = open_store(url)
    try:
        await records.open_run(store, "run-9", "alpha", "cron", None)
        found = await records.get(store, "run-9")
        assert found is not None

        async def trace(member: str, cost: float, step: int) -> None:
            if traces:
                await store.write_trace(llm(member, cost, step))
                await asyncio.sleep(0.002)

        model = {"kind": "model", "scope": "main", "t": 1.0, "member": "alpha", "step": 1}
        await trace("alpha", 0.03, 1)
        found = await put(store, found, 1, {**model, "cost_usd": 0.03}, steps=1)
        await trace("alpha/checker", 0.01, 2)
        review = {"kind": "model", "scope": "check:1", "member": "alpha/checker", "step": 2}
        found = await put(store, found, 2, {**review, "cost_usd": 0.01}, steps=2)
        verdict = {"kind": "verdict", "scope": "check:1", "round": 1, "by": "alpha/checker"}
        found = await put(
            store, found, 3, {**verdict, "verdict": "fail", "reasons": ["no test", "no changelog"]}
        )
        await trace("alpha", 0.02, 3)
        found = await put(store, found, 4, {**model, "step": 3, "cost_usd": 0.02}, steps=3)
        found = await put(
            store, found, 5, {**verdict, "round": 2, "scope": "check:2", "verdict": "pass"}
        )
        outcome = {"kind": "outcome", "outcome": "done", "summary": "fixed the flaky test"}
        await put(
            store,
            found,
            6,
            outcome,
            status="ended",
            outcome="done",
            summary="fixed the flaky test",
            tokens=360,
            cost_usd=0.06,
            checker_rounds=2,
        )
    finally:
        await store.close()


def test_record_journal_and_traces_on_one_timeline(store_url: str) -> None:
    asyncio.run(stage(store_url))
    code, out = show("run-9", "--store", store_url)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:4] == [
        "run run-9: loop alpha, ended, outcome done, attempts 1, steps 3, tokens 360, $0.0600",
        "cost by member: alpha (maker) $0.0500, alpha/checker $0.0100",
        "summary: fixed the flaky test",
        "traces: 3 LLM steps, 0 tool calls, $0.0600",
    ]
    assert lines[4].split()[:5] == ["TIME", "(UTC)", "STEP", "KIND", "WHO"]
    kinds = [line.split()[2] for line in lines[5:]]
    assert kinds == ["llm", "llm", "verdict", "llm", "verdict", "outcome"]
    assert lines[7].split("  ")[-1].strip() == "verdict fail (round 1): no test; no changelog"
    assert lines[7].split()[3] == "alpha/checker"
    assert lines[9].endswith("verdict pass (round 2)")
    assert lines[10].endswith("outcome done: fixed the flaky test")
    # Journal lines align with the trace rows on time, step, kind and who.
    assert lines[7].index("alpha/checker") == lines[6].index("alpha/checker")


def test_json_gives_record_journal_and_traces(store_url: str) -> None:
    asyncio.run(stage(store_url))
    code, out = show("run-9", "--store", store_url, "-o", "json")
    assert code == 0, out
    shown = json.loads(out)
    assert set(shown) == {"run", "journal", "traces"}
    assert shown["run"]["status"] == "ended" and shown["run"]["checker_rounds"] == 2
    assert [e["seq"] for e in shown["journal"]] == [1, 2, 3, 4, 5, 6]
    assert all(e["at"] > 0 for e in shown["journal"])
    assert [t["member"] for t in shown["traces"]] == ["alpha", "alpha/checker", "alpha"]


def test_a_record_without_traces_still_shows(store_url: str) -> None:
    asyncio.run(stage(store_url, traces=False))
    code, out = show("run-9", "--store", store_url)
    assert code == 0, out
    lines = out.splitlines()
    # Without traces the split comes from the journal's model replies.
    assert lines[1] == "cost by member: alpha (maker) $0.0500, alpha/checker $0.0100"
    assert lines[3] == "traces: none recorded for this run"
    assert [line.split()[2] for line in lines[5:]] == ["verdict", "verdict", "outcome"]


def test_traces_without_a_record_keep_the_old_output(store_url: str) -> None:
    async def only_traces() -> None:
        store = open_store(store_url)
        try:
            await store.write_trace(llm("alpha", 0.5, 1))
        finally:
            await store.close()

    asyncio.run(only_traces())
    code, out = show("run-9", "--store", store_url)
    assert code == 0, out
    assert out.splitlines()[0] == "run run-9: 1 LLM steps, 0 tool calls, $0.5000"
    code, out = show("run-9", "--store", store_url, "-o", "json")
    assert [t["member"] for t in json.loads(out)] == ["alpha"]


def test_an_unknown_run_is_a_usage_error(store_url: str) -> None:
    asyncio.run(open_store(store_url).close())  # the store exists; the run does not
    code, out = show("nope", "--store", store_url)
    assert code == 2 and "no run 'nope'" in out


def test_a_run_through_a_live_gateway(
    gateway: GatewayFactory,  # noqa: F811
    fake: FakeProvider,  # noqa: F811
    tmp_path: Path,
) -> None:
    """What the harness does, over HTTP: open the run, call the model as the maker and the
    checker with the run id, journal the review and the outcome; the CLI reads the file."""
    fake.script("m-main", Step(prompt_tokens=1000, completion_tokens=500))
    fake.script("m-backup", Step(prompt_tokens=1000, completion_tokens=1000))
    store = tmp_path / "live.sqlite3"
    with gateway(f"sqlite:{store}") as (url, _, _):
        runs = httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKENS['alpha']}"})
        assert runs.put("/v1/fleet/runs/live-1", json={"trigger": "manual"}).status_code == 201
        for token, model, step in [
            (TOKENS["alpha"], "main", 1),
            (TOKENS["alpha/checker"], "backup", 2),
        ]:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": f"step {step}"}],
                extra_headers={"x-fleet-run-id": "live-1", "x-fleet-step": str(step)},
            )
        verdict = {
            "kind": "verdict",
            "round": 1,
            "verdict": "fail",
            "reasons": ["too vague"],
            "by": "alpha/checker",
        }
        assert (
            runs.put("/v1/fleet/runs/live-1/journal/1", json={"entry": verdict}).status_code == 201
        )
        end = {
            "entry": {"kind": "outcome", "outcome": "rejected"},
            "run": {"status": "ended", "outcome": "rejected"},
        }
        assert runs.put("/v1/fleet/runs/live-1/journal/2", json=end).status_code == 201
        runs.close()
    code, out = show("live-1", "--store", f"sqlite:{store}")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("run live-1: loop alpha, ended, outcome rejected, attempts 1")
    # main: 1000 in at $1/M + 500 out at $2/M; backup: 1000 in at $0.5/M + 1000 out at $1/M.
    assert lines[1] == "cost by member: alpha (maker) $0.0020, alpha/checker $0.0015"
    assert [line.split()[2] for line in lines[4:]] == ["llm", "llm", "verdict", "outcome"]
    assert lines[6].endswith("verdict fail (round 1): too vague")
