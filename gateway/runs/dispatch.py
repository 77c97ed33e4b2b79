"""What the operator asks the gateway once per fleet per poll period: ``GET /v1/fleet/dispatch``
(the operator's token only).

One answer carries all the operator acts on, bounded by what is happening, not by
how many runs were ever kept::

    {"now": epoch, "approval_ttl_s": s,
     "triggers": [{"id", "loop", "queued", "size", "payload"}, …],   queued webhook payloads
     "waiting": [{"run", "loop", "trigger", "attempts", "updated",
                  "approval": {"approval_id", "call_id", "name", "state", "decided", "expires"}}, …],
     "running": [{"run", "loop", "updated"}, …],                     runs not ended nor paused
     "loops": {<loop>: {"running", "awaiting_approval", "without_outcome", "last", "recent"}}}

``waiting`` is every run paused for an approval, with the approval's state as
the approvals ledger has it now (``pending``, ``approved``, ``executed``,
``denied``, ``expired``, ``interrupted``; ``null`` when there is no such
request): the operator resumes a run whose request was decided and ends one
whose request expired; it ends a ``running`` run whose Job is gone.
``loops`` holds the summaries
(:mod:`gateway.runs.summary`) changed since ``?since=EPOCH`` (every loop's
without it); the operator passes the ``now`` of its previous answer less a few
seconds, so an idle fleet's answer is nearly empty.

Reads: the summary rows (one list), the record of each active run, the request
of each paused run, and the queued triggers (one list).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway import triggers
from gateway.asgi import JSON, Scope, Send, send_response
from gateway.errors import BadRequestError
from gateway.runs import records, summary
from gateway.runs import validate as check
from gateway.store import Store

# Loops of one fleet, at most (a gateway config of more does not fit a ConfigMap).
MAX_LOOPS = 100_000


async def approval_state(store: Store, approval_id: str | None) -> dict[str, Any] | None:
    """The request as the ledger has it now (its expiry applied), or None."""
    if not approval_id:
        return None
    try:
        from gateway.mcp.ledger import Ledger
    except ImportError:  # a gateway without the MCP half has no approvals
        return None
    row = await Ledger(store).approval(approval_id)
    if row is None:
        return None
    return {k: row.get(k) for k in ("state", "decided", "decided_by", "expires")}


def loop_status(s: dict[str, Any]) -> dict[str, Any]:
    statuses = [a["status"] for a in s["active"].values()]
    return {
        "running": statuses.count("running"),
        "awaiting_approval": statuses.count("awaiting_approval"),
        "without_outcome": s["without_outcome"],
        "last": s["last"],
        "recent": s["recent"],
        "changed": s["changed"],
    }


async def dispatch(store: Store, since: float | None, approval_ttl_s: float) -> dict[str, Any]:
    now = time.time()
    waiting: list[dict[str, Any]] = []
    running: list[dict[str, Any]] = []
    changed: dict[str, dict[str, Any]] = {}
    for s in await summary.read_all(store, MAX_LOOPS):
        found: dict[str, dict[str, Any] | None] = {}
        for run in s["active"]:
            got = await records.get(store, run)
            found[run] = got.record if got is not None and got.record["loop"] == s["loop"] else None
        if await summary.repair(store, s, found, now):
            s, _ = await summary.get(store, s["loop"])
        if since is None or float(s["changed"]) >= since:
            changed[s["loop"]] = loop_status(s)
        for record in found.values():
            if record is not None and record["status"] == "running":
                running.append(
                    {"run": record["id"], "loop": record["loop"], "updated": record["updated"]}
                )
            if record is None or record["status"] != "awaiting_approval":
                continue
            approval = dict(record.get("approval") or {})
            approval.update(
                await approval_state(store, approval.get("approval_id"))
                or {"state": None, "decided": None, "decided_by": None, "expires": None}
            )
            waiting.append(
                {
                    "run": record["id"],
                    "loop": record["loop"],
                    "trigger": record.get("trigger"),
                    "attempts": record.get("attempts", 1),
                    "updated": record.get("updated"),
                    "approval": approval,
                }
            )
    return {
        "now": now,
        "approval_ttl_s": approval_ttl_s,
        "triggers": await triggers.queued(store),
        "waiting": waiting,
        "running": running,
        "loops": changed,
    }


async def handle(gateway: Any, scope: Scope, send: Send) -> None:
    params = check.query(scope, ("since",))
    since = None
    if params.get("since"):
        try:
            since = float(params["since"])
        except ValueError:
            raise BadRequestError(
                "invalid_query", f"since={params['since'][:40]!r}: use epoch seconds"
            ) from None
    ttl = float(gateway.holder.runtime.config.approval_ttl_s)
    answer = await dispatch(gateway.store, since, ttl)
    await send_response(send, 200, orjson.dumps(answer), JSON)
