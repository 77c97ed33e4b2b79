"""Webhook triggers: ``POST /v1/fleet/loops/<loop>/trigger`` queues a payload durably, the
operator takes each queued payload once and starts a Job for it.

Who: the loop's trigger token (minted by the operator into the Secret
``<loop>-trigger-token``; its hash is ``loops.<loop>.trigger.token_sha256`` in the
gateway config) queues for that loop and does nothing else: it is no identity for
models, tools or the runs API, and a loop's own token cannot trigger. The
operator's token (``operator_sha256``) takes queued triggers.

Tables (``row_*`` of :class:`gateway.store.Store`)::

    fleet_triggers               key <trigger id>  {"state": "queued" | "taken", "id", "loop",
                                                    "queued", "size", "payload": JSON text,
                                                    "slot", "job", "taken"}
    fleet_trigger_slots:<loop>   key <slot, 0 … max_queue-1>   {"trigger", "at"}

A payload holds a slot of its loop's queue until it is taken: a slot is claimed
with insert-if-absent before the trigger is stored, so a loop never holds more
than ``max_queue`` queued payloads however many POSTs race (429 past it). The
take is a compare-and-set ``queued`` → ``taken`` (one taker wins; the payload is
dropped from the row, the slot freed). A slot whose trigger is gone or taken (a
gateway that stopped between two writes) is freed when the queue looks full.

Answers: ``202 {"trigger": {"id", "loop", "state": "queued", "queued", "size"},
"queue": n}``; ``400 invalid_json`` (the body is not JSON), ``401`` (no or unknown
trigger token), ``403 not_your_loop``, ``404 no_webhook`` (the loop takes no
webhook), ``413 too_large`` (over ``max_payload``), ``429 queue_full``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.asgi import (
    JSON,
    Receive,
    Scope,
    Send,
    header,
    read_bounded,
    send_response,
    text_value,
)
from gateway.auth import MAX_AUTHORIZATION
from gateway.config import Runtime
from gateway.errors import AuthError, BadRequestError, ForbiddenError, LimitError, NotFoundError
from gateway.runs.validate import ConflictError, TooLargeError, size
from gateway.store import Store

TRIGGERS = "fleet_triggers"
# A slot whose trigger row is missing for this long is a leftover of a stopped gateway.
STALE_SLOT_S = 60.0
# Queued triggers handed to the operator per poll, at most, and their payload bytes.
POLL_COUNT = 500
POLL_BYTES = 8 * 1024 * 1024


def slots_table(loop: str) -> str:
    return f"fleet_trigger_slots:{loop}"


def _slot_key(i: int) -> str:
    return f"{i:04d}"


@dataclass(frozen=True)
class Index:
    """The trigger and operator token hashes of one config, for lookups."""

    triggers: dict[str, str]  # token hash → loop
    operator: frozenset[str]


_memo: list[Any] = [None, None]
_swept: dict[str, float] = {}


def index(rt: Runtime) -> Index:
    """The token index of ``rt`` (rebuilt when the config changes)."""
    if _memo[0] is not rt:
        triggers = {
            h: name
            for name, loop in rt.config.loops.items()
            if loop.trigger is not None
            for h in loop.trigger.token_sha256
        }
        _memo[1] = Index(triggers, frozenset(rt.config.operator_sha256))
        _memo[0] = rt
    found: Index = _memo[1]
    return found


def bearer(scope: Scope) -> str | None:
    value = text_value("authorization", header(scope, b"authorization"), MAX_AUTHORIZATION) or ""
    return value[7:].strip() or None if value.lower().startswith("bearer ") else None


def is_operator(scope: Scope, rt: Runtime) -> bool:
    token = bearer(scope)
    return bool(token) and _sha(token or "") in index(rt).operator


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _payload(scope: Scope, receive: Receive, limit: int, loop: str) -> bytes:
    refusal = TooLargeError(
        "too_large",
        f"the payload is over {size(limit)}, the most loop '{loop}' takes "
        "(trigger.webhook.max_payload): send less, or a reference to where the data lives",
        extra={"limit": limit},
    )
    return await read_bounded(
        scope, receive, limit, refusal, "the client went away before sending the payload"
    )


async def handle(gateway: Any, scope: Scope, receive: Receive, send: Send, loop: str) -> None:
    """``POST /v1/fleet/loops/<loop>/trigger``."""
    rt: Runtime = gateway.holder.runtime
    token = bearer(scope)
    if token is None:
        raise AuthError(
            "missing_token",
            "no bearer token: send the loop's trigger token (Secret <loop>-trigger-token, key "
            "token) as 'Authorization: Bearer <token>'",
        )
    owner = index(rt).triggers.get(_sha(token))
    if owner is None:
        raise AuthError(
            "invalid_token",
            "unknown or revoked trigger token: this route takes the loop's trigger token from "
            "the Secret <loop>-trigger-token (a loop's gateway token cannot trigger)",
        )
    if owner != loop:
        raise ForbiddenError(
            "not_your_loop",
            f"this trigger token starts runs of loop '{owner}' only, not of '{loop}'",
        )
    settings = rt.config.loops[loop].trigger
    if settings is None:  # the index only holds webhook loops; kept for the type checker
        raise NotFoundError("no_webhook", f"loop '{loop}' takes no webhook triggers")
    raw = await _payload(scope, receive, settings.max_payload, loop)
    try:
        value = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(
            "invalid_json", f"the payload is not JSON ({exc}): send a JSON document"
        ) from exc
    text = orjson.dumps(value).decode()
    trigger, queued = await enqueue(gateway.store, loop, text, settings.max_queue)
    await send_response(
        send,
        202,
        orjson.dumps({"trigger": public(trigger), "queue": queued}),
        JSON,
    )


def public(trigger: dict[str, Any]) -> dict[str, Any]:
    return {k: trigger.get(k) for k in ("id", "loop", "state", "queued", "size", "job", "taken")}


async def enqueue(
    store: Store, loop: str, payload: str, max_queue: int
) -> tuple[dict[str, Any], int]:
    """Store one payload for ``loop`` unless its queue is full; (the trigger, queued count)."""
    now = time.time()
    trigger_id = f"tg_{int(now * 1000):013d}{secrets.token_hex(4)}"
    table = slots_table(loop)
    for sweep in (False, True):
        held = await store.row_list(table, limit=max_queue + 1)
        taken = {r["slot"] for r in held}
        if sweep and len(taken) >= max_queue and now - _swept.get(loop, 0.0) > STALE_SLOT_S:
            # At most once a minute per loop: a flood of POSTs on a full queue costs no reads.
            _swept[loop] = now
            taken -= await _free_stale(store, loop, held, now)
        for i in range(max_queue):
            key = _slot_key(i)
            if key in taken:
                continue
            if await store.row_insert(table, key, {"slot": key, "trigger": trigger_id, "at": now}):
                trigger = {
                    "state": "queued",
                    "id": trigger_id,
                    "loop": loop,
                    "queued": now,
                    "size": len(payload),
                    "payload": payload,
                    "slot": key,
                    "job": None,
                    "taken": None,
                }
                await store.row_insert(TRIGGERS, trigger_id, trigger)
                return trigger, len(taken) + 1
            taken.add(key)  # a racing POST got it first
    raise LimitError(
        "queue_full",
        f"loop '{loop}' has {max_queue} payloads waiting for a run (trigger.webhook.max_queue): "
        "retry later; the operator starts one Job per payload as its concurrency policy allows",
        headers={"retry-after": "30"},
        extra={"limit": max_queue},
    )


async def _free_stale(store: Store, loop: str, held: list[dict[str, Any]], now: float) -> set[str]:
    freed: set[str] = set()
    for slot in held:
        row = await store.row_get(TRIGGERS, slot["trigger"])
        stale = (row is None and now - float(slot.get("at") or 0) > STALE_SLOT_S) or (
            row is not None and row["state"] != "queued"
        )
        if stale:
            await store.row_delete(slots_table(loop), slot["slot"])
            freed.add(slot["slot"])
    return freed


async def queued(store: Store) -> list[dict[str, Any]]:
    """The queued triggers, oldest first, payloads included, up to :data:`POLL_COUNT` and
    :data:`POLL_BYTES` (the rest in the next poll)."""
    out: list[dict[str, Any]] = []
    used = 0
    for row in await store.row_list(TRIGGERS, state="queued", limit=POLL_COUNT):
        used += int(row.get("size") or 0)
        if out and used > POLL_BYTES:
            break
        out.append({**public(row), "payload": row["payload"]})
    return out


async def take(store: Store, trigger_id: str, job: str) -> dict[str, Any]:
    """Mark a queued trigger taken for ``job``, once: a second take is a 409 naming the Job."""
    row = await store.row_get(TRIGGERS, trigger_id)
    if row is None:
        raise NotFoundError("trigger_not_found", f"no trigger '{trigger_id}'")
    if row["state"] == "queued":
        done = {**row, "state": "taken", "job": job, "taken": time.time(), "payload": None}
        if await store.row_update(TRIGGERS, trigger_id, done, if_state="queued"):
            await store.row_delete(slots_table(row["loop"]), row["slot"])
            return public(done)
        row = await store.row_get(TRIGGERS, trigger_id) or row
    raise ConflictError(
        "trigger_taken",
        f"trigger '{trigger_id}' was taken already, by Job {row.get('job')}",
        extra={"job": row.get("job")},
    )
