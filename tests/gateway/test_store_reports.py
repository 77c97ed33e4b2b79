"""The store's sums for ``fleetctl cost`` and ``doctor`` (:mod:`gateway.store.report`):
SQL over the projected columns gives what the Python fold over the decoded records gives,
and what :mod:`fleet.economics` computes from every record; a database older than the
columns is migrated once; traces still in the journal are counted; run records' own
(wrong) totals never enter the sums."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from fleet.economics import GROUPS, USEFUL, cost_report, report_from_sums
from gateway.runs import records
from gateway.store import Store, open_store
from gateway.store.projection import RUNS_TABLE, VERSION, migrate, project, project_body
from gateway.store.report import PyReports, Reports, SqlReports, run_record
from gateway.store.sqlite import SqliteStore
from tests.gateway.conftest import redis_server  # noqa: F401  (fixture)

NOW = 1_800_000_000.0
DAY = 86400.0


def dataset(seed: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Traces and run records of a few loops over three weeks, with the shapes (and the
    odd values) the gateway writes: tool calls, sub-agents, an MCP server, a call with no
    run, a failed write, a run whose record totals are wrong."""
    rng = random.Random(seed)
    traces, runs = [], []
    for i in range(6):
        loop = f"loop-{i}"
        for n in range(12):
            run = f"{loop}-r{n}"
            t = NOW - 21 * DAY + n * 1.7 * DAY + i * 60
            outcome = rng.choice(["done", "done", "max_steps", "error", None])
            runs.append(
                {
                    "id": run,
                    "loop": loop,
                    "status": "ended" if outcome else "running",
                    "outcome": outcome,
                    "started": t,
                    "updated": t + 60,
                    "checker_rounds": 1,
                    "cost_usd": 99.0,
                    "tokens": 10**9,  # wrong on purpose: never summed
                }
            )
            for k in range(rng.randint(0, 4)):
                member = rng.choice([loop, loop, f"{loop}/checker", None])
                traces.append(
                    {
                        "ts": t + k,
                        "kind": "llm",
                        "loop": loop,
                        "member": member,
                        "team": f"team-{i % 2}" if i != 5 else None,
                        "run": run,
                        "virtual_model": rng.choice(["main", "backup"]),
                        "cost_usd": round(rng.random() / 100, 6),
                        "tokens_in": rng.randint(1, 900),
                        "tokens_out": rng.randint(1, 90),
                    }
                )
            if rng.random() < 0.6:
                traces.append(
                    {
                        "ts": t + 9,
                        "kind": "tool",
                        "loop": loop,
                        "member": loop,
                        "run": run,
                        "team": f"team-{i % 2}",
                        "server": "github",
                        "tool_class": "write",
                        "outcome": rng.choice(["ok", "ok", "error"]),
                        "error": rng.choice([None, None, "denied"]),
                    }
                )
        traces.append({"ts": NOW - DAY, "kind": "llm", "loop": loop, "cost_usd": 0.5})  # no run
    return traces, runs


async def fill(store: Store, traces: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    for t in traces:
        await store.write_trace(t)
    for r in runs:
        # As the runs API stores a record: its JSON inside the row.
        row = {"state": "1", "data": orjson.dumps(r).decode()}
        assert await store.row_insert(RUNS_TABLE, r["id"], row)


def _sqlite_rows_created(path: Path, runs: list[dict[str, Any]]) -> None:
    """The rows' creation times as the records' opening times (the test's clock is fixed)."""
    db = sqlite3.connect(path)
    db.executemany(
        "UPDATE rows SET created = ? WHERE tbl = ? AND key = ?",
        [(r["started"], RUNS_TABLE, r["id"]) for r in runs],
    )
    db.executemany(
        "UPDATE run_index SET created = ? WHERE key = ?", [(r["started"], r["id"]) for r in runs]
    )
    db.commit()
    db.close()


@pytest.fixture(scope="module")
def data() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return dataset()


@pytest.fixture
async def sqlite_store(
    tmp_path: Path, data: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> AsyncIterator[SqliteStore]:
    path = tmp_path / "gw.sqlite3"
    writer = SqliteStore(path, apply_interval=0.0)
    await fill(writer, *data)
    await writer.close()  # folded: the database holds every trace
    _sqlite_rows_created(path, data[1])
    store = SqliteStore(path)
    yield store
    await store.close()


def everything(r: Reports, since: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for by in GROUPS:
        rows = r.call_groups(since, by, USEFUL)
        out[f"calls:{by}"] = sorted(
            (g["key"], round(g["cost_usd"], 9), round(g["maker_usd"], 9), g["requests"],
             g["tool_calls"], g["tokens_in"], g["tokens_out"], g["runs"], g["useful"])
            for g in rows
        )  # fmt: skip
    for by in ("loop", "run"):
        out[f"runs:{by}"] = sorted(r.run_groups(since, by, USEFUL))
    out["teams"] = r.loop_teams(since)
    out["heads"] = sorted(r.run_heads(since), key=lambda h: h["id"])
    out["spend"] = {k: (round(a, 9), round(b, 9)) for k, (a, b) in r.loop_spend(since, NOW - 7 * DAY).items()}  # fmt: skip
    out["wrote"] = r.written_runs(since)
    return out


@pytest.mark.parametrize("days", [30, 14, 7])
async def test_sql_sums_are_the_python_fold_of_the_decoded_records(
    sqlite_store: SqliteStore, days: int
) -> None:
    since = NOW - days * DAY
    traces = await sqlite_store.query_traces(since=since, limit=10**9)
    runs = await records.page(sqlite_store, since, 0, 10**9)
    sql = await sqlite_store.read_report(since, lambda r: (type(r), everything(r, since)))
    assert sql[0] is SqlReports
    assert sql[1] == everything(PyReports(traces, runs), since)
    assert sql[1]["wrote"] and sql[1]["heads"]  # the data has something to find


@pytest.mark.parametrize("by", GROUPS)
async def test_the_report_from_sums_is_the_report_from_every_record(
    sqlite_store: SqliteStore, by: str
) -> None:
    since = NOW - 30 * DAY
    traces = await sqlite_store.query_traces(since=since, limit=10**9)
    runs = await records.page(sqlite_store, since, 0, 10**9)
    want = cost_report(traces, runs, by)

    def read(r: Reports) -> Any:
        groups = r.run_groups(since, "run" if by == "run" else "loop", USEFUL)
        teams = r.loop_teams(since) if by == "team" else None
        return report_from_sums(by, r.call_groups(since, by, USEFUL), groups, teams)

    got = await sqlite_store.read_report(since, read)
    assert [g.key for g in got.groups] == [g.key for g in want.groups]
    for a, b in zip(got.groups, want.groups, strict=True):
        assert (a.runs, a.useful, a.requests, a.tool_calls, a.dominant) == (
            b.runs, b.useful, b.requests, b.tool_calls, b.dominant
        )  # fmt: skip
        assert a.cost_usd == pytest.approx(b.cost_usd) and a.share == pytest.approx(b.share)
    assert (got.runs, got.useful) == (want.runs, want.useful)
    # Only the calls' costs: the run records' planted 99 USD totals count nowhere.
    assert got.total_usd == pytest.approx(sum(t.get("cost_usd") or 0.0 for t in traces))
    assert got.total_usd < 99.0


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:  # noqa: F811
    redis.Redis.from_url(redis_server).flushdb()
    yield redis_server


async def test_redis_reads_the_same_sums(
    redis_url: str,
    sqlite_store: SqliteStore,
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    since = NOW - 14 * DAY
    want = await sqlite_store.read_report(since, lambda r: everything(r, since))
    store = open_store(redis_url)
    try:
        await fill(store, *data)
        # Redis indexes a row by the time it was inserted: every record is in a window from 0.
        got = await store.read_report(0.0, lambda r: everything(r, since))
    finally:
        await store.close()
    # Calls and spend are windowed by their own times; run records by insertion (now).
    for name in ("calls:loop", "calls:team", "spend", "wrote", "teams"):
        assert got[name] == want[name], name


async def test_traces_still_in_the_journal_are_summed(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    owner = SqliteStore(path, apply_interval=3600)  # folds only on close
    reader: SqliteStore | None = None
    try:
        await owner.write_trace({"ts": NOW, "loop": "a", "member": "a", "cost_usd": 0.25})
        await owner.write_trace({"ts": NOW, "loop": "a", "member": "a/x", "cost_usd": 0.5})
        reader = SqliteStore(path)
        assert reader.journal is None and reader.applied() == 0
        kind, groups = await reader.read_report(
            NOW - DAY, lambda r: (type(r), r.call_groups(NOW - DAY, "loop", USEFUL))
        )
        assert kind is PyReports
        assert [(g["key"], g["cost_usd"], g["maker_usd"]) for g in groups] == [("a", 0.75, 0.25)]
    finally:
        await owner.close()
        if reader is not None:
            await reader.close()
    again = SqliteStore(path)
    try:
        kind, groups = await again.read_report(
            NOW - DAY, lambda r: (type(r), r.call_groups(NOW - DAY, "role", USEFUL))
        )
        assert kind is SqlReports  # folded at close
        assert sorted((g["key"], g["cost_usd"]) for g in groups) == [
            ("maker", 0.25),
            ("sub-agent", 0.5),
        ]
    finally:
        await again.close()


OLD_SCHEMA = """
CREATE TABLE traces (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, loop TEXT, run TEXT,
  kind TEXT, body BLOB NOT NULL);
CREATE INDEX traces_ts ON traces (ts);
CREATE TABLE rows (tbl TEXT NOT NULL, key TEXT NOT NULL, state TEXT, body BLOB NOT NULL,
  created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (tbl, key));
"""


async def test_an_older_database_is_migrated_once(
    tmp_path: Path, data: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    traces, runs = data
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.executemany(
        "INSERT INTO traces (ts, loop, run, kind, body) VALUES (?, ?, ?, ?, ?)",
        [(t["ts"], t["loop"], t.get("run"), t["kind"], orjson.dumps(t)) for t in traces],
    )
    db.executemany(
        "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                RUNS_TABLE,
                r["id"],
                "1",
                orjson.dumps({"state": "1", "data": orjson.dumps(r).decode()}),
                r["started"],
                r["started"],
            )
            for r in runs
        ]
        + [(RUNS_TABLE, "odd", None, b"{}", NOW, NOW), ("other", "k", None, b"{}", NOW, NOW)],
    )
    db.commit()
    db.close()
    since = NOW - 30 * DAY
    reader = SqliteStore(path, migrate=False)  # as fleetctl opens it: read as it is
    try:
        old = await reader.read_report(since, lambda r: (type(r), everything(r, since)))
    finally:
        await reader.close()
    assert old[0] is PyReports
    store = SqliteStore(path)
    try:
        decoded = await store.query_traces(since=since, limit=10**9)
        records_ = [r for r in map(run_record, await store.row_list(RUNS_TABLE, limit=10**9)) if r]
        kind, got = await store.read_report(since, lambda r: (type(r), everything(r, since)))
        assert kind is SqlReports
        assert got == everything(PyReports(decoded, records_), since) == old[1]
        assert "odd" not in {h["id"] for h in got["heads"]}  # holds no record
    finally:
        await store.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        assert not migrate(db)  # once
        assert db.execute("SELECT count(*) FROM run_index").fetchone()[0] == len(runs)
    finally:
        db.close()


async def test_run_index_follows_every_row_write(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gw.sqlite3")
    try:
        record = {"id": "r1", "loop": "a", "status": "running", "outcome": None, "started": NOW}
        await store.row_insert(RUNS_TABLE, "r1", {"state": "1", "data": orjson.dumps(record).decode()})  # fmt: skip
        record.update(status="ended", outcome="done")
        await store.row_update(
            RUNS_TABLE, "r1", {"state": "2", "data": orjson.dumps(record).decode()}, if_state="1"
        )
        # A row of the table that holds no record is stored, and left out of the index.
        assert await store.row_insert(RUNS_TABLE, "junk", {"state": "1", "data": "{not json"})
        assert await store.row_insert(RUNS_TABLE, "list", {"state": "1", "data": "[1]"})
        assert await store.row_insert("elsewhere", "r2", {"data": orjson.dumps(record).decode()})
        heads = await store.read_report(0.0, lambda r: r.run_heads(0.0))
        by_id = {h["id"]: h for h in heads}
        assert set(by_id) == {"r1"}
        assert (by_id["r1"]["status"], by_id["r1"]["outcome"]) == ("ended", "done")
        await store.row_update(RUNS_TABLE, "r1", {"state": "3", "data": "{}x"})
        assert await store.read_report(0.0, lambda r: r.run_heads(0.0)) == []
        await store.row_update(RUNS_TABLE, "r1", {"state": "4", "data": orjson.dumps(record).decode()})  # fmt: skip
        assert len(await store.read_report(0.0, lambda r: r.run_heads(0.0))) == 1
        await store.row_delete(RUNS_TABLE, "r1")
        assert await store.read_report(0.0, lambda r: r.run_heads(0.0)) == []
    finally:
        await store.close()


def test_the_store_names_the_runs_table_as_the_runs_api_does() -> None:
    assert RUNS_TABLE == records.RUNS


def test_a_body_that_does_not_decode_is_projected_as_nothing() -> None:
    assert project_body(b"not json") == project_body(b"[1]") == project({})
    assert project({"loop": "a", "member": "a/x", "cost_usd": True, "tokens_in": 2.5}) == (
        0, "-", "-", 0.0, 0, 0, 0
    )  # fmt: skip
