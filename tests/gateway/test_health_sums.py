"""The health endpoint's findings come from the store's sums (:mod:`gateway.health`), and
they are the findings :func:`fleet.doctor.diagnose` gives over every decoded run record and
call trace of the window: on a real SQLite store (read over the endpoint's own read-only
connection, in its worker thread), and on the Python fold of the records (what a Redis
store, or a journal the database has not applied, is summed with)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fleet.doctor import diagnose
from fleet.resources import agent_of, fleet_of
from fleet.spec import Agent, Fleet
from gateway.health import _sums_of, read_sqlite_sums, read_sums
from gateway.healthcheck import check
from gateway.runs import records
from gateway.store.report import PyReports
from gateway.store.sqlite import SqliteStore
from tests.fleet_operator.test_render import LOOPS, POLICY
from tests.gateway.test_store_reports import _sqlite_rows_created, fill

NOW = 1_800_000_000.0
DAY = 86400.0
START = NOW - 14 * DAY
KINDS = ("healthy", "failing", "rubber-stamp", "budget", "doubled", "silent", "waiting")


def definitions() -> tuple[Fleet, list[Agent]]:
    fleet = fleet_of(POLICY["spec"])
    return fleet, [agent_of(name, LOOPS[name]["spec"]) for name in sorted(LOOPS)]


def dataset(seed: int = 11) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Three weeks of runs for each northwind loop, each loop sick in its own way (or not):
    a failing streak, a checker that passes runs that write nothing, budget_exceeded runs,
    a tripled spend this week, silence for five days, an approval waiting two days; and
    noise everywhere (failed writes, odd outcomes, calls without a run)."""
    rng = random.Random(seed)
    traces: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for i, loop in enumerate(sorted(LOOPS)):
        sick = KINDS[i % len(KINDS)]
        last = NOW - (5 * DAY if sick == "silent" else 3600 + rng.random() * 3600)
        t, n = NOW - 21 * DAY + i * 97, 0
        while t < last:
            n += 1
            run = f"{loop}-r{n}"
            recent = t > NOW - 2 * DAY
            outcome, wrote, status = "done", True, "ended"
            if sick == "failing" and recent:
                outcome = "max_steps"
            elif sick == "rubber-stamp" and t > NOW - 6 * DAY:
                wrote = False
            elif sick == "budget" and t > NOW - 4 * DAY and n % 2:
                outcome = "budget_exceeded"
            elif rng.random() < 0.1:
                outcome = rng.choice(["max_steps", "error", "stalled"])
            if sick == "waiting" and NOW - 3.5 * DAY < t < NOW - 2 * DAY:
                status, outcome = "awaiting_approval", None
            runs.append(
                {
                    "id": run,
                    "loop": loop,
                    "status": status,
                    "outcome": outcome,
                    "started": t,
                    "updated": t + 60,
                    "checker_rounds": 1,
                    "cost_usd": 99.0,  # a record's own total: never what spend is summed from
                }
            )
            scale = 3.0 if sick == "doubled" and t > NOW - 7 * DAY else 1.0
            for member in (loop, f"{loop}/reviewer"):
                traces.append(
                    {
                        "ts": t + 5,
                        "kind": "llm",
                        "loop": loop,
                        "member": member,
                        "team": "platform",
                        "run": run,
                        "virtual_model": "main",
                        "cost_usd": round(scale * 0.01 * (1 + rng.random()), 6),
                        "tokens_in": rng.randint(100, 900),
                        "tokens_out": rng.randint(10, 90),
                    }
                )
            if wrote and outcome == "done":
                traces.append(
                    {
                        "ts": t + 30,
                        "kind": "tool",
                        "loop": loop,
                        "member": loop,
                        "run": run,
                        "server": "github",
                        "tool_class": "write",
                        "outcome": rng.choice(["ok", "ok", "ok", "error"]),
                    }
                )
            t += rng.choice([0.25, 0.5, 1.0]) * DAY
        traces.append({"ts": NOW - DAY, "kind": "llm", "loop": loop, "cost_usd": 0.02})
    return traces, runs


@pytest.fixture(scope="module")
def data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return dataset()


@pytest.fixture
async def store_path(
    tmp_path: Path, data: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> AsyncIterator[Path]:
    path = tmp_path / "gw.sqlite3"
    writer = SqliteStore(path, apply_interval=0.0)
    await fill(writer, *data)
    await writer.close()  # folded: the database holds every trace
    _sqlite_rows_created(path, data[1])
    yield path


async def decoded_findings(path: Path) -> list[Any]:
    """The findings as the endpoint computed them before: every record decoded."""
    fleet, agents = definitions()
    store = SqliteStore(path)
    try:
        runs = await records.page(store, START, 0, 10**9)
        calls = await store.query_traces(since=START, limit=10**9)
    finally:
        await store.close()
    assert len(runs) > 100 and len(calls) > 200
    return diagnose(fleet, agents, runs, calls, now=NOW, since=START)


async def test_the_sums_give_every_finding_the_decoded_records_give(store_path: Path) -> None:
    old = await decoded_findings(store_path)
    fleet, agents = definitions()
    # read in a worker thread, as the endpoint reads it
    sums = await asyncio.to_thread(read_sqlite_sums, str(store_path), START, NOW)
    new = check(fleet, agents, sums, NOW, START)
    assert new == old
    checks = {f.check for f in old}
    # the window's records have something for most checks to find
    assert {
        "no-useful-outcome",
        "rubber-stamp-checker",
        "repeated-budget-exceeded",
        "spend-jump",
        "approval-waiting",
        "missed-heartbeat",
    } <= checks, checks
    assert len({f.loop for f in old}) < len(agents)  # and some loops are healthy


async def test_the_python_fold_gives_the_same_findings(
    store_path: Path, data: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    old = await decoded_findings(store_path)
    fleet, agents = definitions()
    traces, runs = data
    folded = PyReports([t for t in traces if t["ts"] >= START], runs)
    assert check(fleet, agents, _sums_of(folded, START, NOW), NOW, START) == old
    # and the live store's own read (the path a store without a file of its own takes)
    store = SqliteStore(store_path)
    try:
        sums = await read_sums(store, START, NOW)
    finally:
        await store.close()
    assert check(fleet, agents, sums, NOW, START) == old


def test_a_store_that_cannot_be_read_is_unavailable(tmp_path: Path) -> None:
    from gateway.store.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable):
        read_sqlite_sums(str(tmp_path / "missing.sqlite3"), START, NOW)


def test_the_gateway_s_week_is_the_doctor_s() -> None:
    # gateway.health keeps its own copy (it does not import fleet.doctor, nor pydantic)
    from fleet.doctor import WEEK as DOCTOR_WEEK
    from gateway.health import WEEK

    assert WEEK == DOCTOR_WEEK
