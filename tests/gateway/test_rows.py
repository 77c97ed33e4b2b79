"""Durable rows in the store (what MCP approvals and idempotency keys build on), on every backend:
insert-if-absent, compare-and-set on ``state`` with one winner among concurrent callers,
listing by state, deletion, and survival across a reopen."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store import open_store


async def scenario(url: str) -> None:
    store = open_store(url)
    try:
        assert await store.row_insert("approvals", "a1", {"state": "pending", "tool": "merge"})
        assert not await store.row_insert("approvals", "a1", {"state": "pending", "tool": "other"})
        assert await store.row_insert("approvals", "a2", {"state": "pending", "tool": "close"})
        assert await store.row_get("approvals", "a1") == {"state": "pending", "tool": "merge"}
        assert await store.row_get("approvals", "missing") is None
        assert await store.row_get("idempotency", "a1") is None  # tables are separate

        # Ten approvers race to approve a1: exactly one wins.
        wins = await asyncio.gather(
            *(
                store.row_update(
                    "approvals", "a1", {"state": "approved", "by": f"u{i}"}, if_state="pending"
                )
                for i in range(10)
            )
        )
        assert sum(wins) == 1
        winner = await store.row_get("approvals", "a1")
        assert winner is not None and winner["state"] == "approved"
        assert winner["by"] == f"u{wins.index(True)}"
        assert not await store.row_update(
            "approvals", "a1", {"state": "denied"}, if_state="pending"
        )
        assert not await store.row_update("approvals", "nope", {"state": "x"})
        assert [r["tool"] for r in await store.row_list("approvals", state="pending")] == ["close"]
        assert len(await store.row_list("approvals")) == 2
        await store.row_delete("approvals", "a2")
        assert await store.row_list("approvals", state="pending") == []
    finally:
        await store.close()
    reopened = open_store(url)
    try:
        row = await reopened.row_get("approvals", "a1")
        assert row is not None and row["state"] == "approved"
        assert await reopened.row_get("approvals", "a2") is None
    finally:
        await reopened.close()


def test_rows(store_url: str) -> None:
    asyncio.run(scenario(store_url))


@pytest.mark.parametrize(
    "url", ["sqlite:/tmp/x.sqlite3?sync=full", "sqlite:/tmp/x.sqlite3?synchronous=fast"]
)
def test_bad_sqlite_options_are_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        open_store(url)
