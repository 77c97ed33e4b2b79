"""Webhook triggers and the operator's poll over loopback, on SQLite and Redis: a trigger token
queues for its loop and does nothing else, the bounds (413, 429) hold under racing POSTs, a
queued payload is taken exactly once, payloads survive a restart, and ``/v1/fleet/dispatch``
reports paused runs with their approval's state and per-loop run summaries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gateway.mcp.ledger import Ledger
from gateway.store import open_store
from tests.gateway.conftest import APPROVER_TOKEN, TOKENS, GatewayFactory, sha

TRIGGER, OTHER_TRIGGER, OPERATOR = "tok-trigger-alpha", "tok-trigger-beta", "tok-operator"


def overrides(max_payload: int = 1024, max_queue: int = 5) -> dict[str, Any]:
    return {
        "loops.alpha.trigger": {
            "token_sha256": [sha(TRIGGER)],
            "max_payload": max_payload,
            "max_queue": max_queue,
        },
        "loops.beta.trigger": {"token_sha256": [sha(OTHER_TRIGGER)]},
        "operator_sha256": [sha(OPERATOR)],
        "approval_ttl_s": 60.0,
    }


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'gw.sqlite3'}"
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def url(gateway: GatewayFactory, store: str) -> Iterator[str]:
    with gateway(store, **overrides()) as (url, _, _):
        yield url


def client(url: str, token: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=10)


def code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


def post(url: str, token: str | None, payload: Any, loop: str = "alpha") -> httpx.Response:
    with client(url, token) as c:
        return c.post(f"/v1/fleet/loops/{loop}/trigger", json=payload)


def dispatch(url: str, since: float | None = None) -> dict[str, Any]:
    with client(url, OPERATOR) as c:
        r = c.get("/v1/fleet/dispatch", params={"since": since} if since is not None else None)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_trigger_token_queues_for_its_loop_and_nothing_else(url: str) -> None:
    r = post(url, TRIGGER, {"issue": 42})
    assert r.status_code == 202, r.text
    trigger = r.json()["trigger"]
    assert trigger["id"].startswith("tg_") and trigger["state"] == "queued"
    assert (trigger["loop"], r.json()["queue"]) == ("alpha", 1)
    (queued,) = dispatch(url)["triggers"]
    assert (queued["id"], queued["payload"]) == (trigger["id"], '{"issue":42}')

    # Nothing else: no model, no runs API, no tools, no approvals; no other loop.
    with client(url, TRIGGER) as c:
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/fleet/runs").status_code == 401
        assert c.put("/v1/fleet/runs/r1").status_code == 401
        assert c.get("/v1/fleet/dispatch").status_code == 401
        assert c.get("/approvals").status_code in (401, 403)
    r = post(url, TRIGGER, {}, loop="beta")
    assert (r.status_code, code(r)) == (403, "not_your_loop")
    # Loop tokens, approver tokens and the operator's cannot trigger.
    for token in (TOKENS["alpha"], APPROVER_TOKEN, OPERATOR):
        r = post(url, token, {})
        assert (r.status_code, code(r)) == (401, "invalid_token"), token
    r = post(url, None, {})
    assert (r.status_code, code(r)) == (401, "missing_token")
    with client(url, TRIGGER) as c:
        r = c.post("/v1/fleet/loops/alpha/trigger", content=b"{not json")
        assert (r.status_code, code(r)) == (400, "invalid_json")
        assert c.get("/v1/fleet/loops/alpha/trigger").status_code == 405
    # Only the operator polls and takes.
    with client(url, TOKENS["alpha"]) as c:
        r = c.get("/v1/fleet/dispatch")
        assert (r.status_code, code(r)) == (403, "operator_only")
        r = c.post(f"/v1/fleet/triggers/{trigger['id']}/take", json={"job": "x"})
        assert (r.status_code, code(r)) == (403, "operator_only")


def test_payload_and_queue_bounds(url: str) -> None:
    r = post(url, TRIGGER, {"blob": "x" * 2000})
    assert (r.status_code, code(r)) == (413, "too_large")
    assert "1 KiB" in r.json()["error"]["message"] and r.json()["error"]["limit"] == 1024
    ids = [post(url, TRIGGER, {"n": i}).json()["trigger"]["id"] for i in range(5)]
    full = post(url, TRIGGER, {"n": 5})
    assert (full.status_code, code(full)) == (429, "queue_full")
    assert full.headers["retry-after"] == "30" and "5 payloads" in full.json()["error"]["message"]
    # Taking one frees its place.
    with client(url, OPERATOR) as c:
        assert (
            c.post(f"/v1/fleet/triggers/{ids[0]}/take", json={"job": "alpha-w1"}).status_code == 200
        )
    assert post(url, TRIGGER, {"n": 6}).status_code == 202
    assert [t["payload"] for t in dispatch(url)["triggers"]] == [
        '{"n":1}',
        '{"n":2}',
        '{"n":3}',
        '{"n":4}',
        '{"n":6}',
    ]


async def test_racing_posts_never_pass_the_queue_bound(url: str) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {TRIGGER}"}, timeout=30
    ) as c:
        answers = await asyncio.gather(
            *(c.post("/v1/fleet/loops/alpha/trigger", json={"n": i}) for i in range(30))
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [202] * 5 + [429] * 25
    assert len(dispatch(url)["triggers"]) == 5


async def test_a_trigger_is_taken_exactly_once(url: str) -> None:
    trigger_id = post(url, TRIGGER, {"n": 1}).json()["trigger"]["id"]
    async with httpx.AsyncClient(
        base_url=url, headers={"authorization": f"Bearer {OPERATOR}"}, timeout=30
    ) as c:
        answers = await asyncio.gather(
            *(
                c.post(f"/v1/fleet/triggers/{trigger_id}/take", json={"job": f"job-{i}"})
                for i in range(10)
            )
        )
    won = [r for r in answers if r.status_code == 200]
    assert len(won) == 1 and all(code(r) == "trigger_taken" for r in answers if r not in won)
    job = won[0].json()["trigger"]["job"]
    assert {r.json()["error"]["job"] for r in answers if r not in won} == {job}
    assert dispatch(url)["triggers"] == []
    with client(url, OPERATOR) as c:
        r = c.post("/v1/fleet/triggers/tg_nope/take", json={"job": "j"})
        assert (r.status_code, code(r)) == (404, "trigger_not_found")


def test_queued_payloads_survive_a_restart(gateway: GatewayFactory, store: str) -> None:
    with gateway(store, **overrides()) as (url, _, _):
        trigger_id = post(url, TRIGGER, {"keep": True}).json()["trigger"]["id"]
    with gateway(store, **overrides()) as (url, _, _):
        (queued,) = dispatch(url)["triggers"]
        assert (queued["id"], queued["payload"]) == (trigger_id, '{"keep":true}')


def test_dispatch_reports_paused_runs_and_run_summaries(url: str, store: str) -> None:
    alpha = client(url, TOKENS["alpha"])
    with alpha:
        assert alpha.put("/v1/fleet/runs/r1", json={"trigger": "webhook"}).status_code == 201
        first = dispatch(url)
        assert first["loops"]["alpha"]["running"] == 1 and first["waiting"] == []
        assert [r["run"] for r in first["running"]] == ["r1"]

        async def approval() -> str:
            st = open_store(store)
            try:
                row = await Ledger(st).create_approval(
                    loop="alpha",
                    member="alpha",
                    run="r1",
                    server="github",
                    tool="merge_pr",
                    arguments={},
                    ttl_s=60.0,
                )
                return str(row["id"])
            finally:
                await st.close()

        approval_id = asyncio.run(approval())
        pause = {
            "status": "awaiting_approval",
            "outcome": "awaiting_approval",
            "approval": {"approval_id": approval_id, "call_id": "c1", "name": "github__merge_pr"},
        }
        assert alpha.patch("/v1/fleet/runs/r1", json=pause).status_code == 200
        answer = dispatch(url)
        (waiting,) = answer["waiting"]
        assert (waiting["run"], waiting["attempts"], waiting["trigger"]) == ("r1", 1, "webhook")
        assert waiting["approval"]["state"] == "pending"
        assert waiting["approval"]["approval_id"] == approval_id
        assert answer["loops"]["alpha"]["awaiting_approval"] == 1
        assert answer["approval_ttl_s"] == 60.0

        # The operator ends it (an expired approval), and may write nothing else.
        with client(url, OPERATOR) as op:
            r = op.patch("/v1/fleet/runs/r1", json={"steps": 99})
            assert (r.status_code, code(r)) == (403, "read_only")
            r = op.patch("/v1/fleet/runs/r1", json={"status": "ended", "outcome": "done"})
            assert (r.status_code, code(r)) == (403, "read_only")
            r = op.put("/v1/fleet/runs/r2")
            assert (r.status_code, code(r)) == (403, "read_only")
            r = op.patch("/v1/fleet/runs/r1", json={"status": "ended", "outcome": "expired"})
            assert r.status_code == 200 and r.json()["run"]["outcome"] == "expired"
            assert op.get("/v1/fleet/runs", params={"loop": "alpha"}).status_code == 200
        after = dispatch(url)
        summary = after["loops"]["alpha"]
        assert (summary["running"], summary["awaiting_approval"], summary["without_outcome"]) == (
            0,
            0,
            1,
        )
        assert summary["last"]["id"] == "r1" and summary["last"]["outcome"] == "expired"
        assert after["waiting"] == [] and after["running"] == []

        # A done run resets the count; since= leaves out loops that did not change.
        assert alpha.put("/v1/fleet/runs/r3").status_code == 201
        end = {"status": "ended", "outcome": "done", "steps": 4, "cost_usd": 0.25}
        assert alpha.patch("/v1/fleet/runs/r3", json=end).status_code == 200
        again = dispatch(url)["loops"]["alpha"]
        assert (again["without_outcome"], again["last"]["id"], again["last"]["steps"]) == (
            0,
            "r3",
            4,
        )
        assert [r["id"] for r in again["recent"]] == ["r3", "r1"]
        quiet = dispatch(url, since=dispatch(url)["now"] + 1)
        assert quiet["loops"] == {} and quiet["triggers"] == [] and quiet["waiting"] == []
