"""The durable ledger on the gateway's store: approval states, expiry, the
one-winner claim, idempotency claims; and what the gateway does with a key a
killed process left running."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis
from mcp.shared.exceptions import MCPError

from gateway.mcp.ledger import Ledger
from gateway.mcp.once import scoped_key
from gateway.store import open_store
from tests.gateway.conftest import redis_server  # noqa: F401  (a fixture)
from tests.mcp.conftest import TOKENS, Stack, mcp_session


async def request(ledger: Ledger, ttl_s: float, key: str | None = None) -> dict[str, Any]:
    return await ledger.create_approval(
        loop="release",
        member="release",
        run="r1",
        step=4,
        server="github",
        tool="merge_pr",
        tool_class="destructive",
        arguments={"number": 1},
        verdicts=[],
        idempotency_key=key,
        ttl_s=ttl_s,
    )


@pytest.mark.parametrize(
    ("ttl_s", "decision", "won", "state"),
    [
        (3600, "approved", True, "approved"),
        (3600, "denied", True, "denied"),
        (0, "approved", False, "expired"),
        (0, "denied", False, "expired"),
    ],
)
async def test_decisions_and_expiry(
    tmp_path: Path, ttl_s: float, decision: str, won: bool, state: str
) -> None:
    store = open_store(f"sqlite:{tmp_path / 'l.sqlite3'}")
    ledger = Ledger(store)
    row = await request(ledger, ttl_s)
    assert (await ledger.decide(row["id"], decision, "alice", None) is not None) is won
    assert await ledger.decide(row["id"], "approved", "bob", None) is None  # one winner, ever
    assert (await ledger.approval(row["id"]))["state"] == state  # type: ignore[index]
    await ledger.close()
    await store.close()
    reopened = open_store(f"sqlite:{tmp_path / 'l.sqlite3'}")
    assert (await Ledger(reopened).approval(row["id"]))["state"] == state  # type: ignore[index]
    assert [r["id"] for r in await Ledger(reopened).approvals(state)] == [row["id"]]
    await reopened.close()


async def test_one_request_per_key(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 'l.sqlite3'}")
    ledger = Ledger(store)
    first = await request(ledger, 3600, "k1")
    assert (await request(ledger, 3600, "k1"))["id"] == first["id"]
    assert (await request(ledger, 3600, "k2"))["id"] != first["id"]
    await store.close()


async def test_idempotency_claims(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 'l.sqlite3'}")
    ledger = Ledger(store)
    assert (await ledger.begin("k", "loop", "github", "create_pr")).state == "new"
    assert (await ledger.begin("k", "loop", "github", "create_pr")).state == "running"
    await ledger.finish("k", {"content": [], "isError": False})
    claim = await ledger.begin("k", "loop", "github", "create_pr")
    assert (claim.state, claim.result) == ("done", {"content": [], "isError": False})
    await ledger.forget("k")  # only a running key can be forgotten
    assert (await ledger.begin("k", "loop", "github", "create_pr")).state == "done"
    await store.close()


async def test_key_left_running_by_a_killed_gateway_is_not_run_again(stack: Stack) -> None:
    key = "open-pr-after-crash"
    store = open_store(f"sqlite:{stack.store_path}")
    # What a gateway killed mid-call leaves behind: the claim, no result, a lease running out.
    scoped = scoped_key("release", "github", "create_pr", key)
    dead = Ledger(store, lease_s=0.05)
    await dead.begin(scoped, "release", "github", "create_pr")
    await dead.close()  # no more heartbeats
    await store.close()
    await asyncio.sleep(0.1)
    async with mcp_session(
        stack.url + "/mcp/github", TOKENS["release"], **{"idempotency-key": key}
    ) as session:
        with pytest.raises(MCPError) as info:
            await session.call_tool("create_pr", {"title": "t"})
    assert "its outcome is unknown, so it is not run again" in info.value.error.message
    assert (
        "with this idempotency key is interrupted: it started 0 s ago" in info.value.error.message
    )
    assert stack.calls("create_pr") == []


async def test_expired_request_tells_the_run(stack: Stack) -> None:
    store = open_store(f"sqlite:{stack.store_path}")
    row = await request(Ledger(store), 0)
    await store.close()
    async with mcp_session(stack.url + "/mcp/github", TOKENS["release"]) as session:
        fetched = await session.call_tool("fleet_approval_result", {"approval_id": row["id"]})
    assert fetched.is_error
    text = fetched.content[0].text  # type: ignore[union-attr]
    assert f"approval {row['id']} for github.merge_pr was expired" in text


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'l.sqlite3'}"
    url: str = request.getfixturevalue("redis_server")
    redis.Redis.from_url(url).flushdb()
    return url


async def test_lease_renewed_while_held_then_interrupted_and_retried(store_url: str) -> None:
    store = open_store(store_url)
    ledger = Ledger(store, lease_s=0.3)
    row = await request(ledger, 3600)
    claimed = await ledger.decide(row["id"], "approved", "alice", "go")
    assert claimed is not None and claimed["attempt"] == 1 and claimed["lease"]
    await asyncio.sleep(0.7)  # longer than a lease: heartbeats keep it
    assert (await ledger.approval(row["id"]))["state"] == "approved"  # type: ignore[index]
    assert await ledger.retry(row["id"], "bob", None) is None  # not interrupted

    await ledger.close()  # the process holding it stops renewing
    await asyncio.sleep(0.4)
    reader = Ledger(store, lease_s=0.3)
    cut = await reader.approval(row["id"])
    assert cut is not None and cut["state"] == "interrupted"
    again = await reader.retry(row["id"], "bob", "checked the server")
    assert again is not None and again["attempt"] == 2 and again["lease"] != claimed["lease"]
    # The first attempt's late result cannot overwrite the second attempt's claim.
    assert not await ledger.executed(claimed, {"content": [], "isError": False})
    assert await reader.executed(again, {"content": [], "isError": False})
    done = await reader.approval(row["id"])
    assert done is not None and (done["state"], done["attempt"]) == ("executed", 2)
    assert [(h["action"], h["by"]) for h in done["history"]] == [
        ("approve", "alice"),
        ("retry", "bob"),
    ]
    await reader.close()
    await store.close()


async def test_late_result_of_an_interrupted_attempt_lands(store_url: str) -> None:
    store = open_store(store_url)
    ledger = Ledger(store, lease_s=0.05)
    row = await request(ledger, 3600)
    claimed = await ledger.decide(row["id"], "approved", "alice", None)
    assert claimed is not None
    await ledger.close()
    await asyncio.sleep(0.1)
    assert (await ledger.approval(row["id"]))["state"] == "interrupted"  # type: ignore[index]
    assert await ledger.executed(claimed, {"content": [], "isError": False})
    assert (await ledger.approval(row["id"]))["state"] == "executed"  # type: ignore[index]
    await store.close()
