"""The SQLite store's settlement journal: readers see what is not applied yet, a killed
owner's records are replayed exactly once, torn tails are ignored, segments rotate, and
the fold process resumes a segment where it stopped and goes when the gateway goes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.store import fold, sqlite_counters
from gateway.store.base import BudgetKey, Settlement
from gateway.store.fold import Folder
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
    while store.applied() < store._seq:
        assert time.monotonic() < deadline, "the fold process never caught up"
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
    os.kill(store.folder.pid, signal.SIGSTOP)  # the next ten stay in the journal only
    for i in range(10, 20):
        await settle(store, i)
    print("settled", flush=True)
    os.kill(store.folder.pid, signal.SIGKILL)  # the whole pod dies
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def killed(script: str, path: Path) -> str:
    """Run ``script`` (a gateway that settles, then kills itself); returns what it printed."""
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [sys.executable, "-c", script.format(root=root, path=str(path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    return proc.stdout


async def test_a_killed_owner_is_replayed_once_and_a_torn_tail_ignored(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    assert "settled" in killed(CRASH, path)
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
        # The fold process deletes closed segments once applied; only the open one stays.
        deadline = time.monotonic() + 10
        while len(segments(directory)) > 1:
            assert time.monotonic() < deadline, segments(directory)
            await asyncio.sleep(0.01)
        assert store.journal is not None and store.journal.path == segments(directory)[0][1]
        folder = store.folder
    finally:
        await store.close()
    assert folder is not None and folder.returncode == 0  # folded the rest and checkpointed
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


async def test_the_folder_resumes_a_segment_where_the_last_record_ended(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    await SqliteStore(path).close()  # the schema
    directory = path.parent / "gw.sqlite3.journal"
    frames = [
        Record(i, [[KEY.key, 1.0]], [], [], [1_800_000_000.0, "triage", "r", "llm"], b"{}").frame()
        for i in (1, 2, 3)
    ]
    first = directory / f"{1:020d}.seg"
    folder = Folder(str(path))
    try:
        first.write_bytes(frames[0] + frames[1][:10])  # the second is being written
        assert folder.step() == 1 and applied_rows(path) == (1, 1.0)
        with first.open("ab") as f:
            f.write(frames[1][10:])
        assert folder.step() == 1 and applied_rows(path) == (2, 2.0)
        assert folder.step() == 0
        # A newer segment: the first one is complete, applied, and deleted.
        (directory / f"{3:020d}.seg").write_bytes(frames[2])
        assert folder.step() == 1 and applied_rows(path) == (3, 3.0)
        assert [p.name for _, p in segments(directory)] == [f"{3:020d}.seg"]
    finally:
        folder.close()


ORPHAN = """
import asyncio, os, signal, sys
sys.path.insert(0, {root!r})
from gateway.store.sqlite import SqliteStore
from tests.gateway.test_journal import settle

async def main():
    store = SqliteStore({path!r}, apply_interval=3600)
    await settle(store, 0)
    print(store.folder.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def exited(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" in f.read()
    except FileNotFoundError:
        return True


async def test_the_fold_process_goes_when_the_gateway_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    pid = int(killed(ORPHAN, path).split()[0])
    deadline = time.monotonic() + 10
    while not exited(pid):
        assert time.monotonic() < deadline, "the fold process outlived its gateway"
        await asyncio.sleep(0.02)
    assert applied_rows(path) == (0, 0.0)  # left for the next owner's replay
    store = SqliteStore(path)
    try:
        assert len(await store.query_traces()) == 1
    finally:
        await store.close()
    assert applied_rows(path)[0] == 1


async def test_a_backlog_is_committed_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    await SqliteStore(path).close()
    directory = path.parent / "gw.sqlite3.journal"
    frames = [Record(i, [[KEY.key, 1.0]], [], [], None, b"").frame() for i in range(1, 9)]
    (directory / f"{1:020d}.seg").write_bytes(b"".join(frames[:2]))
    (directory / f"{3:020d}.seg").write_bytes(b"".join(frames[2:5]))
    (directory / f"{6:020d}.seg").write_bytes(b"".join(frames[5:]))
    folder = Folder(str(path))
    try:
        # Two records a pass, across segments, and a pass that ends where a segment does;
        # a segment goes once a pass has read it to the end and a newer one exists.
        assert [folder.step(limit=2) for _ in range(5)] == [2, 2, 2, 2, 0]
        assert folder.applied == 8 and applied_rows(path) == (0, 8.0)
        assert [p.name for _, p in segments(directory)] == [f"{6:020d}.seg"]
    finally:
        folder.close()


async def test_the_fold_process_gives_way_to_the_gateway(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gw.sqlite3")
    try:
        await settle(store, 0)
        assert store.folder is not None
        pid = store.folder.pid
        deadline = time.monotonic() + 10
        while os.sched_getscheduler(pid) != os.SCHED_IDLE:
            assert time.monotonic() < deadline, "the fold process never took idle priority"
            await asyncio.sleep(0.01)
        # Outside the gateway's process group, so a terminal's Ctrl-C does not reach it;
        # inside its session, so the kernel does not give it a fair share of its own
        # (an autogroup) beside the gateway's.
        assert os.getpgid(pid) != os.getpgid(0)
        assert os.getsid(pid) == os.getsid(0)
    finally:
        await store.close()


async def test_a_dead_fold_process_is_started_again(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    store = SqliteStore(path, apply_interval=0.0)
    try:
        await settle(store, 0)
        assert store.folder is not None
        await settle(store, 1)
        store.folder.kill()
        store.folder.wait()
        await settle(store, 2)
        store._watch_folder()  # what the store's five-second timer does
        await wait_applied(store)
        assert applied_rows(path)[0] == 3
    finally:
        await store.close()


async def test_segments_are_read_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gw.sqlite3"
    await SqliteStore(path).close()
    directory = path.parent / "gw.sqlite3.journal"
    frames = [
        Record(
            i, [[KEY.key, 1.0]], [], [], [1.0, "l", "r", "llm"], b"x" * (10 if i != 3 else 500)
        ).frame()
        for i in range(1, 6)
    ]
    monkeypatch.setattr(fold, "CHUNK", len(frames[0]) * 2)  # two small records, or not one large
    (directory / f"{1:020d}.seg").write_bytes(b"".join(frames))
    folder = Folder(str(path))
    try:
        assert [folder.step() for _ in range(4)] == [2, 1, 2, 0]
        assert applied_rows(path) == (5, 5.0)
    finally:
        folder.close()


async def test_run_counters_still_in_the_journal_are_not_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_counters, "RUN_ROWS", 100)
    store = SqliteStore(tmp_path / "gw.sqlite3", apply_interval=3600)  # folds only on close
    try:
        await store.run_step("triage", "run-1")
        await settle(store, 0)  # its step and tokens are in the journal, not the database
        for i in range(300):  # past the cap: the store drops only what the database holds
            await store.run_step("triage", f"other-{i}")
        state = await store.run_step("triage", "run-1")
        assert (state.steps, state.tokens) == (2, 30)
        assert len(store._runs) == 301
    finally:
        await store.close()
    store = SqliteStore(tmp_path / "gw.sqlite3", apply_interval=0.0)
    try:
        for i in range(150):  # each settled and folded
            await store.run_step("triage", f"done-{i}")
            await settle(store, i)
        await wait_applied(store)
        for i in range(400):  # past the cap again
            await store.run_step("triage", f"new-{i}")
        assert not any(run.startswith("done-") or run == "run-1" for _, run in store._runs)
        state = await store.run_step("triage", "run-1")  # read back whole from the database
        assert (state.steps, state.tokens) == (3, 30 + 150 * 30)
    finally:
        await store.close()
