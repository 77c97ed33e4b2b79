"""Run records and their journals as rows of the gateway's store: the durable half of
the runs API, shared with ``fleetctl runs show`` so the two name the same tables.

Tables (``row_*`` of :class:`gateway.store.Store`; Redis hashes ``fleetgw:rows:<table>``)::

    fleet_runs            key <run>             {"state": "<rev>", "data": "<record JSON>"}
    fleet_journal:<run>   key <seq, 12 digits>  {"seq": n, "at": epoch, "entry": "<entry JSON>"}

Run ids are fleet-wide (a trace, ``fleetctl runs show`` and a Job's pod name name a
run by its id alone), so a record carries its loop and every access checks it.
A record is rewritten by compare-and-set on its revision (``state``): of two
writers that read the same revision one wins, the other reads again and
re-applies its change, so no attempt count or counter is lost. A journal entry
is inserted once under its seq (insert-if-absent: exactly one of N racing
writers stores it), after checking that ``seq - 1`` is stored, so a journal is
always 1..n without holes. Entries and records are kept as JSON text inside the
row, canonical for entries: a retry compares as a string, a read is spliced
into the response without decoding, and no store re-encodes what the harness wrote.

A run's status changes (opened, paused, ended) are also applied to its loop's
summary row (:mod:`gateway.runs.summary`), which the operator polls.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import NotFoundError
from gateway.runs import summary
from gateway.runs.validate import ConflictError
from gateway.store import Store

RUNS = "fleet_runs"
# Rewrites of a record before a writer gives up on a run other writers keep changing: each
# round of racing writers has one winner, so this many writers at once all get through.
CAS_TRIES = 64
# Records read from the store at a time while listing; the event loop gets a turn between.
PAGE = 200
# More entries than any run holds: a journal is read whole.
JOURNAL_READ = 1_000_000_000


def journal_table(run: str) -> str:
    return f"fleet_journal:{run}"


def seq_key(seq: int) -> str:
    return f"{seq:012d}"


@dataclass(frozen=True)
class Stored:
    """A record as read, with the revision a rewrite must still find."""

    record: dict[str, Any]
    rev: int


@dataclass(frozen=True)
class Logged:
    """A journal entry as stored: its seq, when the gateway acknowledged it, its JSON."""

    seq: int
    at: float
    text: str

    def entry(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.text)
        return value


def new_record(run: str, loop: str, trigger: str, value: Any, now: float) -> dict[str, Any]:
    return {
        "id": run,
        "loop": loop,
        "trigger": trigger,
        "input": value,
        "status": "running",
        "outcome": None,
        "steps": 0,
        "tokens": 0,
        "cost_usd": 0.0,
        "attempts": 1,
        "checker_rounds": 0,
        "active_s": 0.0,
        "approval": None,
        "summary": None,
        "detail": None,
        "started": now,
        "updated": now,
        "ended": None,
    }


def _row(record: dict[str, Any], rev: int) -> dict[str, Any]:
    return {"state": str(rev), "data": orjson.dumps(record).decode()}


def _stored(row: dict[str, Any]) -> Stored:
    return Stored(orjson.loads(row["data"]), int(row["state"]))


def not_found(run: str, loop: str | None) -> NotFoundError:
    # The same answer whether the run is missing or another loop's: an id never leaks.
    whose = f" of loop '{loop}'" if loop else ""
    return NotFoundError(
        "run_not_found",
        f"no run '{run}'{whose}: open it first with PUT /v1/fleet/runs/{run} "
        "(the loop's own token), or check the run id",
    )


def _ended(run: str) -> ConflictError:
    return ConflictError(
        "run_ended",
        f"run '{run}' has ended and takes no more changes: start a new run (a new run id) to go on",
    )


def _busy(run: str) -> ConflictError:
    return ConflictError(
        "run_busy",
        f"run '{run}' was changed by another writer {CAS_TRIES} times in a row: "
        "only one harness should write a run; retry once it has stopped",
    )


async def _backoff(attempt: int) -> None:
    # Losers of a compare-and-set spread out, so the next round is not the same race.
    if attempt:
        await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 10)))


async def get(store: Store, run: str) -> Stored | None:
    row = await store.row_get(RUNS, run)
    return _stored(row) if row else None


async def owned(store: Store, run: str, loop: str | None) -> Stored:
    """The record of ``run`` if ``loop`` may see it (``None``: any loop's), else 404."""
    found = await get(store, run)
    if found is None or (loop is not None and found.record["loop"] != loop):
        raise not_found(run, loop)
    return found


async def open_run(
    store: Store, run: str, loop: str, trigger: str, value: Any
) -> tuple[dict[str, Any], bool]:
    """Create the run, or count one more attempt of it: ``(record, created)``. An ended
    run is returned as it is: a Job retried after the end starts nothing."""
    for attempt in range(CAS_TRIES):
        await _backoff(attempt)
        now = time.time()
        found = await get(store, run)
        if found is None:
            record = new_record(run, loop, trigger, value, now)
            await summary.opened(store, record)
            if await store.row_insert(RUNS, run, _row(record, 1)):
                return record, True
            continue  # opened by a racing attempt: count this one on top
        if found.record["loop"] != loop:
            # A PUT cannot hide that the id is taken, but it tells nothing else about it.
            raise NotFoundError(
                "run_not_found",
                f"no run '{run}' of loop '{loop}', and the id cannot be opened: run ids are "
                "fleet-wide; use another one (the Job's pod name is unique)",
            )
        if found.record["status"] == "ended":
            return found.record, False
        record = {**found.record, "attempts": found.record["attempts"] + 1, "updated": now}
        if await store.row_update(RUNS, run, _row(record, found.rev + 1), if_state=str(found.rev)):
            return record, False
    raise _busy(run)


async def update(store: Store, found: Stored, fields: dict[str, Any]) -> dict[str, Any]:
    """Apply a validated patch to the record; a patch that changes nothing writes nothing
    (so a retried last patch of an ended run is answered, not refused)."""
    run = found.record["id"]
    for attempt in range(CAS_TRIES):
        if attempt:
            await _backoff(attempt)
            again = await get(store, run)
            if again is None:
                raise not_found(run, found.record["loop"])
            found = again
        record = found.record
        changed = {**record, **fields}
        if changed == record:
            return record
        if record["status"] == "ended":
            raise _ended(run)
        now = time.time()
        if changed["status"] == "ended" and "ended" not in fields and record["ended"] is None:
            changed["ended"] = now
        changed["updated"] = now
        if await store.row_update(RUNS, run, _row(changed, found.rev + 1), if_state=str(found.rev)):
            if changed["status"] != record["status"]:
                await summary.moved(store, changed)
            return changed
    raise _busy(run)


async def _has(store: Store, run: str, seq: int) -> bool:
    return seq == 0 or await store.row_get(journal_table(run), seq_key(seq)) is not None


async def last_seq(store: Store, run: str, present: int = 0, absent: int | None = None) -> int:
    """The journal's last seq, by search: a journal is 1..n without holes, so ``n`` is
    found in a logarithmic number of reads between a seq known stored and one known not."""
    if absent is None:
        step = 1
        while await _has(store, run, present + step):
            present += step
            step *= 2
        absent = present + step
    while absent - present > 1:
        mid = (present + absent) // 2
        if await _has(store, run, mid):
            present = mid
        else:
            absent = mid
    return present


async def append(
    store: Store, found: Stored, seq: int, text: bytes, fields: dict[str, Any] | None
) -> tuple[bool, dict[str, Any]]:
    """Store entry ``seq`` once; ``(created, record)``. The same entry again is a retry
    (``created`` False); another entry at a taken seq, or a seq after a missing one, is
    a 409 naming the next seq. The record patch is applied once the entry is stored.

    Writes: the entry, and the record when there is a patch. An entry racing another
    writer's end of the run can land after the end; a run is written by one harness
    process at a time (its Job runs one pod), so that takes two harnesses on one run."""
    run = found.record["id"]
    table = journal_table(run)
    entry = text.decode()
    if found.record["status"] == "ended":
        held = await store.row_get(table, seq_key(seq))
        if held is not None and held["entry"] == entry:
            return False, found.record
        raise _ended(run)
    if seq > 1 and await store.row_get(table, seq_key(seq - 1)) is None:
        n = await last_seq(store, run, absent=seq - 1)
        raise ConflictError(
            "journal_gap",
            f"run '{run}' has no journal entry {seq - 1}, so {seq} cannot follow it: "
            f"append entries in order; the next one is {n + 1}",
            extra={"next_seq": n + 1},
        )
    created = await store.row_insert(
        table, seq_key(seq), {"seq": seq, "at": time.time(), "entry": entry}
    )
    if not created:
        held = await store.row_get(table, seq_key(seq))
        if held is None or held["entry"] != entry:
            n = await last_seq(store, run, present=seq)
            raise ConflictError(
                "journal_conflict",
                f"run '{run}' already holds a different journal entry {seq}: read the journal "
                f"(GET /v1/fleet/runs/{run}?after={seq - 1}) and go on from there; the next "
                f"seq is {n + 1}",
                extra={"next_seq": n + 1},
            )
    record = await update(store, found, fields) if fields else found.record
    return created, record


async def journal(store: Store, run: str, after: int = 0) -> list[Logged]:
    """The run's entries after seq ``after``, in order."""
    rows = await store.row_list(journal_table(run), limit=JOURNAL_READ)
    logged = [Logged(int(r["seq"]), float(r["at"]), r["entry"]) for r in rows if r["seq"] > after]
    logged.sort(key=lambda e: e.seq)  # insertion order already, unless the clock stepped back
    return logged


async def read_run(store: Store, run: str) -> tuple[dict[str, Any] | None, list[Logged]]:
    """The record (None when there is none) and the whole journal of ``run``."""
    found = await get(store, run)
    return (found.record if found else None), await journal(store, run)


async def page(store: Store, since: float | None, offset: int, size: int) -> list[dict[str, Any]]:
    """``size`` records from ``offset`` of every loop's runs, newest first."""
    rows = await store.row_list(RUNS, limit=size, newest_first=True, since=since, offset=offset)
    return [_stored(r).record for r in rows]


async def select(
    store: Store,
    loop: str | None,
    status: str | None,
    outcome: str | None,
    since: float | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` records, newest first, of ``loop`` (every loop's: None) with that
    ``status`` and ``outcome``, opened at or after ``since`` (``GET /v1/fleet/runs`` and
    ``fleetctl runs list --store``)."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    offset = 0
    while len(found) < limit:
        size = limit if loop is None and status is None and outcome is None else PAGE
        batch = await page(store, since, offset, size)
        offset += len(batch)
        for record in batch:
            if record["id"] in seen:  # a run opened while paging shifts the pages by one
                continue
            seen.add(record["id"])
            if (
                (loop is None or record["loop"] == loop)
                and (status is None or record["status"] == status)
                and (outcome is None or record["outcome"] == outcome)
            ):
                found.append(record)
        if len(batch) < size:
            break
        await asyncio.sleep(0)
    return found[:limit]
