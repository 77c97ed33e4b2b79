"""What the pages show of the gateway's store, read once per page: the window's run heads
and sums (:mod:`dashboard.sums`), a loop's or a run's records, pending approval requests.

The readers are the gateway's own (the store's sums, :mod:`gateway.runs.records` for
records and journals, the store's ``query_traces``, the ledger's table for approvals), so
the dashboard and
``fleetctl runs``/``cost`` name the same rows. Nothing is written: a pending request whose
expiry has passed is shown as expired here, and the gateway applies it on its next read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from dashboard import sums
from dashboard.sums import Sums
from gateway.mcp.ledger import APPROVALS
from gateway.runs import records
from gateway.store import Store

DAY_S = 86400.0
APPROVALS_SHOWN = 500


@dataclass
class Snapshot:
    now: float
    since: float
    runs: list[dict[str, Any]]
    """Records opened since ``since`` (their heads when read with ``sums``), newest first."""
    calls: list[dict[str, Any]]
    """Per-call traces (model and tool calls) since ``since``; none are decoded when the
    snapshot is read with ``sums``."""
    approvals: list[dict[str, Any]]
    """Requests still pending, oldest first."""
    sums: Sums | None = None
    """The store's sums of the window for the checks, the fleet page's cost columns and the
    cost page (None: summed from ``runs`` and ``calls`` when needed)."""


async def pending(store: Store, now: float) -> list[dict[str, Any]]:
    rows = await store.row_list(APPROVALS, "pending", APPROVALS_SHOWN)
    return sorted(
        (r for r in rows if float(r.get("expires") or 0) > now),
        key=lambda r: float(r.get("created") or 0),
    )


async def read(
    store: Store, days: int = 7, now: float | None = None, cost: bool = True
) -> Snapshot:
    """The window's snapshot; the cost page's sums only with ``cost``."""
    now = time.time() if now is None else now
    since = now - days * DAY_S
    # The store's sums, with the window's run heads: no call trace is decoded for the view.
    summed = await store.read_report(since, lambda r: sums.read(r, since, now, cost))
    return Snapshot(now, since, summed.heads, [], await pending(store, now), summed)


async def loop_runs(store: Store, loop: str, limit: int = 200) -> list[dict[str, Any]]:
    return await records.select(store, loop, None, None, None, limit)


async def run(
    store: Store, run_id: str
) -> tuple[dict[str, Any] | None, list[records.Logged], list[dict[str, Any]]]:
    record, logged = await records.read_run(store, run_id)
    return record, logged, await store.query_traces(run=run_id)
