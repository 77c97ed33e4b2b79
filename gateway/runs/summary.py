"""Per-loop run summaries: what the operator copies into each AgentLoop's status, kept as one
row per loop beside the run records, so a poll reads one row per loop instead of every run.

Table (``row_*`` of :class:`gateway.store.Store`)::

    fleet_loop_runs   key <loop>   {"state": "<rev>", "loop", "changed": epoch,
                                    "active": {<run>: {"status", "since"}},
                                    "last": BRIEF | null, "recent": [BRIEF, …],
                                    "without_outcome": n}

``active`` holds the loop's runs that have not ended (``running`` or
``awaiting_approval``), ``last`` the run that ended last, ``recent`` the last
:data:`RECENT` ended runs (newest first: each gets a Kubernetes Event), and
``without_outcome`` how many runs in a row ended with another outcome than
``done``. A BRIEF is ``{id, trigger, outcome, steps, cost_usd, started, ended}``.

:mod:`gateway.runs.records` calls :func:`opened` before a run's record is
created and :func:`moved` after its status changed; each is a compare-and-set
on the loop's row and applies a run's end once (a run already in ``recent`` is
not counted again). A gateway that stopped between the record's write and the
summary's leaves the summary behind the record; :func:`repair` (run on every
poll of the operator, :mod:`gateway.runs.dispatch`) finds such runs by reading
the records of the active ones and applies what was missed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from gateway.store import Store

log = logging.getLogger("fleet.gateway.runs")

LOOP_RUNS = "fleet_loop_runs"
RECENT = 10
CAS_TRIES = 64
# An active entry whose record never appeared (the gateway stopped between the two writes)
# is dropped after this long.
ORPHAN_S = 60.0


def brief(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of an ended run the status shows."""
    return {
        "id": record["id"],
        "trigger": record.get("trigger"),
        "outcome": record.get("outcome"),
        "steps": record.get("steps", 0),
        "cost_usd": record.get("cost_usd", 0.0),
        "started": record.get("started"),
        "ended": record.get("ended"),
    }


def _empty(loop: str) -> dict[str, Any]:
    return {
        "loop": loop,
        "changed": 0.0,
        "active": {},
        "last": None,
        "recent": [],
        "without_outcome": 0,
    }


def _row(summary: dict[str, Any], rev: int) -> dict[str, Any]:
    return {"state": str(rev), "data": orjson.dumps(summary).decode()}


async def get(store: Store, loop: str) -> tuple[dict[str, Any], int | None]:
    """The loop's summary and its revision (``None``: no row yet)."""
    row = await store.row_get(LOOP_RUNS, loop)
    if row is None:
        return _empty(loop), None
    value: dict[str, Any] = orjson.loads(row["data"])
    return value, int(row["state"])


async def read_all(store: Store, limit: int) -> list[dict[str, Any]]:
    """Every loop's summary (one read)."""
    rows = await store.row_list(LOOP_RUNS, limit=limit)
    return [orjson.loads(r["data"]) for r in rows]


async def _change(
    store: Store, loop: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> None:
    """Apply ``change`` (it returns the new summary, or None for no change) by
    compare-and-set; racing writers of one loop's row each get their change in."""
    for attempt in range(CAS_TRIES):
        if attempt:
            await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 10)))
        current, rev = await get(store, loop)
        new = change(current)
        if new is None:
            return
        new["changed"] = time.time()
        if rev is None:
            if await store.row_insert(LOOP_RUNS, loop, _row(new, 1)):
                return
        elif await store.row_update(LOOP_RUNS, loop, _row(new, rev + 1), if_state=str(rev)):
            return
    # The record is what counts; the summary catches up when the run next changes status.
    log.warning("run summary of loop %s: %d writers in a row changed it first", loop, CAS_TRIES)


def _with_active(summary: dict[str, Any], run: str, status: str, since: float) -> dict[str, Any]:
    return {**summary, "active": {**summary["active"], run: {"status": status, "since": since}}}


def _with_end(summary: dict[str, Any], record: dict[str, Any]) -> dict[str, Any] | None:
    run = record["id"]
    active = {k: v for k, v in summary["active"].items() if k != run}
    if any(r["id"] == run for r in summary["recent"]):
        # Counted already: only a stale active entry may be left to drop.
        return {**summary, "active": active} if active != summary["active"] else None
    ended = brief(record)
    recent = sorted(
        [ended, *summary["recent"]], key=lambda r: float(r.get("ended") or 0), reverse=True
    )[:RECENT]
    return {
        **summary,
        "active": active,
        "last": recent[0],
        "recent": recent,
        "without_outcome": 0 if ended["outcome"] == "done" else summary["without_outcome"] + 1,
    }


async def opened(store: Store, record: dict[str, Any]) -> None:
    """A run is about to be created: count it active (before its record exists, so a gateway
    that stops in between leaves an entry :func:`repair` drops, never a run nobody counts)."""

    def change(summary: dict[str, Any]) -> dict[str, Any] | None:
        if record["id"] in summary["active"]:
            return None
        return _with_active(summary, record["id"], record["status"], record["started"])

    await _change(store, record["loop"], change)


async def moved(store: Store, record: dict[str, Any]) -> None:
    """The run's status changed to ``record['status']`` (its record already says so)."""

    def change(summary: dict[str, Any]) -> dict[str, Any] | None:
        if record["status"] == "ended":
            return _with_end(summary, record)
        held = summary["active"].get(record["id"])
        if held is not None and held["status"] == record["status"]:
            return None
        return _with_active(summary, record["id"], record["status"], record["updated"])

    await _change(store, record["loop"], change)


async def repair(
    store: Store, summary: dict[str, Any], records: dict[str, dict[str, Any] | None], now: float
) -> bool:
    """Bring ``summary`` in line with the records of its active runs (``records``: run →
    record, None when there is none). True when something had to be applied."""
    fixes = False
    for run, held in summary["active"].items():
        record = records.get(run)
        if record is None:
            if now - float(held.get("since") or 0) > ORPHAN_S:
                fixes = True
                await _change(store, summary["loop"], functools.partial(_drop, run=run))
        elif record["status"] != held["status"]:
            fixes = True
            await moved(store, record)
    return fixes


def _drop(summary: dict[str, Any], run: str) -> dict[str, Any] | None:
    if run not in summary["active"]:
        return None
    return {**summary, "active": {k: v for k, v in summary["active"].items() if k != run}}
