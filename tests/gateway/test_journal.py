"""The SQLite store's settlement journal: readers see what is not applied yet, a killed
owner's records are replayed exactly once, torn tails are ignored, segments rotate."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from gateway.store.base import BudgetKey, Settlement
from gateway.store.journal import Record, segments
from gateway.store.sqlite import SqliteStore

KEY = BudgetKey("loop:triage:day:2026-11-25", 100.0, 0.0)
COST = 0.0125


async def settle(store: SqliteStore, i: int) -> None:
    reservation = await store.reserve([KEY], 0.5)
    assert not hasattr(reservation, "budget"), reservation
    await store.settle(
        Settlement(
            reservation,  # type: ignore[arg-type]
            COST,
            "triage",
            29_000_000,
            30,
            "run-1",
            30,
            {"id": f"t{i}", "ts": 1_800_000_000.0 + i, "loop": "triage", "run": "run-1"},
        )
    )


def applied_rows(path: Path) -> tuple[int, float]:
    """What the database file itself holds, without the journal."""
    db = sqlite3.connect(path)
    try:
        traces = db.execute("SELECT count(*) FROM traces").fetchone()[0]
        spend = db.execute("SELECT coalesce(sum(usd), 0) FROM spend").fetchone()[0]
        return int(traces), float(spend)
    finally:
        db.close()


async def wait_applied(store: SqliteStore) -> None:
    deadline = time.monotonic() + 10
    while store._applied < store._seq:
        assert time.monotonic() < deadline, "the journal thread never caught up"
        await asyncio.sleep(0.01)


async def test_readers_add_the_records_not_applied_yet(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    owner = SqliteStore(path, apply_interval=3600)
    for i in range(3):
        await settle(owner, i)
    reader = SqliteStore(path)
    try:
        assert owner.journal is not None and reader.journal is None
        assert applied_rows(path) == (0, 0.0)
        assert abs(await reader.spent(KEY.key) - 3 * COST) < 1e-9
        assert [t["id"] for t in await reader.query_traces(run="run-1")] == ["t0", "t1", "t2"]
        assert await reader.query_traces(run="other") == []
        assert [t["id"] for t in await reader.query_traces(since=1_800_000_001.5)] == ["t2"]
        assert [t["id"] for t in await owner.query_traces(limit=2)] == ["t0", "t1"]
    finally:
        await owner.close()
        await reader.close()
    traces, spend = applied_rows(path)
    assert traces == 3 and abs(spend - 3 * COST) < 1e-9
    assert segments(path.parent / "gw.sqlite3.journal") == []


CRASH = """
import asyncio, os, signal, sys
sys.path.insert(0, {root!r})
from gateway.store.sqlite import SqliteStore
from tests.gateway.test_journal import settle, wait_applied

async def main():
    store = SqliteStore({path!r}, apply_interval=0.0)
    for i in range(10):
        await settle(store, i)
    await wait_applied(store)
    store.apply_interval = 3600  # the next ten stay in the journal only
    for i in range(10, 20):
        await settle(store, i)
    print("settled", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_a_killed_owner_is_replayed_once_and_a_torn_tail_ignored(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", CRASH.format(root=root, path=str(path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9 and "settled" in proc.stdout, proc.stderr
    traces, spend = applied_rows(path)
    assert traces == 10 and abs(spend - 10 * COST) < 1e-9
    found = segments(path.parent / "gw.sqlite3.journal")
    assert len(found) == 1
    torn = Record(21, [[KEY.key, 5.0]], [], [], None, b"").frame()
    with found[0][1].open("ab") as f:
        f.write(torn[: len(torn) // 2])
    for n in (20, 21):  # the second open must not apply anything twice
        store = SqliteStore(path)
        try:
            assert abs(await store.spent(KEY.key) - n * COST) < 1e-9
            assert len(await store.query_traces()) == n
            assert store._seq == n
            await settle(store, n)
        finally:
            await store.close()
        assert segments(path.parent / "gw.sqlite3.journal") == []
    traces, spend = applied_rows(path)
    assert traces == 22 and abs(spend - 22 * COST) < 1e-9


async def test_segments_rotate_and_applied_ones_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    store = SqliteStore(path, apply_interval=0.0, segment_bytes=2048)
    directory = path.parent / "gw.sqlite3.journal"
    try:
        for i in range(60):
            await settle(store, i)
        await wait_applied(store)
        # The journal thread deletes closed segments once applied; only the open one stays.
        deadline = time.monotonic() + 10
        while len(segments(directory)) > 1:
            assert time.monotonic() < deadline, segments(directory)
            await asyncio.sleep(0.01)
        assert store.journal is not None and store.journal.path == segments(directory)[0][1]
    finally:
        await store.close()
    assert segments(directory) == []
    traces, spend = applied_rows(path)
    assert traces == 60 and abs(spend - 60 * COST) < 1e-9


async def test_full_mode_syncs_groups_of_settlements(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    store = SqliteStore(path, "full", apply_interval=3600)
    try:
        await asyncio.gather(*(settle(store, i) for i in range(40)))
        assert abs(await store.spent(KEY.key) - 40 * COST) < 1e-9
        assert len(await store.query_traces()) == 40
    finally:
        await store.close()
    assert applied_rows(path)[0] == 40
