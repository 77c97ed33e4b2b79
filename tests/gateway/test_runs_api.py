"""The runs API over loopback (httpx), on SQLite and Redis: run records, exactly-once
journal appends, loop state with compare-and-set and history, who may read and write
what, every refusal as a 4xx with a code, listings, and kill -9 of a gateway process
losing no acknowledged entry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from gateway.app import Gateway
from gateway.config import ConfigHolder
from gateway.runs import records, state
from gateway.store import open_store
from tests.gateway.conftest import APPROVER_TOKEN, TOKENS, base_config
from tests.gateway.fakes import FakeProvider, ServerThread, free_port

ALPHA, CHECKER, BETA, APPROVER = (
    TOKENS["alpha"],
    TOKENS["alpha/checker"],
    TOKENS["beta"],
    APPROVER_TOKEN,
)


def note(text: str = "hi", **more: Any) -> dict[str, Any]:
    return {"entry": {"kind": "note", "scope": "main", "t": 0.5, "text": text, **more}}


@pytest.fixture(params=["sqlite", "redis"])
def store_of(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'gw.sqlite3'}"
    if request.param == "sqlite-full":  # row writes fsync, from worker threads
        return f"sqlite:{tmp_path / 'gw.sqlite3'}?synchronous=full"
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def sqlite_of(tmp_path: Path) -> str:
    return f"sqlite:{tmp_path / 'gw.sqlite3'}"


def serve(provider_url: str, store: str, tmp_path: Path) -> ServerThread:
    path = tmp_path / "gateway.json"
    path.write_bytes(orjson.dumps(base_config(provider_url)))
    app = Gateway(ConfigHolder.from_file(path), open_store(store), watch_interval=0)
    return ServerThread(app, loop="uvloop")


@pytest.fixture
def url(provider: tuple[FakeProvider, str], store_of: str, tmp_path: Path) -> Iterator[str]:
    with serve(provider[1], store_of, tmp_path) as server:
        yield server.url


@pytest.fixture
def sqlite_url(provider: tuple[FakeProvider, str], sqlite_of: str, tmp_path: Path) -> Iterator[str]:
    with serve(provider[1], sqlite_of, tmp_path) as server:
        yield server.url


Client = Callable[[str | None], httpx.AsyncClient]


@pytest.fixture
async def client(url: str) -> AsyncIterator[Client]:
    async with clients(url) as make:
        yield make


@pytest.fixture
async def sqlite_client(sqlite_url: str) -> AsyncIterator[Client]:
    async with clients(sqlite_url) as make:
        yield make


@contextlib.asynccontextmanager
async def clients(url: str) -> AsyncIterator[Client]:
    """One keep-alive client per token (``None``: no token), closed together."""
    made: dict[str | None, httpx.AsyncClient] = {}

    def make(token: str | None) -> httpx.AsyncClient:
        if token not in made:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            made[token] = httpx.AsyncClient(base_url=url, headers=headers, timeout=10)
        return made[token]

    try:
        yield make
    finally:
        for c in made.values():
            await c.aclose()


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# ---------------------------------------------------------------- the run's life


async def test_a_run_from_open_to_end(client: Client) -> None:
    alpha = client(ALPHA)
    opened = await alpha.put("/v1/fleet/runs/r1", json={"trigger": "webhook", "input": {"n": []}})
    assert opened.status_code == 201
    record = opened.json()["run"]
    assert opened.json()["created"] is True
    assert {k: record[k] for k in ("id", "loop", "trigger", "input", "status", "attempts")} == {
        "id": "r1",
        "loop": "alpha",
        "trigger": "webhook",
        "input": {"n": []},
        "status": "running",
        "attempts": 1,
    }
    assert set(record) == set(records.new_record("r1", "alpha", "cron", None, 0.0))

    again = await alpha.put("/v1/fleet/runs/r1")  # the Job's retry: no body needed
    assert (again.status_code, again.json()["created"], again.json()["run"]["attempts"]) == (
        200,
        False,
        2,
    )

    assert (await alpha.put("/v1/fleet/runs/r1/journal/1", json=note("one"))).status_code == 201
    model = {
        "entry": {"kind": "model", "scope": "main", "t": 1.0, "member": "alpha", "step": 1},
        "run": {"steps": 1, "tokens": 120, "cost_usd": 0.25},
    }
    appended = await alpha.put("/v1/fleet/runs/r1/journal/2", json=model)
    assert appended.status_code == 201
    assert appended.json()["seq"] == 2
    assert appended.json()["run"]["steps"] == 1 and appended.json()["run"]["cost_usd"] == 0.25

    patched = await alpha.patch(
        "/v1/fleet/runs/r1", json={"status": "awaiting_approval", "approval": {"approval_id": "a"}}
    )
    assert patched.status_code == 200 and patched.json()["run"]["status"] == "awaiting_approval"

    shown = (await alpha.get("/v1/fleet/runs/r1")).json()
    assert [e["seq"] for e in shown["journal"]] == [1, 2]
    assert shown["journal"][0] == {
        "kind": "note",
        "scope": "main",
        "t": 0.5,
        "text": "one",
        "seq": 1,
    }
    assert shown["run"]["tokens"] == 120
    after = (await alpha.get("/v1/fleet/runs/r1?after=1")).json()["journal"]
    assert [e["seq"] for e in after] == [2]

    end = {
        "entry": {"kind": "outcome", "outcome": "done", "summary": "fixed"},
        "run": {"status": "ended", "outcome": "done", "summary": "fixed"},
    }
    ended = await alpha.put("/v1/fleet/runs/r1/journal/3", json=end)
    assert ended.status_code == 201
    final = ended.json()["run"]
    assert final["status"] == "ended" and final["ended"] is not None

    # After the end: a retry of the last append and of a patch that changes nothing are
    # answered; anything new is refused; a Job retried after the end counts no attempt.
    assert (await alpha.put("/v1/fleet/runs/r1/journal/3", json=end)).status_code == 200
    assert (await alpha.patch("/v1/fleet/runs/r1", json={"status": "ended"})).status_code == 200
    late = await alpha.put("/v1/fleet/runs/r1/journal/4", json=note())
    assert (late.status_code, code(late)) == (409, "run_ended")
    changed = await alpha.patch("/v1/fleet/runs/r1", json={"steps": 9})
    assert (changed.status_code, code(changed)) == (409, "run_ended")
    reopened = await alpha.put("/v1/fleet/runs/r1", json={})
    assert reopened.status_code == 200
    assert reopened.json() == {"run": final, "created": False}


async def test_journal_appends_are_exactly_once(client: Client) -> None:
    alpha = client(ALPHA)
    await alpha.put("/v1/fleet/runs/r2", json={})
    first = await alpha.put("/v1/fleet/runs/r2/journal/1", json=note("a", extra={"x": 1, "y": 2}))
    assert (first.status_code, first.json()["created"]) == (201, True)
    # The same entry with its keys in another order is the same entry: a retry.
    same = {
        "entry": {"extra": {"y": 2, "x": 1}, "text": "a", "t": 0.5, "scope": "main", "kind": "note"}
    }
    retry = await alpha.put("/v1/fleet/runs/r2/journal/1", json=same)
    assert (retry.status_code, retry.json()["created"]) == (200, False)
    other = await alpha.put("/v1/fleet/runs/r2/journal/1", json=note("b"))
    assert (other.status_code, code(other), other.json()["error"]["next_seq"]) == (
        409,
        "journal_conflict",
        2,
    )
    for seq in (2, 3, 4):
        assert (await alpha.put(f"/v1/fleet/runs/r2/journal/{seq}", json=note())).status_code == 201
    gap = await alpha.put("/v1/fleet/runs/r2/journal/7", json=note())
    assert (gap.status_code, code(gap), gap.json()["error"]["next_seq"]) == (409, "journal_gap", 5)
    assert "the next one is 5" in gap.json()["error"]["message"]
    taken = await alpha.put("/v1/fleet/runs/r2/journal/2", json=note("changed"))
    assert taken.json()["error"]["next_seq"] == 5
    journal = (await alpha.get("/v1/fleet/runs/r2")).json()["journal"]
    assert [e["seq"] for e in journal] == [1, 2, 3, 4]
    assert journal[0]["text"] == "a"


ALL_STORES = pytest.mark.parametrize("store_of", ["sqlite", "sqlite-full", "redis"], indirect=True)


@ALL_STORES
async def test_many_writers_of_one_seq_store_it_once(client: Client) -> None:
    alpha = client(ALPHA)
    await alpha.put("/v1/fleet/runs/r3", json={})
    same = await asyncio.gather(
        *(alpha.put("/v1/fleet/runs/r3/journal/1", json=note("same")) for _ in range(24))
    )
    assert sorted(r.status_code for r in same) == [200] * 23 + [201]
    different = await asyncio.gather(
        *(alpha.put("/v1/fleet/runs/r3/journal/2", json=note(f"w{i}")) for i in range(24))
    )
    statuses = sorted(r.status_code for r in different)
    assert statuses == [201] + [409] * 23
    winner = next(i for i, r in enumerate(different) if r.status_code == 201)
    journal = (await alpha.get("/v1/fleet/runs/r3")).json()["journal"]
    assert [e["text"] for e in journal] == ["same", f"w{winner}"]


async def test_concurrent_opens_count_every_attempt(client: Client) -> None:
    alpha = client(ALPHA)
    opened = await asyncio.gather(*(alpha.put("/v1/fleet/runs/r4", json={}) for _ in range(16)))
    assert sorted(r.json()["created"] for r in opened) == [False] * 15 + [True]
    assert (await alpha.get("/v1/fleet/runs/r4")).json()["run"]["attempts"] == 16


# ---------------------------------------------------------------- who may do what


ACCESS = [
    # (token, method, path, body, status, code)
    (BETA, "GET", "/v1/fleet/runs/ra", None, 404, "run_not_found"),
    (BETA, "PUT", "/v1/fleet/runs/ra", {}, 404, "run_not_found"),
    (BETA, "PATCH", "/v1/fleet/runs/ra", {"steps": 1}, 404, "run_not_found"),
    (BETA, "PUT", "/v1/fleet/runs/ra/journal/2", note(), 404, "run_not_found"),
    (BETA, "GET", "/v1/fleet/loops/alpha/state", None, 403, "not_your_loop"),
    (
        BETA,
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "if_version": 1},
        403,
        "not_your_loop",
    ),
    (CHECKER, "GET", "/v1/fleet/runs/ra", None, 200, None),
    (CHECKER, "GET", "/v1/fleet/loops/alpha/state", None, 200, None),
    (CHECKER, "PUT", "/v1/fleet/runs/ra", {}, 403, "read_only"),
    (CHECKER, "PUT", "/v1/fleet/runs/new-one", {}, 403, "read_only"),
    (CHECKER, "PATCH", "/v1/fleet/runs/ra", {"steps": 1}, 403, "read_only"),
    (CHECKER, "PUT", "/v1/fleet/runs/ra/journal/2", note(), 403, "read_only"),
    (
        CHECKER,
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "if_version": 1},
        403,
        "read_only",
    ),
    (CHECKER, "GET", "/v1/fleet/loops/beta/state", None, 403, "not_your_loop"),
    (APPROVER, "GET", "/v1/fleet/runs/ra", None, 200, None),
    (APPROVER, "GET", "/v1/fleet/runs", None, 200, None),
    (APPROVER, "GET", "/v1/fleet/loops/alpha/state", None, 200, None),
    (APPROVER, "GET", "/v1/fleet/loops/beta/state", None, 200, None),
    (APPROVER, "PUT", "/v1/fleet/runs/ra", {}, 403, "read_only"),
    (APPROVER, "PATCH", "/v1/fleet/runs/ra", {"steps": 1}, 403, "read_only"),
    (APPROVER, "PUT", "/v1/fleet/runs/ra/journal/2", note(), 403, "read_only"),
    (
        APPROVER,
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "if_version": 1},
        403,
        "read_only",
    ),
    (None, "GET", "/v1/fleet/runs/ra", None, 401, "missing_token"),
    (None, "GET", "/v1/fleet/runs", None, 401, "missing_token"),
    ("tok-nobody", "GET", "/v1/fleet/runs/ra", None, 401, "invalid_token"),
    (
        "tok-nobody",
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "if_version": 1},
        401,
        "invalid_token",
    ),
]


async def test_who_may_do_what(client: Client) -> None:
    alpha = client(ALPHA)
    await alpha.put("/v1/fleet/runs/ra", json={})
    await alpha.put("/v1/fleet/runs/ra/journal/1", json=note("mine"))
    await alpha.put("/v1/fleet/loops/alpha/state", json={"value": {"k": 1}, "if_version": 0})
    seen = []
    for token, method, path, payload, _, _ in ACCESS:
        r = await client(token).request(method, path, json=payload)
        seen.append((r.status_code, code(r) if r.status_code >= 400 else None))
    assert seen == [(status, c) for *_, status, c in ACCESS]
    # Nothing a refused caller sent changed anything.
    shown = (await alpha.get("/v1/fleet/runs/ra")).json()
    assert (shown["run"]["steps"], shown["run"]["attempts"], len(shown["journal"])) == (0, 1, 1)
    assert (await alpha.get("/v1/fleet/loops/alpha/state")).json()["version"] == 1
    missing = await client(BETA).get("/v1/fleet/runs/no-such-run")
    foreign = await client(BETA).get("/v1/fleet/runs/ra")
    # Another loop's run reads exactly like a missing one.
    assert foreign.json()["error"]["message"] == missing.json()["error"]["message"].replace(
        "no-such-run", "ra"
    )


# ---------------------------------------------------------------- refusals

BIG = "x" * (1024 * 1024)
DEEP: Any = []
for _ in range(300):
    DEEP = [DEEP]

ERRORS = [
    # (method, path, body (bytes are sent as they are), status, code, in the message)
    ("PUT", "/v1/fleet/runs/-r", {}, 400, "invalid_run_id", "letters, digits"),
    ("PUT", "/v1/fleet/runs/" + "r" * 129, {}, 400, "invalid_run_id", "1-128"),
    ("PUT", "/v1/fleet/runs/r%20x", {}, 400, "invalid_run_id", "Job's pod name"),
    ("PUT", "/v1/fleet/runs/ok/journal/0", note(), 400, "invalid_seq", "positive integer"),
    ("PUT", "/v1/fleet/runs/ok/journal/01", note(), 400, "invalid_seq", "positive integer"),
    ("PUT", "/v1/fleet/runs/ok/journal/-1", note(), 400, "invalid_seq", "positive integer"),
    ("PUT", "/v1/fleet/runs/ok/journal/1e3", note(), 400, "invalid_seq", "positive integer"),
    ("PUT", "/v1/fleet/runs/ok/journal/" + "9" * 30, note(), 400, "invalid_seq", "positive"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", b"{nope", 400, "invalid_json", "JSON object"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", b"[1]", 400, "invalid_body", "not an array"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", b"", 400, "invalid_json", "JSON object"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", {"entry": 3}, 400, "invalid_body", "a number"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", {"note": {}}, 400, "unknown_field", "entry, run"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", {"entry": {}}, 400, "invalid_body", "entry.kind"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", note(seq=3), 400, "invalid_body", "path says 2"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", note(t=-1), 400, "invalid_body", "entry.t"),
    (
        "PUT",
        "/v1/fleet/runs/ok/journal/2",
        {**note(), "run": {"step": 1}},
        400,
        "unknown_field",
        "steps, tokens",
    ),
    ("PUT", "/v1/fleet/runs/ok/journal/2", note(BIG), 413, "too_large", "1 MiB"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", b" " * (6 * 1024 * 1024), 413, "too_large", "1 MiB"),
    ("PUT", "/v1/fleet/runs/ok/journal/2", note(deep=DEEP), 400, "invalid_body", "nest it less"),
    (
        "PUT",
        "/v1/fleet/runs/gone/journal/1",
        note(),
        404,
        "run_not_found",
        "PUT /v1/fleet/runs/gone",
    ),
    ("PUT", "/v1/fleet/runs/ok/journal/2?x=1", note(), 400, "invalid_query", "takes none"),
    (
        "PUT",
        "/v1/fleet/runs/ok",
        {"trigger": "cron", "inputs": 1},
        400,
        "unknown_field",
        "trigger, input",
    ),
    ("PUT", "/v1/fleet/runs/ok2", {"trigger": "Cron Job"}, 400, "invalid_body", "trigger"),
    ("PUT", "/v1/fleet/runs/ok2", {"input": BIG}, 413, "too_large", "input"),
    ("PATCH", "/v1/fleet/runs/ok", {"steps": -1}, 400, "invalid_body", "non-negative integer"),
    ("PATCH", "/v1/fleet/runs/ok", {"steps": True}, 400, "invalid_body", "non-negative integer"),
    ("PATCH", "/v1/fleet/runs/ok", {"cost_usd": "1"}, 400, "invalid_body", "non-negative number"),
    (
        "PATCH",
        "/v1/fleet/runs/ok",
        {"status": "done"},
        400,
        "invalid_body",
        "running, awaiting_approval, ended",
    ),
    ("PATCH", "/v1/fleet/runs/ok", {"outcome": "great"}, 400, "invalid_body", "max_steps"),
    ("PATCH", "/v1/fleet/runs/ok", {"summary": 3}, 400, "invalid_body", "string or null"),
    ("PATCH", "/v1/fleet/runs/ok", {"approval": "a1"}, 400, "invalid_body", "approval_id"),
    ("PATCH", "/v1/fleet/runs/ok", {"ended": "now"}, 400, "invalid_body", "epoch seconds"),
    (
        "PATCH",
        "/v1/fleet/runs/ok",
        {"attempts": 5},
        400,
        "unknown_field",
        "status, outcome, summary",
    ),
    ("PATCH", "/v1/fleet/runs/ok", {"detail": BIG}, 413, "too_large", "256 KiB"),
    ("PATCH", "/v1/fleet/runs/gone", {"steps": 1}, 404, "run_not_found", "open it first"),
    ("GET", "/v1/fleet/runs/gone", None, 404, "run_not_found", "open it first"),
    ("GET", "/v1/fleet/runs/ok?after=x", None, 400, "invalid_query", "non-negative integer"),
    ("GET", "/v1/fleet/runs/ok?seq=1", None, 400, "invalid_query", "after"),
    ("DELETE", "/v1/fleet/runs/ok", None, 405, "method_not_allowed", "GET or PUT or PATCH"),
    ("DELETE", "/v1/fleet/runs", None, 405, "method_not_allowed", "use GET or POST"),
    (
        "GET",
        "/v1/fleet/runs/ok/journal",
        None,
        404,
        "not_found",
        "PUT /v1/fleet/runs/<run>/journal/<seq>",
    ),
    ("GET", "/v1/fleet/nothing", None, 404, "not_found", "the runs API is"),
    ("GET", "/v1/fleet/runs?limit=0", None, 400, "invalid_query", "1 to 1000"),
    ("GET", "/v1/fleet/runs?limit=1001", None, 400, "invalid_query", "1 to 1000"),
    ("GET", "/v1/fleet/runs?status=done", None, 400, "invalid_query", "awaiting_approval"),
    ("GET", "/v1/fleet/runs?outcome=fine", None, 400, "invalid_query", "provider_unavailable"),
    ("GET", "/v1/fleet/runs?since=yesterday", None, 400, "invalid_query", "7d"),
    ("GET", "/v1/fleet/runs?since=-5", None, 400, "invalid_query", "epoch seconds"),
    ("GET", "/v1/fleet/runs?loop=Alpha", None, 400, "invalid_loop", "DNS label"),
    (
        "GET",
        "/v1/fleet/runs?owner=me",
        None,
        400,
        "invalid_query",
        "loop, status, outcome, since, limit",
    ),
    ("GET", "/v1/fleet/loops/alpha/state?version=v2", None, 400, "invalid_query", "non-negative"),
    (
        "GET",
        "/v1/fleet/loops/alpha/state?version=7",
        None,
        404,
        "version_not_found",
        "current one is 0",
    ),
    ("GET", "/v1/fleet/loops/Alpha_1/state", None, 400, "invalid_loop", "DNS label"),
    ("PUT", "/v1/fleet/loops/alpha/state", {"value": {}}, 400, "invalid_body", "if_version"),
    (
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "if_version": -1},
        400,
        "invalid_body",
        "if_version",
    ),
    (
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": [], "if_version": 0},
        400,
        "invalid_body",
        "an array",
    ),
    (
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "version": 0},
        400,
        "unknown_field",
        "value, if_version",
    ),
    (
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {"x": "y" * 70_000}, "if_version": 0},
        413,
        "too_large",
        "64 KiB",
    ),
    ("PUT", "/v1/fleet/loops/alpha/state", b"\xff", 400, "invalid_json", "JSON object"),
    (
        "PUT",
        "/v1/fleet/loops/alpha/state",
        {"value": {}, "if_version": 3},
        409,
        "state_conflict",
        "if_version 0",
    ),
    ("DELETE", "/v1/fleet/loops/alpha/state", None, 405, "method_not_allowed", "GET or PUT"),
]


async def test_refusals_say_what_to_do(sqlite_client: Client) -> None:
    alpha = sqlite_client(ALPHA)
    await alpha.put("/v1/fleet/runs/ok", json={})
    await alpha.put("/v1/fleet/runs/ok/journal/1", json=note())
    got, want = [], []
    for method, path, payload, status, error, hint in ERRORS:
        if isinstance(payload, bytes):
            r = await alpha.request(method, path, content=payload)
        else:
            r = await alpha.request(method, path, json=payload)
        message = r.json()["error"]["message"] if r.status_code >= 400 else ""
        got.append((method, path[:60], r.status_code, code(r), hint in message))
        want.append((method, path[:60], status, error, True))
    assert got == want
    # Nothing refused was stored.
    shown = (await alpha.get("/v1/fleet/runs/ok")).json()
    assert len(shown["journal"]) == 1 and shown["run"]["steps"] == 0


async def test_a_body_is_refused_while_it_is_read(sqlite_client: Client) -> None:
    alpha = sqlite_client(ALPHA)
    await alpha.put("/v1/fleet/runs/big", json={})
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the reader must stop
        nonlocal sent
        for _ in range(64):
            sent += 1
            yield b" " * (256 * 1024)

    r = await alpha.put("/v1/fleet/runs/big/journal/1", content=chunks())
    assert (r.status_code, code(r)) == (413, "too_large")
    # The connection, or a new one, goes on serving.
    assert (await alpha.put("/v1/fleet/runs/big/journal/1", json=note())).status_code == 201


# ---------------------------------------------------------------- state


async def test_state_compare_and_set_and_history(client: Client, store_of: str) -> None:
    alpha = client(ALPHA)
    empty = (await alpha.get("/v1/fleet/loops/alpha/state")).json()
    assert empty == {"loop": "alpha", "version": 0, "value": {}, "updated": None}
    for v in range(25):
        r = await alpha.put(
            "/v1/fleet/loops/alpha/state", json={"value": {"n": v, "seen": []}, "if_version": v}
        )
        assert r.status_code == 200 and r.json()["version"] == v + 1
    current = (await alpha.get("/v1/fleet/loops/alpha/state")).json()
    assert (current["version"], current["value"]) == (25, {"n": 24, "seen": []})
    stale = await alpha.put("/v1/fleet/loops/alpha/state", json={"value": {}, "if_version": 24})
    assert (stale.status_code, code(stale), stale.json()["error"]["version"]) == (
        409,
        "state_conflict",
        25,
    )
    kept = (await alpha.get("/v1/fleet/loops/alpha/state?version=6")).json()
    assert (kept["version"], kept["value"]) == (6, {"n": 5, "seen": []})
    gone = await alpha.get("/v1/fleet/loops/alpha/state?version=5")
    assert (gone.status_code, code(gone)) == (404, "version_not_found")
    assert "6 to 25" in gone.json()["error"]["message"]
    assert (await alpha.get("/v1/fleet/loops/alpha/state?version=26")).status_code == 404
    assert (await client(BETA).get("/v1/fleet/loops/beta/state")).json()["version"] == 0

    # Of writers racing from one version, one wins.
    raced = await asyncio.gather(
        *(
            alpha.put("/v1/fleet/loops/alpha/state", json={"value": {"w": i}, "if_version": 25})
            for i in range(12)
        )
    )
    assert sorted(r.status_code for r in raced) == [200] + [409] * 11

    store = open_store(store_of)
    try:
        history = await store.row_list(state.history_table("alpha"), limit=100)
        assert sorted(orjson.loads(h["data"])["version"] for h in history) == list(range(7, 27))
    finally:
        await store.close()


# ---------------------------------------------------------------- listing


async def test_listing_filters_newest_first(client: Client) -> None:
    alpha, beta, approver = client(ALPHA), client(BETA), client(APPROVER)
    for run, who in [("l1", alpha), ("l2", beta), ("l3", alpha), ("l4", beta), ("l5", alpha)]:
        assert (await who.put(f"/v1/fleet/runs/{run}", json={})).status_code == 201
    await alpha.patch("/v1/fleet/runs/l1", json={"status": "ended", "outcome": "done"})
    await beta.patch("/v1/fleet/runs/l4", json={"status": "ended", "outcome": "error"})
    middle = (await approver.get("/v1/fleet/runs/l3")).json()["run"]["started"]

    async def ids(who: httpx.AsyncClient, query: str = "") -> list[str]:
        r = await who.get("/v1/fleet/runs" + query)
        assert r.status_code == 200, r.text
        return [run["id"] for run in r.json()["runs"]]

    assert await ids(approver) == ["l5", "l4", "l3", "l2", "l1"]
    assert await ids(approver, "?loop=beta") == ["l4", "l2"]
    assert await ids(approver, "?status=ended") == ["l4", "l1"]
    assert await ids(approver, "?status=running&loop=alpha") == ["l5", "l3"]
    assert await ids(approver, "?outcome=done") == ["l1"]
    assert await ids(approver, f"?since={middle}") == ["l5", "l4", "l3"]
    assert await ids(approver, "?since=1h&limit=2") == ["l5", "l4"]
    assert await ids(approver, "?since=1h&outcome=error") == ["l4"]
    assert await ids(alpha) == ["l5", "l3", "l1"]
    assert await ids(alpha, "?loop=beta") == ["l5", "l3", "l1"]  # its own, whatever it asks
    assert await ids(client(CHECKER), "?status=ended") == ["l1"]


async def test_listing_reads_a_long_table_in_pages(sqlite_client: Client) -> None:
    alpha, beta = sqlite_client(ALPHA), sqlite_client(BETA)
    await alpha.put("/v1/fleet/runs/oldest", json={})
    for i in range(230):
        await beta.put(f"/v1/fleet/runs/b{i}", json={})
    listed = (await sqlite_client(APPROVER).get("/v1/fleet/runs?loop=alpha")).json()["runs"]
    assert [r["id"] for r in listed] == ["oldest"]
    everything = (await sqlite_client(APPROVER).get("/v1/fleet/runs?limit=1000")).json()["runs"]
    assert len(everything) == 231 and everything[-1]["id"] == "oldest"
    assert len({r["id"] for r in everything}) == 231


async def test_store_rows_newest_first_since_and_offset(store_of: str) -> None:
    store = open_store(store_of)
    try:
        for i in range(5):
            assert await store.row_insert("t", f"k{i}", {"i": i})
            await asyncio.sleep(0.002)
        newest = await store.row_list("t", newest_first=True, limit=3)
        assert [r["i"] for r in newest] == [4, 3, 2]
        assert [r["i"] for r in await store.row_list("t", newest_first=True, offset=3)] == [1, 0]
        assert [r["i"] for r in await store.row_list("t", offset=1, limit=2)] == [1, 2]
        cut = await store.row_list("t", newest_first=True)
        assert [r["i"] for r in cut] == [4, 3, 2, 1, 0]
        await store.row_delete("t", "k3")
        assert [r["i"] for r in await store.row_list("t", newest_first=True, limit=2)] == [4, 2]
        assert await store.row_list("t", since=time.time() + 60) == []
    finally:
        await store.close()


async def test_a_row_write_waits_for_the_write_lock_off_the_event_loop(tmp_path: Path) -> None:
    """While another process holds SQLite's write lock (the fold process commits), an
    append waits in a worker thread: the event loop goes on serving."""
    path = tmp_path / "gw.sqlite3"
    store = open_store(f"sqlite:{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    try:
        holder.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(store.row_insert("t", "k", {"a": 1}))
        await asyncio.sleep(0.05)
        assert not write.done() and ticks >= 10
        holder.execute("COMMIT")
        assert await asyncio.wait_for(write, 5)
        assert await store.row_get("t", "k") == {"a": 1}
    finally:
        ticker.cancel()
        holder.close()
        await store.close()


# ---------------------------------------------------------------- kill -9


@ALL_STORES
def test_acknowledged_entries_survive_kill_9(
    provider: tuple[FakeProvider, str], store_of: str, tmp_path: Path
) -> None:
    config = tmp_path / "gw.json"
    config.write_bytes(orjson.dumps(base_config(provider[1])))

    def start() -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "gateway", "--config", str(config)),
                *("--port", str(port), "--store", store_of),
            ],
            env={**os.environ, "TEST_PROVIDER_KEY": "sk-test-provider-key"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 20
        while True:
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.time() < deadline, (
                proc.stderr.read().decode() if proc.stderr else ""
            )
            time.sleep(0.05)

    headers = {"authorization": f"Bearer {ALPHA}"}
    proc, base = start()
    try:
        with httpx.Client(base_url=base, headers=headers) as c:
            assert c.put("/v1/fleet/runs/k9", json={"trigger": "cron"}).status_code == 201
            for seq in range(1, 41):
                body = {**note(f"entry {seq}"), "run": {"steps": seq, "cost_usd": seq / 100}}
                assert c.put(f"/v1/fleet/runs/k9/journal/{seq}", json=body).status_code == 201
            r = c.put("/v1/fleet/loops/alpha/state", json={"value": {"k": 9}, "if_version": 0})
            assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    proc, base = start()
    try:
        with httpx.Client(base_url=base, headers=headers) as c:
            shown = c.get("/v1/fleet/runs/k9").json()
            assert [e["text"] for e in shown["journal"]] == [f"entry {s}" for s in range(1, 41)]
            assert (shown["run"]["steps"], shown["run"]["cost_usd"]) == (40, 0.4)
            assert c.get("/v1/fleet/loops/alpha/state").json()["value"] == {"k": 9}
            # The harness's retry of its last append, whose answer the kill lost: a 200.
            last = {**note("entry 40"), "run": {"steps": 40, "cost_usd": 0.4}}
            assert c.put("/v1/fleet/runs/k9/journal/40", json=last).status_code == 200
            assert c.put("/v1/fleet/runs/k9", json={}).json()["run"]["attempts"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
